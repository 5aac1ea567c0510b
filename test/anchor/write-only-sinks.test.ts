/**
 * A webhook is write-only by design: one that does not answer the read-back GET is listed as not
 * checkable (a line in human output, `notCheckable` in JSON), never a finding or an alert; a sink
 * that should be readable (file, git, witness) and cannot be read stays a finding. Verification
 * against sinks reads the database in one snapshot. Real SQLite/PostgreSQL, real HTTP on loopback.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { runMonitorCycle } from '../../src/anchor/monitor.js';
import { issueCheckpoint } from '../../src/anchor/publish.js';
import { recomputeStates, verifyAgainstSinks } from '../../src/anchor/verify-sinks.js';
import { openSink } from '../../src/anchor/sinks/index.js';
import type { Sink } from '../../src/anchor/sinks/sink.js';
import { listAlerts } from '../../src/anchor/alerts.js';
import { redact } from '../../src/core/redact.js';
import { tamper } from '../../src/ledger/tamper-simulator.js';
import { BACKENDS, tempDir } from '../helpers/databases.js';
import { cli } from '../helpers/cli.js';
import { FAST_RETRY, appendEvents, gitRepo, logKeys, seededLedger } from './helpers.js';

const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** A webhook receiver that takes POSTs and has no read endpoint (405 to GET). */
async function writeOnlyWebhook(): Promise<{ spec: string; posts: number }> {
  const state = { spec: '', posts: 0 };
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.method === 'POST') {
        state.posts++;
        res.writeHead(204).end();
      } else {
        res.writeHead(405, { allow: 'POST' }).end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  );
  state.spec = `webhook:http://127.0.0.1:${(server.address() as AddressInfo).port}/hook?token=s3cret`;
  return state;
}

/** A port nothing listens on (a server that was started and closed). */
async function deadUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

