/**
 * Publishing to every sink type and verifying the ledger against them, on both backends. The two
 * forgeries a table-only verify cannot see, a wholesale re-chain and a cut-off tail with the head
 * rewound, are caught by every sink (file, git, witness, webhook).
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { issueCheckpoint, publishPending } from '../../src/anchor/publish.js';
import { verifyAgainstSinks } from '../../src/anchor/verify-sinks.js';
import { listAlerts } from '../../src/anchor/alerts.js';
import { tamper } from '../../src/ledger/tamper-simulator.js';
import { openCheckpoint } from '../../src/core/checkpoint.js';
import { CosignatureVerifier } from '../../src/core/cosignature.js';
import { NoteVerifier } from '../../src/core/note.js';
import { BACKENDS, tempDir } from '../helpers/databases.js';
import { FAST_RETRY, appendEvents, gitRepo, logKeys, seededLedger, startRecorder, startTestWitness, type Recorder, type TestWitness } from './helpers.js';
import type { Ledger } from '../../src/ledger/ledger.js';

const KINDS = ['file', 'git', 'witness', 'webhook'] as const;

interface Setup {
  ledger: Ledger;
  keys: ReturnType<typeof logKeys>;
  sinks: Record<(typeof KINDS)[number], string>;
  witness: TestWitness;
  recorder: Recorder;
  /** Retry settings and the witness's key, as every publish and verify here passes them. */
  opts: { retry: typeof FAST_RETRY; witnessKeys: string[] };
}

const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const c of cleanups) await c();
});

/** A ledger of 12 entries checkpointed at 8 and 12 to all four sink types. */
async function anchored(url: string): Promise<Setup> {
  const keys = logKeys();
  const ledger = await seededLedger(url, 8);
  const witness = await startTestWitness([keys.verifierKey]);
  const recorder = await startRecorder();
  cleanups.push(() => ledger.close(), () => witness.close(), () => recorder.close());
  const sinks = {
    file: `file:${join(tempDir(), 'checkpoints.jsonl')}`,
    git: `git:${gitRepo()}`,
    witness: `witness:${witness.url}`,
    webhook: `webhook:${recorder.url}`,
  };
  const opts = { retry: FAST_RETRY, witnessKeys: [witness.witnessKey] };
  const first = await issueCheckpoint(ledger, keys.signer, { sinks: Object.values(sinks), ...opts });
  assert.ok(first.publish.ok, JSON.stringify(first.publish.results));
  await appendEvents(ledger, 4, 'f');
  const second = await issueCheckpoint(ledger, keys.signer, { sinks: Object.values(sinks), ...opts });
  assert.ok(second.publish.ok, JSON.stringify(second.publish.results));
  return { ledger, keys, sinks, witness, recorder, opts };
}

