/**
 * The tiles sink (tiles:s3 against a real S3-compatible server on loopback, tiles:file) and
 * `sealtrail tiles export`: incremental publishing (only new or changed objects are written,
 * counted at the server), read-back by verifyAgainstSinks, tampering found on read-back and
 * refused on publish, and a C2SP-style client computing an inclusion proof from the exported
 * files that `sealtrail check-proof` accepts.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { issueCheckpoint, publishPending } from '../../src/anchor/publish.js';
import { verifyAgainstSinks } from '../../src/anchor/verify-sinks.js';
import { runMonitorCycle, type MonitorOptions } from '../../src/anchor/monitor.js';
import { exportTiles } from '../../src/anchor/tiles/export-tiles.js';
import { parseS3Target } from '../../src/anchor/tiles/s3-tile-storage.js';
import { openSink } from '../../src/anchor/sinks/index.js';
import { resolveConfig } from '../../src/cli/config.js';
import { openCheckpoint } from '../../src/core/checkpoint.js';
import { isSealtrailError } from '../../src/core/errors.js';
import { leafHash } from '../../src/core/merkle.js';
import { NoteVerifier } from '../../src/core/note.js';
import { formatTlogProof } from '../../src/core/tlog-proof.js';
import { changedTiles, decodeEntryBundle, decodeTile, entriesPath, inclusionProofFromTiles, tilePath, tilesForProof, type TileId } from '../../src/core/tlog-tiles.js';
import { ledgerLeafData } from '../../src/core/ledger-leaf.js';
import { tamper } from '../../src/ledger/tamper-simulator.js';
import { openLedger, type Ledger } from '../../src/ledger/ledger.js';
import { BACKENDS, tempDir } from '../helpers/databases.js';
import { S3_CREDENTIALS, startS3, type TestS3 } from '../helpers/s3-server.js';
import { FAST_RETRY, appendEvents, logKeys, seededLedger } from './helpers.js';

Object.assign(process.env, S3_CREDENTIALS);

let s3: TestS3;
let client: S3Client;
before(async () => {
  s3 = await startS3();
  client = new S3Client({ endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
});
const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const c of cleanups) await c();
  client.destroy();
  await s3.close();
});

let prefixes = 0;
function s3Spec(): { spec: string; prefix: string } {
  const prefix = `logs/run-${process.pid}-${++prefixes}`;
  return { spec: `tiles:s3://${s3.bucket}/${prefix}?endpoint=${s3.endpoint}`, prefix: `${prefix}/` };
}

/** The objects a publish from `from` to `to` entries must write: changed tiles, their entry bundles, the checkpoint. */
function expectedWrites(from: number, to: number): string[] {
  const tiles = changedTiles(from, to);
  return [...tiles.map((t) => tilePath(t)), ...tiles.filter((t) => t.level === 0).map((t) => entriesPath(t.index, t.width)), 'checkpoint'].sort();
}

async function getObject(key: string): Promise<Buffer> {
  const out = await client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: key }));
  return Buffer.from(await out.Body!.transformToByteArray());
}

async function putObject(key: string, body: Buffer): Promise<void> {
  await client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: key, Body: body }));
}

