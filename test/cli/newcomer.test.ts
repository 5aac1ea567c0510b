/**
 * What a newcomer hit, tried the way a new user would: the real CLI in a child process, on real files.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openLedger } from '../../src/ledger/ledger.js';
import { stdinPayloadHint } from '../../src/cli/commands/ledger.js';
import { tamper } from '../../src/ledger/tamper-simulator.js';
import { errorCode as errorCodeOf, sealtrail as run, type RunResult } from '../helpers/cli.js';

/** Runs the real CLI in `cwd` with only the environment given (plus PATH); `input` goes to stdin. */
const sealtrail = (cwd: string, args: string[], options: { env?: Record<string, string>; input?: string } = {}): Promise<RunResult> => run(args, { cwd, ...options });

const roots: string[] = [];
function scratch(): string {
  const dir = mkdtempSync(join(tmpdir(), 'sealtrail-newcomer-'));
  roots.push(dir);
  return dir;
}
after(() => {
  for (const dir of roots) rmSync(dir, { recursive: true, force: true });
});

const errorCode = (result: RunResult): string | undefined => errorCodeOf(result.stdout);

describe('sealtrail demo --dir', { concurrency: 2 }, () => {
  it('refuses a non-empty directory it did not make, and deletes nothing in it', async () => {
    const cwd = scratch();
    writeFileSync(join(cwd, 'precious.txt'), 'keep me');
    mkdirSync(join(cwd, 'sub'));
    writeFileSync(join(cwd, 'sub', 'also.txt'), 'keep me too');
    const result = await sealtrail(cwd, ['demo', '--dir', '.', '--events', '20', '--json']);
    assert.equal(result.status, 2, result.stderr);
    assert.equal(errorCode(result), 'invalid_argument');
    assert.match(result.stderr, /not made by sealtrail demo/);
    assert.equal(readFileSync(join(cwd, 'precious.txt'), 'utf8'), 'keep me');
    assert.equal(readFileSync(join(cwd, 'sub', 'also.txt'), 'utf8'), 'keep me too');
  });

  it('uses a new directory, and replaces it on the next run because it holds the marker', async () => {
    const cwd = scratch();
    const first = await sealtrail(cwd, ['demo', '--dir', 'out', '--events', '20', '--json']);
    assert.equal(first.status, 0, first.stderr);
    assert.ok(existsSync(join(cwd, 'out', '.sealtrail-demo')));
    writeFileSync(join(cwd, 'out', 'leftover.txt'), 'x');
    const second = await sealtrail(cwd, ['demo', '--dir', 'out', '--events', '20', '--json']);
    assert.equal(second.status, 0, second.stderr);
    assert.equal(existsSync(join(cwd, 'out', 'leftover.txt')), false);
    assert.ok(existsSync(join(cwd, 'out', 'ledger.db')));
  });
});