for (const backend of BACKENDS) {
  describe(`anchoring to sinks on ${backend.name}`, () => {
    it('publishes to every sink and verifies clean; the witness cosignature is stored with the checkpoint', async () => {
      const s = await anchored(await backend.freshUrl());
      const report = await verifyAgainstSinks(s.ledger, { sinks: Object.values(s.sinks), vkeys: [s.keys.verifierKey], ...s.opts });
      assert.deepEqual(report.findings, []);
      assert.equal(report.ok, true);
      // file, git and webhook hold both checkpoints; the witness its latest.
      assert.equal(report.checked, 2 + 2 + 1 + 2);

      const [latest] = (await s.ledger.store.query<{ note: string; cosignatures: unknown }>('SELECT note, cosignatures FROM checkpoints ORDER BY id DESC LIMIT 1'));
      const stored = typeof latest!.cosignatures === 'string' ? JSON.parse(latest!.cosignatures) : latest!.cosignatures;
      assert.equal(stored.length, 1);
      const cosigned = `${latest!.note}${stored[0].line}`;
      const opened = openCheckpoint(cosigned, [NoteVerifier.fromKey(s.keys.verifierKey), CosignatureVerifier.fromKey(s.witness.verifierKey)]);
      assert.equal(opened.note.verifiedBy.length, 2);
      assert.equal(opened.checkpoint.size, 12);
    });

    it('catches a wholesale re-chain, invisible to a table-only verify, against every sink type', async () => {
      const s = await anchored(await backend.freshUrl());
      await tamper(s.ledger.store, { type: 'rechain', seq: 5, payload: { n: 5, user: 'someone-else' } });
      assert.equal((await s.ledger.verify()).ok, true, 'the forgery is invisible in the tables alone');
      for (const kind of KINDS) {
        const report = await verifyAgainstSinks(s.ledger, { sinks: [s.sinks[kind]], vkeys: [s.keys.verifierKey], ...s.opts });
        assert.equal(report.ok, false, kind);
        const finding = report.findings.find((f) => f.reason === 're_chained');
        assert.ok(finding, `${kind}: ${JSON.stringify(report.findings)}`);
        // The first checkpoint after the edited entry (seq 5) is the one at size 8, except on the
        // witness, which keeps only its latest (12).
        assert.equal(finding.seq, kind === 'witness' ? 12 : 8, kind);
      }
    });

    it('catches a cut-off tail with the head rewound, invisible to a table-only verify, against every sink type', async () => {
      const s = await anchored(await backend.freshUrl());
      await tamper(s.ledger.store, { type: 'truncate_tail', keep: 10, rewindHead: true });
      assert.equal((await s.ledger.verify()).ok, true, 'the truncation is invisible in the tables alone');
      for (const kind of KINDS) {
        const report = await verifyAgainstSinks(s.ledger, { sinks: [s.sinks[kind]], vkeys: [s.keys.verifierKey], ...s.opts });
        const finding = report.findings.find((f) => f.reason === 'truncated');
        assert.ok(finding, `${kind}: ${JSON.stringify(report.findings)}`);
        assert.equal(finding.seq, 11, kind);
        assert.equal(finding.size, 12, kind);
      }
    });

    it('a witness that has cosigned a larger tree refuses the truncated ledger (409) and the ledger raises an alert', async () => {
      const s = await anchored(await backend.freshUrl());
      await tamper(s.ledger.store, { type: 'truncate_tail', keep: 10, rewindHead: true });
      const { publish } = await issueCheckpoint(s.ledger, s.keys.signer, { sinks: [s.sinks.witness], ...s.opts });
      const result = publish.results[0]!;
      assert.equal(result.status, 'conflict');
      assert.equal(result.conflict?.reason, 'witness_rollback');
      assert.equal(result.conflict?.witnessSize, 12);
      const alerts = await listAlerts(s.ledger);
      assert.equal(alerts.length, 1);
      assert.equal(alerts[0]!.kind, 'audit_chain_break');
      assert.equal(alerts[0]!.severity, 'critical');
      assert.equal(alerts[0]!.reason, 'witness_rollback');
      assert.equal(alerts[0]!.seq, 11);
      // The same refusal again is the same break: no second alert.
      await publishPending(s.ledger, [s.sinks.witness], { ...s.opts, vkeys: [s.keys.verifierKey] });
      await issueCheckpoint(s.ledger, s.keys.signer, { sinks: [s.sinks.witness], ...s.opts });
      assert.equal((await listAlerts(s.ledger)).length, 1);
      // The alert is chained in the ledger too.
      const entries = [];
      for await (const e of s.ledger.entries()) if (e.kind === 'audit_alert') entries.push(e);
      assert.equal(entries.length, 1);
      assert.equal(entries[0]!.pk, alerts[0]!.key);
    });

    it('a witness refuses a re-chained ledger that grew on (422 fork) and the ledger raises an alert', async () => {
      const s = await anchored(await backend.freshUrl());
      await tamper(s.ledger.store, { type: 'rechain', seq: 5, payload: { n: 5, user: 'someone-else' } });
      await appendEvents(s.ledger, 3, 'g');
      const { publish } = await issueCheckpoint(s.ledger, s.keys.signer, { sinks: [s.sinks.witness], ...s.opts });
      assert.equal(publish.results[0]!.status, 'conflict');
      assert.equal(publish.results[0]!.conflict?.reason, 'witness_fork');
      const alerts = await listAlerts(s.ledger);
      assert.equal(alerts.length, 1);
      assert.equal(alerts[0]!.reason, 'witness_fork');
    });

    it('one failing sink does not stop the others, and a later run republishes what it missed', async () => {
      const keys = logKeys();
      const ledger = await seededLedger(await backend.freshUrl(), 3);
      const recorder = await startRecorder();
      cleanups.push(() => ledger.close(), () => recorder.close());
      const file = `file:${join(tempDir(), 'c.jsonl')}`;
      const hook = `webhook:${recorder.url}`;
      const dead = 'webhook:http://127.0.0.1:9/unreachable';
      await issueCheckpoint(ledger, keys.signer, { sinks: [file, hook], retry: FAST_RETRY });
      recorder.failNext(10);
      await appendEvents(ledger, 2, 'x');
      const second = await issueCheckpoint(ledger, keys.signer, { sinks: [file, hook, dead], retry: FAST_RETRY });
      const byKind = Object.fromEntries(second.publish.results.map((r) => [r.sink, r]));
      assert.equal(byKind[file]!.status, 'published');
      assert.equal(byKind[hook]!.status, 'failed');
      assert.equal(byKind[hook]!.error?.code, 'sink_failed');
      assert.equal(byKind[dead]!.status, 'failed');
      assert.equal(second.publish.ok, false);
      assert.equal(recorder.posts.length, 1);

      recorder.failNext(0);
      await appendEvents(ledger, 1, 'y');
      const third = await issueCheckpoint(ledger, keys.signer, { sinks: [file, hook], retry: FAST_RETRY });
      assert.ok(third.publish.ok);
      assert.deepEqual(third.publish.results.find((r) => r.sink === hook)!.published, [5, 6]);
      assert.deepEqual(recorder.posts.map((p) => (p as { seq: number }).seq), [3, 5, 6]);
      const report = await verifyAgainstSinks(ledger, { sinks: [file, hook], vkeys: [keys.verifierKey] });
      assert.deepEqual(report.findings, []);
    });
  });
}