for (const backend of BACKENDS) {
  describe(`tiles sink on ${backend.name}`, () => {
    it('publishes incrementally to S3 and a directory, writing only new or changed objects; read back clean', async () => {
      const keys = logKeys();
      const ledger = await seededLedger(await backend.freshUrl(), 300);
      cleanups.push(() => ledger.close());
      const { spec, prefix } = s3Spec();
      const dir = tempDir();
      const sinks = [spec, `tiles:file:${dir}`];
      const putsFor = (from: number) => s3.puts.slice(from).filter((k) => k.startsWith(prefix)).map((k) => k.slice(prefix.length));

      let mark = s3.puts.length;
      const first = await issueCheckpoint(ledger, keys.signer, { sinks, retry: FAST_RETRY });
      assert.ok(first.publish.ok, JSON.stringify(first.publish.results));
      assert.deepEqual(putsFor(mark).sort(), expectedWrites(0, 300));

      await appendEvents(ledger, 250, 'b');
      mark = s3.puts.length;
      const second = await issueCheckpoint(ledger, keys.signer, { sinks, retry: FAST_RETRY });
      assert.ok(second.publish.ok, JSON.stringify(second.publish.results));
      // 300 → 550: level-0 tile 1 becomes full, a new partial 2 of 38, level-1 partial of 2, their bundles.
      assert.deepEqual(putsFor(mark).sort(), expectedWrites(300, 550));
      assert.equal(putsFor(mark).length, 6);

      await appendEvents(ledger, 5, 'c');
      mark = s3.puts.length;
      const third = await issueCheckpoint(ledger, keys.signer, { sinks, retry: FAST_RETRY });
      assert.ok(third.publish.ok, JSON.stringify(third.publish.results));
      // Inside one level-0 tile: its new partial and bundle, and the checkpoint.
      assert.deepEqual(putsFor(mark).sort(), ['checkpoint', 'tile/0/002.p/43', 'tile/entries/002.p/43']);
      // Every full tile is written once over the whole run.
      const all = s3.puts.filter((k) => k.startsWith(prefix) && !k.includes('.p/') && !k.endsWith('checkpoint'));
      assert.equal(new Set(all).size, all.length);

      // Nothing new: nothing written.
      mark = s3.puts.length;
      const again = await publishPending(ledger, sinks, { vkeys: [keys.verifierKey], retry: FAST_RETRY });
      assert.ok(again.ok);
      assert.deepEqual(putsFor(mark), []);

      const report = await verifyAgainstSinks(ledger, { sinks, vkeys: [keys.verifierKey], retry: FAST_RETRY });
      assert.deepEqual(report.findings, []);
      assert.equal(report.checked, 2);
      assert.deepEqual(report.sinks.map((s) => [s.kind, s.latestSize]), [['tiles', 555], ['tiles', 555]]);
      // The S3 object and the file are the same bytes, and the checkpoint is the stored note.
      assert.deepEqual(await getObject(`${prefix}tile/0/001`), readFileSync(join(dir, 'tile/0/001')));
      assert.equal((await getObject(`${prefix}checkpoint`)).toString('utf8'), third.checkpoint.note);
      // The spec holds no credential, and is the anchor_sinks key as given.
      const rows = await ledger.store.query<{ sink: string; label: string }>('SELECT sink, label FROM anchor_sinks ORDER BY sink');
      assert.ok(rows.some((r) => r.sink === spec));
      assert.ok(rows.every((r) => !`${r.sink}${r.label}`.includes('S3RVER')));
    });

    it('finds an edited tile, entry bundle or checkpoint on read-back, naming the first affected entry', async () => {
      const keys = logKeys();
      const ledger = await seededLedger(await backend.freshUrl(), 600);
      cleanups.push(() => ledger.close());
      const { spec, prefix } = s3Spec();
      assert.ok((await issueCheckpoint(ledger, keys.signer, { sinks: [spec], retry: FAST_RETRY })).publish.ok);
      const verify = async () => (await verifyAgainstSinks(ledger, { sinks: [spec], vkeys: [keys.verifierKey], retry: FAST_RETRY })).findings;
      assert.deepEqual(await verify(), []);

      // An entry in a full bundle: entry 300 is entry 43 (0-based) of bundle 1.
      const bundleKey = `${prefix}tile/entries/001`;
      const original = await getObject(bundleKey);
      const entries = decodeEntryBundle(original);
      const edited = Buffer.from(entries[43]!);
      edited[edited.length - 1]! ^= 1;
      entries[43] = edited;
      await putObject(bundleKey, Buffer.concat(entries.flatMap((e) => [Buffer.from([e.length >> 8, e.length & 0xff]), e])));
      let findings = await verify();
      assert.deepEqual(findings.map((f) => [f.reason, f.seq]), [['sink_edited', 300]]);
      await putObject(bundleKey, original);

      // A level-1 hash: hash 1 covers entries 257..512.
      const tileKey = `${prefix}tile/1/000.p/2`;
      const tile = await getObject(tileKey);
      const bad = Buffer.from(tile);
      bad[40]! ^= 1;
      await putObject(tileKey, bad);
      findings = await verify();
      assert.deepEqual(findings.map((f) => [f.reason, f.seq]), [['sink_edited', 257]]);
      await putObject(tileKey, tile);

      // A consistent set of tiles for other entries under a checkpoint that is not signed by the log.
      const note = (await getObject(`${prefix}checkpoint`)).toString('utf8');
      await putObject(`${prefix}checkpoint`, Buffer.from(note.replace(/\n— .*\n$/, '\n— example.com/audit AAAAAAAA\n')));
      findings = await verify();
      assert.ok(findings.some((f) => f.reason === 'invalid_note' || f.reason === 'invalid_signature' || f.reason === 'sink_edited'), JSON.stringify(findings));
      await putObject(`${prefix}checkpoint`, Buffer.from(note));
      assert.deepEqual(await verify(), []);

      // A deleted tile.
      const dir = tempDir();
      await exportTiles(ledger, dir, { vkeys: [keys.verifierKey] });
      rmSync(join(dir, 'tile/0/001'));
      const fileFindings = (await verifyAgainstSinks(ledger, { sinks: [`tiles:file:${dir}`], vkeys: [keys.verifierKey] })).findings;
      assert.deepEqual(fileFindings.map((f) => [f.reason, f.seq]), [['sink_edited', 257]]);
    });

    it('refuses to publish tiles of an edited ledger or over a tampered full tile, writing nothing', async () => {
      const keys = logKeys();
      const ledger = await seededLedger(await backend.freshUrl(), 520);
      cleanups.push(() => ledger.close());
      const dir = tempDir();
      const sink = `tiles:file:${dir}`;
      assert.ok((await issueCheckpoint(ledger, keys.signer, { sinks: [sink] })).publish.ok);

      // A full entry bundle edited, and the checkpoint removed so the next publish rebuilds everything.
      const bundle = readFileSync(join(dir, 'tile/entries/000'));
      bundle[bundle.length - 1]! ^= 1;
      writeFileSync(join(dir, 'tile/entries/000'), bundle);
      rmSync(join(dir, 'checkpoint'));
      await appendEvents(ledger, 3, 'x');
      const refused = await issueCheckpoint(ledger, keys.signer, { sinks: [sink] });
      assert.equal(refused.publish.results[0]!.status, 'failed');
      assert.equal(refused.publish.results[0]!.error?.code, 'tile_conflict');
      assert.equal(existsSync(join(dir, 'checkpoint')), false, 'the checkpoint is written only after every tile');
      assert.deepEqual(readFileSync(join(dir, 'tile/entries/000')), bundle, 'a content-fixed path is never overwritten');

      // An entry of the ledger edited after it was checkpointed: its tiles do not give the signed root.
      const other = tempDir();
      await tamper(ledger.store, { type: 'edit_event_hash', seq: 7 });
      await assert.rejects(
        () => exportTiles(ledger, other, { vkeys: [keys.verifierKey] }),
        (err) => isSealtrailError(err, 'integrity_failure'),
      );
      assert.equal(existsSync(join(other, 'tile')), false, 'nothing is written before the root is checked');
    });
  });
}