for (const backend of BACKENDS) {
  describe(`write-only sinks on ${backend.name}`, () => {
    it('verify --against-sinks: ok with the webhook listed as not checkable, in human output and --json; a real break is still found', async () => {
      const keys = logKeys();
      const db = await backend.freshUrl();
      const ledger = await seededLedger(db, 4);
      cleanups.push(() => ledger.close());
      const hook = await writeOnlyWebhook();
      const file = `file:${join(tempDir(), 'checkpoints.jsonl')}`;
      const issued = await issueCheckpoint(ledger, keys.signer, { sinks: [file, hook.spec], retry: FAST_RETRY });
      assert.ok(issued.publish.ok);
      assert.equal(hook.posts, 1);

      const args = ['verify', '--against-sinks', '--sink', file, hook.spec, '--vkey', keys.verifierKey, '--db', db];
      const human = await cli(args);
      assert.equal(human.status, 0, human.stdout + human.stderr);
      const lines = human.stdout.trimEnd().split('\n');
      assert.match(lines[0]!, /^ok: 1 published checkpoints in 1 sink\(s\) and 1 checkpoints-table row\(s\) match the entries$/);
      assert.match(lines[1]!, /^not checkable: webhook:http:\/\/127\.0\.0\.1:\d+\/hook.*: a write-only webhook: it answered 405 to the GET that would read it back$/);
      assert.equal(human.stdout.includes('s3cret'), false, 'the URL token is never printed');

      const json = await cli([...args, '--json']);
      assert.equal(json.status, 0);
      const report = JSON.parse(json.stdout) as { ok: boolean; findings: unknown[]; notCheckable: Array<{ sink: string; kind: string; reason: string }> };
      assert.equal(report.ok, true);
      assert.deepEqual(report.findings, []);
      assert.deepEqual(
        report.notCheckable.map((u) => [u.sink, u.kind]),
        [[redact(hook.spec), 'webhook']],
      );

      // The file sink is still checked: a re-chained ledger fails, with the webhook still just listed.
      await tamper(ledger.store, { type: 'rechain', seq: 2, payload: { n: 99 } });
      const broken = await cli(args);
      assert.equal(broken.status, 1, broken.stdout);
      assert.match(broken.stdout, /^INTEGRITY FAILURE: \d+ finding\(s\) across 1 sink\(s\)/, "the webhook is not counted as checked");
      assert.match(broken.stdout, /\nnot checkable: webhook:/);
    });

    it('the monitor neither fails nor alerts over a write-only webhook, cycle after cycle', async () => {
      const keys = logKeys();
      const ledger = await seededLedger(await backend.freshUrl(), 3);
      cleanups.push(() => ledger.close());
      const hook = await writeOnlyWebhook();
      const file = `file:${join(tempDir(), 'checkpoints.jsonl')}`;
      const options = { ledger, stateFile: join(tempDir(), 'monitor.json'), intervalMs: 0, sinks: [file, hook.spec], signers: [keys.signer], retry: FAST_RETRY };
      for (let cycle = 0; cycle < 3; cycle++) {
        const report = await runMonitorCycle(options);
        assert.equal(report.ok, true, JSON.stringify(report.breaks));
        assert.deepEqual(report.breaks, []);
        if (cycle > 0) assert.deepEqual(report.sinks!.notCheckable.map((u) => u.kind), ['webhook']);
        await appendEvents(ledger, 1, `c${cycle}`);
      }
      assert.equal(hook.posts, 3, 'it is still published to');
      assert.deepEqual(await listAlerts(ledger), []);
    });

    it('a sink that should be readable and is not stays a finding: a dead witness, a git sink that is no repository', async () => {
      const keys = logKeys();
      const ledger = await seededLedger(await backend.freshUrl(), 3);
      cleanups.push(() => ledger.close());
      const repo = gitRepo();
      await issueCheckpoint(ledger, keys.signer, { sinks: [`git:${repo}`], retry: FAST_RETRY });
      const witness = `witness:${await deadUrl()}`;
      const report = await verifyAgainstSinks(ledger, {
        sinks: [witness, `git:${join(tempDir(), 'not-a-repo')}`],
        vkeys: [keys.verifierKey],
        witnessKeys: [],
        retry: FAST_RETRY,
      });
      assert.equal(report.ok, false);
      assert.deepEqual(report.notCheckable, []);
      assert.deepEqual(
        report.findings.map((f) => [f.sink.split(':')[0], f.reason]),
        [
          ['witness', 'sink_unreadable'],
          ['git', 'sink_unreadable'],
        ],
      );
    });

    it('a checkpoint published while the verification runs (after its snapshot) is no false truncation', async () => {
      const keys = logKeys();
      const ledger = await seededLedger(await backend.freshUrl(), 3);
      cleanups.push(() => ledger.close());
      const file = `file:${join(tempDir(), 'checkpoints.jsonl')}`;
      await issueCheckpoint(ledger, keys.signer, { sinks: [file] });
      const inner = openSink(file);
      // The real file sink, but by the time it is read another publisher has appended and published
      // (real appends, a real checkpoint, the real file): the sink holds a size the snapshot lacks.
      const racing: Sink = {
        kind: inner.kind,
        spec: inner.spec,
        latestOnly: inner.latestOnly,
        publish: (record, ctx) => inner.publish(record, ctx),
        read: async (ctx) => {
          await appendEvents(ledger, 2, 'late');
          await issueCheckpoint(ledger, keys.signer, { sinks: [file] });
          return inner.read(ctx);
        },
      };
      const report = await verifyAgainstSinks(ledger, { sinks: [racing], vkeys: [keys.verifierKey] });
      assert.deepEqual(report.findings, []);
      assert.equal(report.checked, 2);
      // Once it is in the snapshot, the newer checkpoint is checked like the others.
      assert.deepEqual((await verifyAgainstSinks(ledger, { sinks: [file], vkeys: [keys.verifierKey] })).findings, []);
      await tamper(ledger.store, { type: 'truncate_tail', keep: 4, rewindHead: true });
      const cut = await verifyAgainstSinks(ledger, { sinks: [file], vkeys: [keys.verifierKey] });
      assert.deepEqual(
        cut.findings.map((f) => [f.reason, f.seq]),
        [
          ['truncated', 5],
          ['truncated', 5],
        ],
      );
    });

    it('recomputeStates reads one snapshot: appends and edits made after it was taken are not seen', async () => {
      const ledger = await seededLedger(await backend.freshUrl(), 6);
      cleanups.push(() => ledger.close());
      const before = await ledger.head();
      const snapshot = await ledger.store.openSnapshot();
      try {
        await snapshot.readHead(); // the snapshot is fixed by its first read
        await appendEvents(ledger, 5, 'later');
        await tamper(ledger.store, { type: 'rechain', seq: 3, payload: { n: 42 } });
        const seen = await recomputeStates(snapshot, [6]);
        assert.equal(seen.size, 6, 'only the entries of the snapshot');
        assert.deepEqual(seen.states.map((s) => [s.size, s.root.toString('hex'), s.chainHash.toString('hex')]), [[6, before.root.toString('hex'), before.chainHash.toString('hex')]]);
      } finally {
        await snapshot.release();
      }
      // Through the ledger it opens a snapshot of its own, of the database as it is now.
      const now = await recomputeStates(ledger, [6]);
      assert.notEqual(now.states[0]!.root.toString('hex'), before.root.toString('hex'));
    });
  });
}
