import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createProgress, renderProgressLine } from '../../src/cli/progress.js';

function fakeStream(isTTY: boolean) {
  return {
    isTTY,
    columns: 100,
    writes: [] as string[],
    write(text: string) {
      this.writes.push(text);
    },
  };
}

describe('createProgress', () => {
  it('writes nothing at all when the stream is not a terminal', () => {
    const stream = fakeStream(false);
    const progress = createProgress({ label: 'verify', total: 10, stream });
    for (let i = 0; i < 10; i++) progress.tick();
    progress.done();
    assert.deepEqual(stream.writes, []);
  });

  it('redraws at most about ten times a second, and once more when done', () => {
    const stream = fakeStream(true);
    let clock = 0;
    const progress = createProgress({ label: 'verify', total: 1000, stream, now: () => clock });
    for (let i = 0; i < 1000; i++) {
      clock += 1; // 1000 ticks over one second
      progress.tick();
    }
    progress.done();
    progress.done();
    const draws = stream.writes.filter((w) => w.startsWith('\r'));
    assert.ok(draws.length >= 10 && draws.length <= 12, `${draws.length} redraws`);
    assert.match(draws.at(-1) ?? '', /1,000\/1,000 100%/);
    assert.equal(stream.writes.at(-1), '\n');
    assert.equal(stream.writes.filter((w) => w === '\n').length, 1);
  });

  it('draws at 80 columns on a terminal that reports its width as 0 (an unsized pty), not an empty line', () => {
    const stream = { ...fakeStream(true), columns: 0 };
    const progress = createProgress({ label: 'scan', stream, now: () => 1000 });
    progress.tick(1234);
    progress.done();
    assert.match(stream.writes[0] ?? '', /^\rscan 1,234 [\d,]+\/s/);
    assert.ok(stream.writes[0]!.endsWith('\u001b[K'));
  });
});

describe('renderProgressLine', () => {
  it('shows done/total, percentage, rate and ETA', () => {
    const line = renderProgressLine({ label: 'verify', count: 5000, total: 20000, elapsedSeconds: 2, columns: 100 });
    assert.match(line, /^verify \[#+-+\] 5,000\/20,000 25% 2,500\/s ETA 6s$/);
  });

  it('shows a count and rate when the total is unknown', () => {
    assert.equal(renderProgressLine({ label: 'append', count: 300, total: undefined, elapsedSeconds: 3, columns: 80 }), 'append 300 100/s');
  });

  it('never exceeds the terminal width', () => {
    const line = renderProgressLine({ label: 'a-very-long-label', count: 1, total: 3, elapsedSeconds: 1, columns: 20 });
    assert.ok(line.length < 20, line);
  });
});