const mainTs = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const tsxLoader = import.meta.resolve('tsx');

function sealtrail(cwd: string, args: string[], env: Record<string, string> = {}): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', tsxLoader, mainTs, ...args], { cwd, env: { PATH: process.env['PATH'] ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

describe('sealtrail tiles export', () => {
  it('exports, is idempotent, writes only what changed, and serves a client an inclusion proof check-proof accepts', async () => {
    const dir = tempDir();
    const db = join(dir, 'ledger.db');
    const out = join(dir, 'public');
    const keys = logKeys('example.com/tiles');
    let ledger: Ledger = await seededLedger(db, 700);
    await ledger.checkpoint(keys.signer);
    await ledger.close();

    const run = (args: string[]) => sealtrail(dir, [...args, '--db', db, '--vkey', keys.verifierKey]);
    const first = await run(['tiles', 'export', out, '--json']);
    assert.equal(first.status, 0, first.stderr);
    const firstJson = JSON.parse(first.stdout) as { written: string[]; mode: string };
    assert.equal(firstJson.mode, 'full');
    assert.deepEqual([...firstJson.written].sort(), expectedWrites(0, 700));

    const again = await run(['tiles', 'export', out, '--json']);
    assert.equal(again.status, 0, again.stderr);
    assert.deepEqual((JSON.parse(again.stdout) as { written: string[] }).written, []);

    ledger = await openLedger({ url: db });
    await appendEvents(ledger, 100, 'n');
    await ledger.checkpoint(keys.signer);
    await ledger.close();
    const third = await run(['tiles', 'export', out, '--json']);
    assert.equal(third.status, 0, third.stderr);
    const thirdJson = JSON.parse(third.stdout) as { written: string[]; mode: string; from_size: number };
    assert.equal(thirdJson.mode, 'incremental');
    assert.equal(thirdJson.from_size, 700);
    assert.deepEqual([...thirdJson.written].sort(), expectedWrites(700, 800));

    // A client that knows only the directory and the log's key: checkpoint, then the tiles it needs.
    const note = readFileSync(join(out, 'checkpoint'), 'utf8');
    const { checkpoint } = openCheckpoint(note, [NoteVerifier.fromKey(keys.verifierKey)]);
    assert.equal(checkpoint.size, 800);
    const index = 517;
    const fetched = new Map<string, Buffer[]>();
    for (const id of tilesForProof(index, checkpoint.size)) fetched.set(tilePath(id), decodeTile(readFileSync(join(out, tilePath(id))), id.width));
    const read = (id: TileId) => fetched.get(tilePath(id))!;
    const proof = inclusionProofFromTiles(index, checkpoint.size, read);
    const bundleTile = Math.floor(index / 256);
    const bundle = decodeEntryBundle(readFileSync(join(out, entriesPath(bundleTile, 256))));
    const entry = bundle[index % 256]!;
    const leaf = leafHash(entry);

    // The entry is the ledger's leaf_data for seq 518.
    ledger = await openLedger({ url: db, migrate: false });
    const e = (await ledger.entry(index + 1))!;
    assert.deepEqual(entry, ledgerLeafData({ kind: e.kind, pk: e.pk, eventHash: e.eventHash, appendedAtMicros: e.appendedAtMicros }));
    await ledger.close();

    const proofFile = join(dir, 'proof.txt');
    writeFileSync(proofFile, formatTlogProof({ index, inclusionProof: proof, checkpointNote: note }));
    const checked = await sealtrail(dir, ['check-proof', proofFile, '--vkey', keys.verifierKey, '--leaf-hash', leaf.toString('hex')]);
    assert.equal(checked.status, 0, checked.stdout + checked.stderr);
    assert.match(checked.stdout, /ok \(inclusion only\)/);
    // The same proof for another leaf is refused.
    const wrong = await sealtrail(dir, ['check-proof', proofFile, '--vkey', keys.verifierKey, '--leaf-hash', leafHash(bundle[0]!).toString('hex')]);
    assert.equal(wrong.status, 1, wrong.stdout + wrong.stderr);

    // The export directory is a tiles sink as well: verify --against-sinks reads it back.
    const sink = `tiles:file:${out}`;
    const clean = await sealtrail(dir, ['verify', '--against-sinks', '--sink', sink, '--db', db, '--vkey', keys.verifierKey]);
    assert.equal(clean.status, 0, clean.stdout + clean.stderr);
    const tile = readFileSync(join(out, 'tile/0/001'));
    tile[0]! ^= 1;
    writeFileSync(join(out, 'tile/0/001'), tile);
    const caught = await sealtrail(dir, ['verify', '--against-sinks', '--sink', sink, '--db', db, '--vkey', keys.verifierKey]);
    assert.equal(caught.status, 1, caught.stdout + caught.stderr);
    assert.match(caught.stdout, /sink_edited at seq 257/);
  });

  it('refuses an export without a checkpoint or a trusted key, writing nothing', async () => {
    const dir = tempDir();
    const db = join(dir, 'ledger.db');
    const keys = logKeys('example.com/tiles');
    const ledger = await seededLedger(db, 3);
    await ledger.close();
    const none = await sealtrail(dir, ['tiles', 'export', join(dir, 'out'), '--db', db, '--vkey', keys.verifierKey]);
    assert.equal(none.status, 2, none.stderr);
    assert.match(none.stderr, /invalid_argument/);
    const l2 = await openLedger({ url: db });
    await l2.checkpoint(keys.signer);
    await l2.close();
    const unkeyed = await sealtrail(dir, ['tiles', 'export', join(dir, 'out'), '--db', db]);
    assert.equal(unkeyed.status, 2, unkeyed.stderr);
    assert.match(unkeyed.stderr, /key_unavailable/);
    const otherKey = logKeys('example.com/tiles');
    const untrusted = await sealtrail(dir, ['tiles', 'export', join(dir, 'out'), '--db', db, '--vkey', otherKey.verifierKey]);
    assert.equal(untrusted.status, 1, untrusted.stderr);
    assert.equal(existsSync(join(dir, 'out', 'checkpoint')), false);
  });
});

