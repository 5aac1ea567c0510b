/** The anchoring commands end to end in a child process: keygen, checkpoint, monitor --once; keys never printed. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openLedger } from '../../src/ledger/ledger.js';
import { tamper } from '../../src/ledger/tamper-simulator.js';
import { verifyAgainstSinks } from '../../src/anchor/verify-sinks.js';
import { tempDir } from '../helpers/databases.js';
import { sealtrail as run } from '../helpers/cli.js';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateCosignerKey } from '../../src/core/cosignature.js';
import { appendEvents, startTestWitness } from './helpers.js';

/** The real CLI in a child process, in `cwd`, with only the environment given (plus PATH). */
const sealtrail = (cwd: string, args: string[], env: Record<string, string> = {}) => run(args, { cwd, env });

describe('anchoring CLI', () => {
  it('keygen, checkpoint to a file sink, monitor --once catching a truncation; the key never appears in any output', async () => {
    const dir = tempDir();
    const db = join(dir, 'ledger.db');
    const keyFile = join(dir, 'log.key');
    const sinkFile = join(dir, 'sink', 'checkpoints.jsonl');
    const outputs: string[] = [];
    const run = async (args: string[], env: Record<string, string> = {}) => {
      const r = await sealtrail(dir, args, env);
      outputs.push(r.stdout, r.stderr);
      return r;
    };

    const keygen = await run(['keygen', '--origin', 'example.com/cli', '--key-file', keyFile]);
    assert.equal(keygen.status, 0, keygen.stderr);
    const vkey = keygen.stdout.trimEnd().split('\n').at(-1)!;
    assert.match(vkey, /^example\.com\/cli\+[0-9a-f]{8}\+/);
    assert.equal(statSync(keyFile).mode & 0o777, 0o600);
    const signerKey = readFileSync(keyFile, 'utf8').trim();
    const again = await run(['keygen', '--origin', 'example.com/cli', '--key-file', keyFile]);
    assert.equal(again.status, 2);
    assert.equal(readFileSync(keyFile, 'utf8').trim(), signerKey, 'an existing key file is never overwritten');

    const ledger = await openLedger({ url: db });
    await appendEvents(ledger, 6, 'c');
    await ledger.close();
    const { mkdirSync } = await import('node:fs');
    mkdirSync(join(dir, 'sink'));

    const cp = await run(['checkpoint', '--db', db, '--key-file', keyFile, '--sink', `file:${sinkFile}`]);
    assert.equal(cp.status, 0, cp.stderr);
    assert.match(cp.stdout, /^example\.com\/cli\n6\n/);
    // The same key from the environment, as JSON.
    const fromEnv = await run(['checkpoint', '--db', db, '--sink', `file:${sinkFile}`, '--json'], { SEALTRAIL_SIGNING_KEY: signerKey });
    assert.equal(fromEnv.status, 0, fromEnv.stderr);
    assert.equal(JSON.parse(fromEnv.stdout).size, 6);

    // A damaged key file: a coded error that does not quote the key.
    const broken = join(dir, 'broken.key');
    writeFileSync(broken, `${signerKey.slice(0, -4)}AAAA\n`, { mode: 0o600 });
    const bad = await run(['checkpoint', '--db', db, '--key-file', broken, '--json']);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /\[invalid_key\]/);

    const state = join(dir, 'state.json');
    const clean = await run(['monitor', '--db', db, '--once', '--state', state, '--sink', `file:${sinkFile}`, '--vkey', vkey]);
    assert.equal(clean.status, 0, clean.stdout + clean.stderr);

    const l2 = await openLedger({ url: db });
    await tamper(l2.store, { type: 'truncate_tail', keep: 4, rewindHead: true });
    const report = await verifyAgainstSinks(l2, { sinks: [`file:${sinkFile}`], vkeys: [vkey] });
    assert.equal(report.findings[0]?.reason, 'truncated');
    await l2.close();
    const broke = await run(['monitor', '--db', db, '--once', '--state', state, '--sink', `file:${sinkFile}`, '--vkey', vkey, '--json']);
    assert.equal(broke.status, 1, broke.stdout + broke.stderr);
    const cycle = JSON.parse(broke.stdout);
    assert.equal(cycle.ok, false);
    assert.equal(cycle.alerts[0].kind, 'audit_chain_break');
    assert.equal(cycle.alerts[0].seq, 5);

    // PRIVATE+KEY+<name>+<hex key id>+<base64 seed>: the base64 may itself contain '+'.
    const secret = signerKey.split('+').slice(4).join('+');
    assert.ok(secret.length >= 44);
    for (const text of outputs) assert.ok(!text.includes(secret), `the signing key must never be printed: ${text.slice(0, 2000)}`);
  });

  it('verify --against-sinks exits 1 on a misspelled file sink, lists a webhook answering 404 as not checkable (exit 0); witness sinks need --witness-vkey', async () => {
    const dir = tempDir();
    const db = join(dir, 'ledger.db');
    const keyFile = join(dir, 'log.key');
    const keygen = await sealtrail(dir, ['keygen', '--origin', 'example.com/cli', '--key-file', keyFile]);
    const vkey = keygen.stdout.trimEnd().split('\n').at(-1)!;
    const ledger = await openLedger({ url: db });
    await appendEvents(ledger, 4, 'v');
    await ledger.close();
    const sinkFile = join(dir, 'checkpoints.jsonl');
    assert.equal((await sealtrail(dir, ['checkpoint', '--db', db, '--key-file', keyFile, '--sink', `file:${sinkFile}`])).status, 0);
    const verify = (sink: string, extra: string[] = [], env: Record<string, string> = {}) =>
      sealtrail(dir, ['verify', '--db', db, '--against-sinks', '--sink', sink, '--vkey', vkey, ...extra], env);

    const ok = await verify(`file:${sinkFile}`);
    assert.equal(ok.status, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, /^ok: 1 published checkpoints in 1 sink\(s\) and 1 checkpoints-table row\(s\) match/);
    const typo = await verify(`file:${join(dir, 'checkpoint.jsonl')}`);
    assert.equal(typo.status, 1, typo.stdout + typo.stderr);
    assert.match(typo.stdout, /INTEGRITY FAILURE.*\n.*sink_unreadable/);

    const server = createServer((_req, res) => res.writeHead(404).end());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const w = await startTestWitness([vkey]);
    try {
      const hook = await verify(`webhook:http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, ['--json']);
      assert.equal(hook.status, 0, hook.stdout + hook.stderr);
      const hookReport = JSON.parse(hook.stdout) as { findings: unknown[]; notCheckable: Array<{ kind: string }> };
      assert.deepEqual(hookReport.findings, []);
      assert.deepEqual(hookReport.notCheckable.map((u) => u.kind), ['webhook']);

      const witness = `witness:${w.url}`;
      const unknown = await sealtrail(dir, ['checkpoint', '--db', db, '--key-file', keyFile, '--sink', witness]);
      assert.equal(unknown.status, 2, unknown.stdout + unknown.stderr);
      assert.match(unknown.stderr, /not published: .*\[key_unavailable\]/);
      assert.equal(w.witness.latest('example.com/cli'), null);
      const known = await sealtrail(dir, ['checkpoint', '--db', db, '--key-file', keyFile, '--sink', witness, '--witness-vkey', w.witnessKey]);
      assert.equal(known.status, 0, known.stdout + known.stderr);

      const fromEnv = await verify(witness, [], { SEALTRAIL_WITNESS_VKEYS: w.witnessKey });
      assert.equal(fromEnv.status, 0, fromEnv.stdout + fromEnv.stderr);
      const stranger = generateCosignerKey('witness.example/w1').verifierKey;
      const wrong = await verify(witness, ['--witness-vkey', `${stranger}@${w.url}`]);
      assert.equal(wrong.status, 1, wrong.stdout + wrong.stderr);
      assert.match(wrong.stdout, /invalid_cosignature at seq 4/);
      const missing = await verify(witness);
      assert.equal(missing.status, 1);
      assert.match(missing.stdout, /witness_key_missing/);
      const malformed = await verify(witness, ['--witness-vkey', 'not-a-key']);
      assert.equal(malformed.status, 2);
      assert.match(malformed.stderr, /--witness-vkey must be a witness verifier key.*\[config_invalid\]/);
    } finally {
      await w.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
