/**
 * `append --jsonl -` on a pipe streams: each line's result is printed once it is durable, while
 * stdin is still open; a SIGKILL loses only lines not yet reported; a bad line stops the stream
 * with the lines before it committed. The real CLI in a child process, fed through a pipe.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { openLedger } from '../../src/ledger/ledger.js';
import { BACKENDS } from '../helpers/databases.js';
import { startSealtrail } from '../helpers/cli.js';

interface Streamed {
  child: ChildProcessWithoutNullStreams;
  /** Resolves with the JSON documents printed so far once there are at least `n`. */
  results(n: number): Promise<Array<{ seq?: number; error?: { code: string; message: string; details?: { line?: number } } }>>;
  exit: Promise<{ status: number | null; signal: NodeJS.Signals | null; stderr: string }>;
}

function streamAppend(db: string): Streamed {
  const child = startSealtrail(['append', '--jsonl', '-', '--db', db, '--json']);
  let stdout = '';
  let stderr = '';
  const waiters: Array<() => void> = [];
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    for (const w of waiters.splice(0)) w();
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  // A write racing the child's death (the SIGKILL case) fails with EPIPE; that is expected.
  child.stdin.on('error', () => {});
  const exit = new Promise<{ status: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) =>
    child.on('close', (status, signal) => {
      for (const w of waiters.splice(0)) w();
      resolve({ status, signal, stderr });
    }),
  );
  let exited = false;
  void exit.then(() => (exited = true));
  const docs = () =>
    stdout
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as { seq?: number });
  const results = async (n: number) => {
    while (docs().length < n) {
      if (exited) throw new Error(`the child exited after ${docs().length} of ${n} results: ${stderr}`);
      await new Promise<void>((resolve) => waiters.push(resolve));
    }
    return docs();
  };
  return { child, results, exit };
}

const line = (i: number) => `{"kind":"stream","pk":"s${i}","payload":{"i":${i}}}\n`;

async function ledgerPks(url: string): Promise<{ pks: string[]; ok: boolean }> {
  const ledger = await openLedger({ url });
  try {
    const pks: string[] = [];
    for await (const e of ledger.entries()) pks.push(e.pk);
    return { pks, ok: (await ledger.verify()).ok };
  } finally {
    await ledger.close();
  }
}

for (const backend of BACKENDS) {
  describe(`append --jsonl - streams on ${backend.name}`, () => {
    it('prints each line’s result before stdin closes, one line at a time', async () => {
      const db = await backend.freshUrl();
      const run = streamAppend(db);
      for (let i = 1; i <= 5; i++) {
        run.child.stdin.write(line(i));
        // The next line is only written once this one is reported: a reader that waited for the
        // end of input (or for a full chunk) would never get here.
        const docs = await run.results(i);
        assert.equal(docs[i - 1]!.seq, i);
      }
      run.child.stdin.end();
      const { status } = await run.exit;
      assert.equal(status, 0);
      assert.deepEqual(await ledgerPks(db), { pks: ['s1', 's2', 's3', 's4', 's5'], ok: true });
    });

    it('a SIGKILL after N reported lines keeps at least those N, in order, and the ledger verifies', async () => {
      const db = await backend.freshUrl();
      const run = streamAppend(db);
      const reported = 4;
      for (let i = 1; i <= reported; i++) {
        run.child.stdin.write(line(i));
        await run.results(i);
      }
      // A line in flight when the kill lands may or may not make it; the reported ones must.
      run.child.stdin.write(line(reported + 1));
      run.child.kill('SIGKILL');
      const { signal } = await run.exit;
      assert.equal(signal, 'SIGKILL');
      const { pks, ok } = await ledgerPks(db);
      assert.deepEqual(pks.slice(0, reported), ['s1', 's2', 's3', 's4']);
      assert.ok(pks.length <= reported + 1, pks.join(','));
      assert.equal(ok, true);
    });

    it('a bad line stops the stream: the lines before it stay committed and reported, it and the rest are not appended', async () => {
      const db = await backend.freshUrl();
      const run = streamAppend(db);
      run.child.stdin.write(line(1) + line(2));
      await run.results(2);
      run.child.stdin.write(`{"kind":"stream","pk":"s3","payload":{\n${line(4)}`);
      run.child.stdin.end();
      const { status, stderr } = await run.exit;
      assert.equal(status, 2);
      assert.match(stderr, /line 3: .*\[invalid_json\]/);
      const docs = await run.results(3);
      assert.deepEqual(
        docs.map((d) => d.seq ?? d.error?.code),
        [1, 2, 'invalid_json'],
      );
      assert.equal(docs[2]!.error!.details!.line, 3);
      assert.deepEqual(await ledgerPks(db), { pks: ['s1', 's2'], ok: true });
    });
  });
}