describe('tiles sink in the monitor', () => {
  it('publishes to a tiles sink on each cycle and raises a sink break for an edited tile', async () => {
    const keys = logKeys();
    const dir = tempDir();
    const ledger = await seededLedger(join(dir, 'ledger.db'), 260);
    cleanups.push(() => ledger.close());
    const { spec, prefix } = s3Spec();
    const options: MonitorOptions = { ledger, stateFile: join(dir, 'monitor.json'), intervalMs: 1, sinks: [spec], signers: [keys.signer], vkeys: [keys.verifierKey], retry: FAST_RETRY };
    const first = await runMonitorCycle(options);
    assert.equal(first.ok, true, JSON.stringify(first.breaks));
    assert.equal((await getObject(`${prefix}checkpoint`)).toString('utf8').split('\n')[1], '260');
    const tile = await getObject(`${prefix}tile/0/000`);
    tile[5]! ^= 1;
    await putObject(`${prefix}tile/0/000`, tile);
    const broken = await runMonitorCycle(options);
    assert.equal(broken.ok, false);
    assert.deepEqual(broken.breaks.map((b) => [b.source, b.reason, b.seq]), [['sinks', 'sink_edited', 1]]);
  });
});

describe('tiles sink failures', () => {
  it('a store refusing the credentials fails the sink with sink_failed; the secret is nowhere in the result or anchor_sinks', async () => {
    const keys = logKeys();
    const ledger = await seededLedger(join(tempDir(), 'ledger.db'), 5);
    cleanups.push(() => ledger.close());
    const { spec } = s3Spec();
    const secret = 'wrong-secret-0123456789abcdef';
    // s3rver knows one access key; another one is refused like a revoked key.
    Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'AKIAREVOKEDEXAMPLE', AWS_SECRET_ACCESS_KEY: secret });
    try {
      const result = await issueCheckpoint(ledger, keys.signer, { sinks: [spec], retry: FAST_RETRY });
      assert.equal(result.publish.results[0]!.status, 'failed');
      assert.equal(result.publish.results[0]!.error?.code, 'sink_failed');
      const rows = await ledger.store.query<Record<string, unknown>>('SELECT * FROM anchor_sinks');
      assert.ok(rows[0]!['last_error'], 'the failure is recorded');
      assert.ok(!JSON.stringify({ result, rows }).includes(secret));
    } finally {
      Object.assign(process.env, S3_CREDENTIALS);
    }
    // With the right credentials the same sink catches up.
    const retried = await publishPending(ledger, [spec], { vkeys: [keys.verifierKey], retry: FAST_RETRY });
    assert.ok(retried.ok, JSON.stringify(retried.results));
  });
});