describe('human output escapes what came from the database', () => {
  it('a pk holding terminal escapes cannot repaint INTEGRITY FAILURE as ok', async () => {
    const cwd = scratch();
    const db = join(cwd, 'ledger.db');
    const evil = '\u001b[2K\r\u001b[32mok: 2 entries verified\u001b[0m\u202e';
    assert.equal((await sealtrail(cwd, ['init', '--db', db])).status, 0);
    assert.equal((await sealtrail(cwd, ['append', 'deploy', evil, '{"n":1}', '--db', db])).status, 0);
    assert.equal((await sealtrail(cwd, ['append', 'deploy', 'two', '{"n":2}', '--db', db])).status, 0);
    const ledger = await openLedger({ url: db });
    try {
      await tamper(ledger.store, { type: 'edit_payload', seq: 1, payload: { n: 9 } });
    } finally {
      await ledger.close();
    }
    const human = await sealtrail(cwd, ['verify', '--db', db]);
    assert.equal(human.status, 1);
    for (const c of ['\u001b', '\r', '\u202e']) assert.equal(human.stdout.includes(c), false);
    assert.match(human.stdout, /^INTEGRITY FAILURE at seq 1 \(deploy\/\\x1b\[2K\\x0d\\x1b\[32mok: 2 entries verified\\x1b\[0m\\u202e\)/);
    const json = await sealtrail(cwd, ['verify', '--db', db, '--json']);
    assert.equal((JSON.parse(json.stdout) as { divergence: { pk: string } }).divergence.pk, evil);
  });
});

describe('prove, keys and help', { concurrency: 2 }, () => {
  it('prove inclusion beyond the ledger is out_of_range naming the seq and size', async () => {
    const cwd = scratch();
    const db = join(cwd, 'ledger.db');
    assert.equal((await sealtrail(cwd, ['init', '--db', db])).status, 0);
    for (const pk of ['a', 'b']) assert.equal((await sealtrail(cwd, ['append', 'k', pk, '{}', '--db', db])).status, 0);
    const r = await sealtrail(cwd, ['prove', 'inclusion', '42', '--db', db, '--json']);
    assert.equal(r.status, 2);
    assert.equal(errorCode(r), 'out_of_range');
    assert.match(r.stderr, /seq 42 is not in a tree of size 2/);
  });

  it('a checkpoint signed by prove inclusion --key-file is recorded; a key file others can read is refused', async () => {
    const cwd = scratch();
    const db = join(cwd, 'ledger.db');
    const keyFile = join(cwd, 'log.key');
    assert.equal((await sealtrail(cwd, ['keygen', '--origin', 'example.com/newcomer', '--key-file', keyFile])).status, 0);
    assert.equal((await sealtrail(cwd, ['init', '--db', db])).status, 0);
    for (const pk of ['a', 'b', 'c']) assert.equal((await sealtrail(cwd, ['append', 'k', pk, '{}', '--db', db])).status, 0);
    const proved = await sealtrail(cwd, ['prove', 'inclusion', '2', '--size', '2', '--key-file', keyFile, '--db', db]);
    assert.equal(proved.status, 0, proved.stderr);
    const ledger = await openLedger({ url: db });
    try {
      const recorded = await ledger.checkpoints();
      assert.equal(recorded.length, 1);
      assert.equal(recorded[0]!.size, 2);
      assert.ok(proved.stdout.includes(recorded[0]!.note.trimEnd()));
    } finally {
      await ledger.close();
    }
    // Without --key-file the recorded checkpoint now anchors the proof.
    assert.equal((await sealtrail(cwd, ['prove', 'inclusion', '1', '--db', db])).status, 0);

    chmodSync(keyFile, 0o644);
    const refused = await sealtrail(cwd, ['checkpoint', '--key-file', keyFile, '--db', db, '--json']);
    assert.equal(refused.status, 2);
    assert.equal(errorCode(refused), 'key_unavailable');
    assert.match(refused.stderr, /accessible by group or others \(mode 0644\)/);
    const allowed = await sealtrail(cwd, ['checkpoint', '--key-file', keyFile, '--db', db, '--allow-insecure-key-file', '--json']);
    assert.equal(allowed.status, 0, allowed.stderr);
  });

  it('subcommand --help lists the global options', async () => {
    const r = await sealtrail(scratch(), ['prove', 'inclusion', '--help']);
    assert.equal(r.status, 0);
    for (const option of ['--db <url>', '--json', '--debug', '--config <file>']) assert.ok(r.stdout.includes(option), option);
  });
});

describe('missing input files', () => {
  it('append --jsonl, check-proof and --trusted name the missing file with invalid_argument', async () => {
    const cwd = scratch();
    const db = join(cwd, 'ledger.db');
    assert.equal((await sealtrail(cwd, ['init', '--db', db])).status, 0);
    for (const args of [['append', '--jsonl', 'nofile'], ['check-proof', 'nofile', '--vkey', 'x'], ['verify', '--trusted', 'nofile']]) {
      const r = await sealtrail(cwd, [...args, '--db', db, '--json']);
      assert.equal(r.status, 2, args.join(' '));
      assert.equal(errorCode(r), 'invalid_argument', `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /nofile does not exist/);
    }
  });
});

describe('append reading stdin', () => {
  it('hints on a terminal, stays silent on a pipe', async () => {
    assert.match(stdinPayloadHint(true) ?? '', /stdin; end with Ctrl-D/);
    assert.equal(stdinPayloadHint(false), undefined);
    const cwd = scratch();
    const db = join(cwd, 'ledger.db');
    assert.equal((await sealtrail(cwd, ['init', '--db', db])).status, 0);
    const piped = await sealtrail(cwd, ['append', 'k', 'p', '--db', db], { input: '{"a":1}' });
    assert.equal(piped.status, 0, piped.stderr);
    assert.equal(piped.stderr, '');
  });
});

describe('a failed command leaves no database behind', () => {
  it('a mistyped --db directory is refused and nothing is created; a bad payload creates no file', async () => {
    const dir = scratch();
    const typo = join(dir, 'no-such-dir', 'nested', 'ledger.db');
    const r1 = await sealtrail(dir, ['append', 'k', 'p', '{"a":1}', '--db', typo, '--json']);
    assert.equal(r1.status, 2);
    assert.equal(errorCode(r1), 'database_unreachable');
    assert.equal(existsSync(join(dir, 'no-such-dir')), false, 'no parent directories made');
    const file = join(dir, 'ledger.db');
    const r2 = await sealtrail(dir, ['append', 'k', 'p', '{bad', '--db', file, '--json']);
    assert.equal(errorCode(r2), 'invalid_json');
    assert.equal(existsSync(file), false, 'no database file made by a refused append');
    const r3 = await sealtrail(dir, ['append', '--jsonl', join(dir, 'missing.jsonl'), '--db', file, '--json']);
    assert.equal(r3.status, 2);
    assert.equal(existsSync(file), false, 'no database file made when the input is missing');
    assert.equal((await sealtrail(dir, ['append', 'k', 'p', '{"a":1}', '--db', file, '--json'])).status, 0);
  });
});
