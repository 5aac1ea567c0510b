/**
 * Witnesses known by their keys, sinks that cannot be read, and the ledger's own checkpoints
 * table: each forgery below is refused when publishing and reported, with its seq, on read-back.
 * Real SQLite/PostgreSQL, real HTTP on loopback (honest, impostor and garbage witnesses).
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { sinkKey } from '../../src/anchor/sinks/sink-key.js';
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { issueCheckpoint, publishPending } from '../../src/anchor/publish.js';
import { recomputeStates, verifyAgainstSinks, verifyCheckpointsTable, type SinkFinding } from '../../src/anchor/verify-sinks.js';
import { listAlerts } from '../../src/anchor/alerts.js';
import { openSink } from '../../src/anchor/sinks/index.js';
import { parseWitnessKey } from '../../src/anchor/sinks/witness-sink.js';
import type { Sink } from '../../src/anchor/sinks/sink.js';
import { canonicalHash, canonicalize } from '../../src/core/canonical-json.js';
import { chainHash, GENESIS_HASH } from '../../src/core/chain.js';
import { generateCosignerKey, CosignatureVerifier } from '../../src/core/cosignature.js';
import { signatureLine } from '../../src/core/note.js';
import { openLedger, type Ledger } from '../../src/ledger/ledger.js';
import type { EntryRow, Store } from '../../src/store/store.js';
import Database from 'better-sqlite3';
import { resolveConfig } from '../../src/cli/config.js';
import { SealtrailError } from '../../src/core/errors.js';
import { BACKENDS, tempDir } from '../helpers/databases.js';
import { FAST_RETRY, appendEvents, logKeys, seededLedger, startTestWitness, type TestWitness } from './helpers.js';

const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function witness(logVkeys: string[], name?: string): Promise<TestWitness> {
  const w = await startTestWitness(logVkeys, undefined, name);
  cleanups.push(() => w.close());
  return w;
}

async function ledgerOf(url: string, count: number): Promise<Ledger> {
  const ledger = await seededLedger(url, count);
  cleanups.push(() => ledger.close());
  return ledger;
}

const brief = (findings: SinkFinding[]) => findings.map((f) => `${f.sink === 'table:checkpoints' ? 'table:' : ''}${f.reason}@${f.seq}`);

/**
 * A witness that answers add-checkpoint with 200 and whatever `answer` makes of the note, and
 * serves the note it was given, followed by `answer`'s lines, as its latest checkpoint.
 */