describe('tiles sink specs', () => {
  it('parses tiles:s3 targets and refuses credentials, unknown options and bad buckets in the spec', () => {
    assert.deepEqual(parseS3Target('s3://audit-tiles/logs/main/?endpoint=http://127.0.0.1:9000&region=eu-west-1&path-style=true'), {
      bucket: 'audit-tiles',
      prefix: 'logs/main/',
      endpoint: 'http://127.0.0.1:9000',
      region: 'eu-west-1',
      forcePathStyle: true,
    });
    assert.deepEqual(parseS3Target('s3://audit-tiles'), { bucket: 'audit-tiles', prefix: '' });
    for (const bad of [
      's3://AKIAEXAMPLE:hunter2@audit-tiles/x',
      's3://audit-tiles/x?endpoint=http://AKIAEXAMPLE:hunter2@127.0.0.1:9000',
      's3://audit-tiles/x?token=hunter2',
      's3://audit-tiles/x?endpoint=ftp://host',
      's3://Bad_Bucket/x',
      's3://audit-tiles/../x',
      'https://audit-tiles/x',
    ]) {
      assert.throws(
        () => parseS3Target(bad),
        (err) => isSealtrailError(err, 'invalid_argument') && !`${err.message}${JSON.stringify(err.details)}`.includes('hunter2') && !`${err.message}${JSON.stringify(err.details)}`.includes('AKIA'),
        bad,
      );
    }
    assert.throws(() => openSink('tiles:ftp://x'), (err) => isSealtrailError(err, 'invalid_argument'));
    assert.equal(openSink('tiles:file:relative/dir').kind, 'tiles');
  });

  it('config accepts tiles:file (resolved) and tiles:s3 sinks, and refuses a bad one as config_invalid', () => {
    const cwd = tempDir();
    const config = resolveConfig({ flags: {}, env: { SEALTRAIL_SINKS: `tiles:file:public,tiles:s3://audit-tiles/p?endpoint=http://127.0.0.1:9000` }, cwd });
    assert.deepEqual(config.sinks, [`tiles:file:${join(cwd, 'public')}`, 'tiles:s3://audit-tiles/p?endpoint=http://127.0.0.1:9000']);
    assert.throws(
      () => resolveConfig({ flags: {}, env: { SEALTRAIL_SINKS: 'tiles:s3://k:secret@audit-tiles/p' }, cwd }),
      (err) => isSealtrailError(err, 'config_invalid') && !err.message.includes('secret'),
    );
    assert.throws(() => resolveConfig({ flags: {}, env: { SEALTRAIL_SINKS: 'tiles:/x' }, cwd }), (err) => isSealtrailError(err, 'config_invalid'));
  });
});