describe('verification of the sinks themselves', () => {
  it('reports an edit inside a file sink, a forged record and a rollback, each with its seq', async () => {
    const keys = logKeys();
    const ledger = await seededLedger(await BACKENDS[0]!.freshUrl(), 4);
    cleanups.push(() => ledger.close());
    const path = join(tempDir(), 'c.jsonl');
    for (let i = 0; i < 3; i++) {
      await issueCheckpoint(ledger, keys.signer, { sinks: [`file:${path}`] });
      await appendEvents(ledger, 2, `r${i}`);
    }
    const lines = readFileSync(path, 'utf8').trimEnd().split('\n');
    assert.equal(lines.length, 3);

    // Edit the chain hash in the middle record: its line still parses, but the next link breaks.
    const edited = JSON.parse(lines[1]!);
    edited.chain_hash = 'ab'.repeat(32);
    writeFileSync(path, `${[lines[0], JSON.stringify(edited), lines[2]].join('\n')}\n`);
    let report = await verifyAgainstSinks(ledger, { sinks: [`file:${path}`], vkeys: [keys.verifierKey] });
    const reasons = report.findings.map((f) => `${f.reason}@${f.seq}`).sort();
    assert.deepEqual(reasons, ['re_chained@6', 'sink_edited@8']);

    // A rollback: an older record appended again (properly linked, validly signed).
    writeFileSync(path, `${lines.join('\n')}\n`);
    const last = lines[2]!;
    const { createHash } = await import('node:crypto');
    const replay = { ...JSON.parse(lines[0]!), prev_record_hash: createHash('sha256').update(last).digest('hex') };
    appendFileSync(path, `${JSON.stringify(replay)}\n`);
    report = await verifyAgainstSinks(ledger, { sinks: [`file:${path}`], vkeys: [keys.verifierKey] });
    assert.deepEqual(report.findings.map((f) => `${f.reason}@${f.seq}`), ['rollback@4']);

    // A record signed by an unknown key.
    const other = logKeys('example.com/audit');
    report = await verifyAgainstSinks(ledger, { sinks: [`file:${path}`], vkeys: [other.verifierKey] });
    assert.equal(report.findings[0]!.reason, 'invalid_signature');
  });

  it('accepts checkpoints signed by any trusted key during a rotation', async () => {
    const oldKey = logKeys('example.com/audit');
    const newKey = logKeys('example.com/audit');
    const ledger = await seededLedger(await BACKENDS[0]!.freshUrl(), 3);
    cleanups.push(() => ledger.close());
    const path = join(tempDir(), 'c.jsonl');
    await issueCheckpoint(ledger, oldKey.signer, { sinks: [`file:${path}`] });
    await appendEvents(ledger, 1, 'z');
    await issueCheckpoint(ledger, [oldKey.signer, newKey.signer], { sinks: [`file:${path}`] });
    await appendEvents(ledger, 1, 'w');
    await issueCheckpoint(ledger, newKey.signer, { sinks: [`file:${path}`] });
    const both = await verifyAgainstSinks(ledger, { sinks: [`file:${path}`], vkeys: [oldKey.verifierKey, newKey.verifierKey] });
    assert.deepEqual(both.findings, []);
    const onlyOld = await verifyAgainstSinks(ledger, { sinks: [`file:${path}`], vkeys: [oldKey.verifierKey] });
    // The ledger's own checkpoints table holds the same new-key-only row, so it is flagged there too.
    assert.deepEqual(onlyOld.findings.map((f) => `${f.sink === 'table:checkpoints' ? 'table:' : ''}${f.reason}@${f.seq}`), ['invalid_signature@5', 'table:checkpoint_edited@5']);
  });
});