async function fakeWitness(answer: (note: string) => string): Promise<{ url: string }> {
  let latest: string | null = null;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (req.method === 'POST' && url.pathname === '/add-checkpoint') {
        const body = Buffer.concat(chunks).toString('utf8');
        const note = body.slice(body.indexOf('\n\n') + 2);
        const reply = answer(note);
        latest = `${note}${reply}`;
        res.writeHead(200, { 'content-type': 'text/plain' }).end(reply);
      } else if (req.method === 'GET' && url.pathname === '/sealtrail/latest' && latest !== null) {
        res.writeHead(200, { 'content-type': 'text/plain' }).end(latest);
      } else {
        res.writeHead(404).end();
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
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

/** The lazy re-chain: edit one payload, recompute later chain hashes and the head's, leave the Merkle storage stale. */
async function lazyRechain(store: Store, seq: number, payload: unknown): Promise<void> {
  const canonical = canonicalize(payload);
  await store.run('UPDATE audit_chain SET payload = ?, event_hash = ? WHERE seq = ?', [canonical, canonicalHash(canonical), seq]);
  const entries: EntryRow[] = [];
  for await (const batch of store.entryBatches(1, Number.MAX_SAFE_INTEGER)) entries.push(...batch);
  let prev = GENESIS_HASH;
  for (const e of entries) {
    const h = chainHash(prev, e.eventHash, e.seq);
    if (e.seq >= seq) await store.run('UPDATE audit_chain SET prev_hash = ?, chain_hash = ? WHERE seq = ?', [prev, h, e.seq]);
    prev = h;
  }
  const head = await store.readHead();
  await store.writeTransaction((tx) => tx.ledger.writeHead({ size: head.size, chainHash: prev, root: head.root }));
}

describe('witness cosignatures are verified on publish and on read-back', () => {
  it('an impostor witness (same name, another key) is a failed sink on publish and a finding on read-back', async () => {
    const keys = logKeys();
    const ledger = await ledgerOf(await BACKENDS[0]!.freshUrl(), 6);
    const honest = await witness([keys.verifierKey]);
    const impostor = await witness([keys.verifierKey]);
    assert.equal(CosignatureVerifier.fromKey(honest.verifierKey).name, CosignatureVerifier.fromKey(impostor.verifierKey).name);
    const spec = `witness:${impostor.url}`;

    // The operator trusts the honest witness's key for this URL; whoever answers there signs with another.
    const claimed = `${honest.verifierKey}@${impostor.url}`;
    const { publish } = await issueCheckpoint(ledger, keys.signer, { sinks: [spec], retry: FAST_RETRY, witnessKeys: [claimed] });
    const result = publish.results[0]!;
    assert.equal(result.status, 'failed');
    assert.equal(result.error?.code, 'invalid_signature');
    assert.deepEqual(result.published, []);
    const [row] = await ledger.store.query<{ cosignatures: unknown }>('SELECT cosignatures FROM checkpoints');
    assert.deepEqual(typeof row!.cosignatures === 'string' ? JSON.parse(row!.cosignatures) : row!.cosignatures, [], 'nothing unverified is stored');
    const [sinkRow] = await ledger.store.query<{ last_published_at: unknown }>('SELECT last_published_at FROM anchor_sinks WHERE sink = ?', [sinkKey(spec)]);
    assert.equal(sinkRow!.last_published_at, null, 'never recorded as published');

    // Published under its own key, then read back under the key it claims to be: a finding at its size.
    await publishPending(ledger, [spec], { retry: FAST_RETRY, vkeys: [keys.verifierKey], witnessKeys: [impostor.witnessKey] });
    const report = await verifyAgainstSinks(ledger, { sinks: [spec], vkeys: [keys.verifierKey], witnessKeys: [claimed], retry: FAST_RETRY });
    assert.equal(report.ok, false);
    // The impostor's cosignature, stored with the checkpoint when it was trusted, is flagged in the table too.
    assert.deepEqual(brief(report.findings), ['invalid_cosignature@6', 'table:invalid_cosignature@6']);
    const clean = await verifyAgainstSinks(ledger, { sinks: [spec], vkeys: [keys.verifierKey], witnessKeys: [impostor.witnessKey], retry: FAST_RETRY });
    assert.deepEqual(clean.findings, []);
  });

  it('a witness answering garbage, or a cosignature line that does not verify, is failed on publish and a finding on read-back', async () => {
    const keys = logKeys();
    const ledger = await ledgerOf(await BACKENDS[0]!.freshUrl(), 4);
    const { verifierKey } = generateCosignerKey('witness.example/w1');
    const keyId = CosignatureVerifier.fromKey(verifierKey).keyId;
    const forged = await fakeWitness(() => signatureLine('witness.example/w1', keyId, randomBytes(72)));
    const garbage = await fakeWitness(() => 'garbage\n\u2014 witness.example/w1 !!!\n');
    const witnessKeys = [`${verifierKey}@${forged.url}`, `${verifierKey}@${garbage.url}`];
    const sinks = [`witness:${forged.url}`, `witness:${garbage.url}`];
    const { publish } = await issueCheckpoint(ledger, keys.signer, { sinks, retry: FAST_RETRY, witnessKeys });
    assert.deepEqual(
      publish.results.map((r) => [r.status, r.error?.code]),
      [
        ['failed', 'invalid_signature'],
        ['failed', 'invalid_signature'],
      ],
    );
    assert.equal(publish.ok, false);
    const report = await verifyAgainstSinks(ledger, { sinks, vkeys: [keys.verifierKey], witnessKeys, retry: FAST_RETRY });
    // The garbage witness's latest note does not even parse: unreadable.
    assert.deepEqual(brief(report.findings), ['invalid_cosignature@4', 'sink_unreadable@null']);
  });

  it('a witness without a configured key is failed before anything is sent, and a finding on read-back', async () => {
    const keys = logKeys();
    const ledger = await ledgerOf(await BACKENDS[0]!.freshUrl(), 5);
    const w = await witness([keys.verifierKey]);
    const spec = `witness:${w.url}`;
    const { publish } = await issueCheckpoint(ledger, keys.signer, { sinks: [spec], retry: FAST_RETRY });
    assert.equal(publish.results[0]!.status, 'failed');
    assert.equal(publish.results[0]!.error?.code, 'key_unavailable');
    assert.equal(w.witness.latest(keys.origin), null, 'the witness was never asked');

    await publishPending(ledger, [spec], { retry: FAST_RETRY, vkeys: [keys.verifierKey], witnessKeys: [w.witnessKey] });
    const report = await verifyAgainstSinks(ledger, { sinks: [spec], vkeys: [keys.verifierKey], retry: FAST_RETRY });
    assert.deepEqual(brief(report.findings), ['witness_key_missing@null']);
  });

  it('binds a bare key by name (the witness URL without scheme) and a <vkey>@<url> key by URL', () => {
    const w1 = generateCosignerKey('witness.example/w1').verifierKey;
    const other = generateCosignerKey('other.example').verifierKey;
    const bound = (url: string, keys: string[]) => (openSink(`witness:${url}`, { witnessKeys: keys }) as Sink & { verifiers: CosignatureVerifier[] }).verifiers.map((v) => v.verifierKey);
    assert.deepEqual(bound('https://witness.example/w1', [w1, other]), [w1]);
    assert.deepEqual(bound('https://witness.example/w1/', [w1]), [w1], 'trailing slashes do not matter');
    assert.deepEqual(bound('https://witness.example/w2', [w1]), [], 'a key named for another witness does not apply');
    assert.deepEqual(bound('http://127.0.0.1:7380', [`${other}@http://127.0.0.1:7380/`, `${w1}@http://127.0.0.1:7381`]), [other]);
    assert.deepEqual(parseWitnessKey(`${w1}@https://u:p@w.example/x?a=b`), { vkey: w1, url: 'https://u:p@w.example/x?a=b' });
  });
});

for (const backend of BACKENDS) {
  describe(`a witness's 409 on ${backend.name}`, () => {
    it('two publishers racing on one witness: no rollback alarm, both end up published', async () => {
      const keys = logKeys();
      const url = await backend.freshUrl();
      const a = await ledgerOf(url, 8);
      const b = await openLedger({ url });
      cleanups.push(() => b.close());
      const w = await witness([keys.verifierKey]);
      const spec = `witness:${w.url}`;
      const opts = { retry: FAST_RETRY, witnessKeys: [w.witnessKey] };
      assert.ok((await issueCheckpoint(a, keys.signer, { sinks: [spec], ...opts })).publish.ok);

      // A signs at 10; before its request reaches the witness, B appends, signs at 12 and gets there first.
      await appendEvents(a, 2, 'a');
      const real = openSink(spec, opts);
      let raced: Awaited<ReturnType<typeof issueCheckpoint>> | null = null;
      const racing: Sink = {
        kind: real.kind,
        spec: real.spec,
        latestOnly: real.latestOnly,
        read: (ctx) => real.read(ctx),
        publish: async (record, ctx) => {
          if (!raced) {
            await appendEvents(b, 2, 'b');
            raced = await issueCheckpoint(b, keys.signer, { sinks: [spec], ...opts });
          }
          return real.publish(record, ctx);
        },
      };
      const mine = await issueCheckpoint(a, keys.signer, { sinks: [racing], ...opts });
      assert.equal(mine.checkpoint.size, 10);
      assert.deepEqual(raced!.publish.results.map((r) => [r.status, r.published]), [['published', [12]]]);
      assert.deepEqual(mine.publish.results.map((r) => [r.status, r.published]), [['published', [12]]], 'A catches up to the larger checkpoint');
      assert.deepEqual(await listAlerts(a), []);

      // Another publisher (its own anchor_sinks row: the URL with a slash) moved the witness to 14 meanwhile: A retries from 14.
      await appendEvents(b, 2, 'c');
      assert.ok((await issueCheckpoint(b, keys.signer, { sinks: [`${spec}/`], ...opts })).publish.ok);
      await appendEvents(a, 2, 'd');
      const next = await issueCheckpoint(a, keys.signer, { sinks: [spec], ...opts });
      assert.deepEqual(next.publish.results.map((r) => [r.status, r.published]), [['published', [16]]]);
      assert.deepEqual(await listAlerts(a), []);
      const report = await verifyAgainstSinks(a, { sinks: [spec], vkeys: [keys.verifierKey], ...opts });
      assert.deepEqual(report.findings, []);
      assert.equal(report.sinks[0]!.latestSize, 16);
    });

    it('a witness really ahead of the ledger (a larger tree than the ledger has) is a rollback alarm', async () => {
      const keys = logKeys();
      const w = await witness([keys.verifierKey]);
      const opts = { retry: FAST_RETRY, witnessKeys: [w.witnessKey] };
      // The witness has cosigned 20 entries of this log (another copy of it, or the ledger before a cut).
      const elsewhere = await ledgerOf(await backend.freshUrl(), 20);
      assert.ok((await issueCheckpoint(elsewhere, keys.signer, { sinks: [`witness:${w.url}`], ...opts })).publish.ok);
      const ledger = await ledgerOf(await backend.freshUrl(), 8);
      const { publish } = await issueCheckpoint(ledger, keys.signer, { sinks: [`witness:${w.url}`], ...opts });
      assert.equal(publish.results[0]!.status, 'conflict');
      assert.equal(publish.results[0]!.conflict?.reason, 'witness_rollback');
      assert.equal(publish.results[0]!.conflict?.witnessSize, 20);
      const alerts = await listAlerts(ledger);
      assert.deepEqual(alerts.map((a) => [a.kind, a.severity, a.reason, a.seq]), [['audit_chain_break', 'critical', 'witness_rollback', 9]]);
    });
  });

  describe(`the checkpoints table on ${backend.name}`, () => {
    async function setup() {
      const keys = logKeys();
      const ledger = await ledgerOf(await backend.freshUrl(), 4);
      const w = await witness([keys.verifierKey]);
      const file = `file:${join(tempDir(), 'c.jsonl')}`;
      const opts = { retry: FAST_RETRY, witnessKeys: [w.witnessKey] };
      const sinks = [file, `witness:${w.url}`];
      assert.ok((await issueCheckpoint(ledger, keys.signer, { sinks, ...opts })).publish.ok);
      await appendEvents(ledger, 4, 'x');
      assert.ok((await issueCheckpoint(ledger, keys.signer, { sinks, ...opts })).publish.ok);
      const verify = () => verifyAgainstSinks(ledger, { sinks, vkeys: [keys.verifierKey], ...opts });
      assert.deepEqual((await verify()).findings, []);
      return { keys, ledger, w, file, opts, sinks, verify };
    }

    it('an edited root, size, note or chain_hash column is checkpoint_edited at that row\'s size', async () => {
      const s = await setup();
      const rows = await s.ledger.store.query<{ id: number; root: Buffer; chain_hash: Buffer; note: string }>('SELECT id, root, chain_hash, note FROM checkpoints ORDER BY id');
      const [at4, at8] = rows;
      const flipped = (b: Buffer) => Buffer.from(b.map((x, i) => (i === 0 ? x ^ 1 : x)));

      await s.ledger.store.run('UPDATE checkpoints SET root = ? WHERE id = ?', [flipped(at4!.root), at4!.id]);
      let report = await s.verify();
      assert.deepEqual(brief(report.findings), ['table:checkpoint_edited@4']);
      assert.equal(report.findings[0]!.size, 4);
      await s.ledger.store.run('UPDATE checkpoints SET root = ? WHERE id = ?', [at4!.root, at4!.id]);

      // A validly signed note moved to another row: the columns no longer say what it says.
      await s.ledger.store.run('UPDATE checkpoints SET note = ? WHERE id = ?', [at4!.note, at8!.id]);
      report = await s.verify();
      assert.deepEqual(brief(report.findings), ['table:checkpoint_edited@8']);
      await s.ledger.store.run('UPDATE checkpoints SET note = ? WHERE id = ?', [at8!.note.replace(/\n\n[\s\S]*$/, '\n\n\u2014 example.com/audit AAAAAAAA\n'), at8!.id]);
      report = await verifyCheckpointsTable(s.ledger, { vkeys: [s.keys.verifierKey] });
      assert.deepEqual(brief(report.findings), ['table:checkpoint_edited@8']);
      await s.ledger.store.run('UPDATE checkpoints SET note = ? WHERE id = ?', [at8!.note, at8!.id]);

      await s.ledger.store.run('UPDATE checkpoints SET chain_hash = ? WHERE id = ?', [flipped(at8!.chain_hash), at8!.id]);
      report = await verifyCheckpointsTable(s.ledger, { vkeys: [s.keys.verifierKey] });
      assert.deepEqual(brief(report.findings), ['table:checkpoint_edited@8']);
      assert.match(report.findings[0]!.message, /chain_hash/);
      await s.ledger.store.run('UPDATE checkpoints SET chain_hash = ? WHERE id = ?', [at8!.chain_hash, at8!.id]);
      assert.deepEqual((await s.verify()).findings, []);
    });

    it('a forged cosignature stored with a checkpoint is invalid_cosignature in the table', async () => {
      const s = await setup();
      const [row] = await s.ledger.store.query<{ id: number; cosignatures: unknown }>('SELECT id, cosignatures FROM checkpoints ORDER BY id DESC LIMIT 1');
      const stored = (typeof row!.cosignatures === 'string' ? JSON.parse(row!.cosignatures) : row!.cosignatures) as Array<{ sink: string; line: string }>;
      assert.equal(stored.length, 1);
      const keyId = CosignatureVerifier.fromKey(s.w.verifierKey).keyId;
      const forgedLine = signatureLine('witness.example/w1', keyId, randomBytes(72));
      await s.ledger.store.run('UPDATE checkpoints SET cosignatures = ? WHERE id = ?', [JSON.stringify([{ sink: stored[0]!.sink, line: forgedLine }]), row!.id]);
      const report = await s.verify();
      assert.deepEqual(brief(report.findings), ['table:invalid_cosignature@8']);
      await s.ledger.store.run('UPDATE checkpoints SET cosignatures = ? WHERE id = ?', [JSON.stringify([{ sink: stored[0]!.sink, line: 'not a signature line' }]), row!.id]);
      assert.deepEqual(brief((await s.verify()).findings), ['table:invalid_cosignature@8'], 'garbage is a finding, not a crash');
    });

    it('publishing never lets an edited or unsigned row leave the database', async () => {
      const s = await setup();
      await appendEvents(s.ledger, 2, 'y');
      const cp = await s.ledger.checkpoint(s.keys.signer);
      const fileSink = s.file;
      await s.ledger.store.run('UPDATE checkpoints SET root = ? WHERE id = ?', [randomBytes(32), cp.id]);
      let report = await publishPending(s.ledger, [fileSink], { vkeys: [s.keys.verifierKey] });
      assert.deepEqual(report.results.map((r) => [r.status, r.error?.code]), [['failed', 'integrity_failure']]);
      const forger = logKeys(s.keys.origin);
      const forgedNote = (await issueCheckpoint(await ledgerOf(await backend.freshUrl(), 10), forger.signer)).checkpoint.note;
      await s.ledger.store.run('UPDATE checkpoints SET root = ?, note = ? WHERE id = ?', [cp.root, forgedNote, cp.id]);
      report = await publishPending(s.ledger, [fileSink], { vkeys: [s.keys.verifierKey] });
      assert.deepEqual(report.results.map((r) => [r.status, r.error?.code]), [['failed', 'invalid_signature']]);
      report = await publishPending(s.ledger, [fileSink]);
      assert.deepEqual(report.results.map((r) => [r.status, r.error?.code]), [['failed', 'key_unavailable']], 'no keys: nothing pending is published');
      const lines = readFileSync(fileSink.slice('file:'.length), 'utf8').trimEnd().split('\n');
      assert.deepEqual(lines.map((l) => JSON.parse(l).seq), [4, 8]);
    });

    it('roots are recomputed from the entries: a lazy re-chain with stale Merkle storage is caught by a witness-only sink', async () => {
      const s = await setup();
      const states = await recomputeStates(s.ledger, [0, 1, 4, 8, 8, 99]);
      assert.deepEqual(states.states.map((x) => x.size), [0, 1, 4, 8]);
      for (const st of states.states.slice(1)) {
        assert.deepEqual(st.root, await s.ledger.rootAt(st.size));
        assert.deepEqual(st.chainHash, (await s.ledger.entry(st.size))!.chainHash);
      }
      await lazyRechain(s.ledger.store, 6, { n: 6, user: 'someone-else' });
      const witnessOnly = await verifyAgainstSinks(s.ledger, { sinks: [`witness:${s.w.url}`], vkeys: [s.keys.verifierKey], checkpointsTable: false, ...s.opts });
      assert.deepEqual(brief(witnessOnly.findings), ['re_chained@8']);
      const all = await s.verify();
      assert.deepEqual(brief(all.findings), ['re_chained@8', 're_chained@8', 'table:re_chained@8']);
    });
  });
}

describe('sinks that cannot be read are findings', () => {
  it('a missing or emptied file, a file missing its last acknowledged record; a webhook answering 404 is not checkable, not a finding', async () => {
    const keys = logKeys();
    const ledger = await ledgerOf(await BACKENDS[0]!.freshUrl(), 3);
    const dir = tempDir();
    const path = join(dir, 'c.jsonl');
    const verify = (sinks: string[], extra = {}) => verifyAgainstSinks(ledger, { sinks, vkeys: [keys.verifierKey], retry: FAST_RETRY, ...extra });

    // Before any checkpoint exists, an absent sink holds exactly what it should: nothing.
    assert.deepEqual((await verify([`file:${path}`])).findings, []);
    await issueCheckpoint(ledger, keys.signer, { sinks: [`file:${path}`] });
    await appendEvents(ledger, 2, 'm');
    await issueCheckpoint(ledger, keys.signer, { sinks: [`file:${path}`] });
    assert.deepEqual((await verify([`file:${path}`])).findings, []);

    const misspelled = await verify([`file:${join(dir, 'checkpoint.jsonl')}`]);
    assert.deepEqual(brief(misspelled.findings), ['sink_unreadable@null']);
    assert.deepEqual((await verify([`file:${join(dir, 'checkpoint.jsonl')}`], { allowNeverPublished: true })).findings, []);

    const text = readFileSync(path, 'utf8');
    writeFileSync(path, `${text.split('\n')[0]}\n`);
    assert.deepEqual(brief((await verify([`file:${path}`])).findings), ['sink_incomplete@5']);
    writeFileSync(path, '');
    assert.deepEqual(brief((await verify([`file:${path}`])).findings), ['sink_incomplete@5']);
    rmSync(path);
    assert.deepEqual(brief((await verify([`file:${path}`])).findings), ['sink_unreadable@5']);

    const server = createServer((_req, res) => res.writeHead(404).end());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const hook = `webhook:http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
    const writeOnly = await verify([hook]);
    assert.deepEqual(writeOnly.findings, []);
    assert.deepEqual(
      writeOnly.notCheckable.map((u) => [u.sink, u.kind]),
      [[hook, 'webhook']],
    );
  });
});

describe('a witness that forgot the log, and the witnessVkeys setting', () => {
  it('a witness holding nothing for a log it acknowledged is sink_incomplete', async () => {
    const keys = logKeys();
    const ledger = await ledgerOf(await BACKENDS[0]!.freshUrl(), 5);
    const w = await witness([keys.verifierKey]);
    const opts = { retry: FAST_RETRY, witnessKeys: [w.witnessKey] };
    assert.ok((await issueCheckpoint(ledger, keys.signer, { sinks: [`witness:${w.url}`], ...opts })).publish.ok);
    const state = new Database(w.statePath);
    state.prepare('DELETE FROM witness_state').run();
    state.close();
    const report = await verifyAgainstSinks(ledger, { sinks: [`witness:${w.url}`], vkeys: [keys.verifierKey], ...opts });
    assert.deepEqual(brief(report.findings), ['sink_incomplete@5']);
  });

  it('comes from --witness-vkey, SEALTRAIL_WITNESS_VKEYS or the config file, with its source; a bad value names the key', () => {
    const cwd = tempDir();
    const vkey = generateCosignerKey('witness.example/w1').verifierKey;
    const bound = `${vkey}@https://witness.example/w1/`;
    writeFileSync(join(cwd, 'sealtrail.config.json'), JSON.stringify({ witnessVkeys: [vkey] }));
    const fromFile = resolveConfig({ flags: {}, env: {}, cwd });
    assert.deepEqual([fromFile.witnessVkeys, fromFile.sources.witnessVkeys], [[vkey], 'file']);
    const fromEnv = resolveConfig({ flags: {}, env: { SEALTRAIL_WITNESS_VKEYS: `${vkey}, ${bound}` }, cwd });
    assert.deepEqual([fromEnv.witnessVkeys, fromEnv.sources.witnessVkeys], [[vkey, bound], 'env']);
    const fromFlag = resolveConfig({ flags: { witnessVkey: [bound] }, env: { SEALTRAIL_WITNESS_VKEYS: vkey }, cwd });
    assert.deepEqual([fromFlag.witnessVkeys, fromFlag.sources.witnessVkeys], [[bound], 'flag']);
    assert.throws(
      () => resolveConfig({ flags: {}, env: { SEALTRAIL_WITNESS_VKEYS: `${vkey}@ftp://x` }, cwd }),
      (err: unknown) => err instanceof SealtrailError && err.code === 'config_invalid' && /SEALTRAIL_WITNESS_VKEYS/.test(err.message),
    );
  });
});
