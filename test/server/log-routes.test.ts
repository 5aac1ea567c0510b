/**
 * The /log/ C2SP tlog-tiles reads over real HTTP, checked the way an independent tlog client
 * would: only fetch and node:crypto (no sealtrail code) verify the checkpoint note with the
 * verifier key, rebuild the tree from the tiles and entry bundles, and check inclusion proofs.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createPublicKey, verify } from 'node:crypto';
import http from 'node:http';
import { generateSignerKey, NoteSigner } from '../../src/core/note.js';
import { postgresUrl, sqliteUrl } from '../helpers/databases.js';
import { startApi, type Api } from './api-client.js';

const BACKENDS = [
  ['sqlite', async () => sqliteUrl()],
  ['postgres', () => postgresUrl()],
] as const;

// ---- the independent client: fetch + node:crypto only ----

const sha256 = (...parts: Uint8Array[]) => createHash('sha256').update(Buffer.concat(parts)).digest();
const leafHashOf = (entry: Uint8Array) => sha256(Buffer.from([0]), entry);
const nodeHashOf = (l: Uint8Array, r: Uint8Array) => sha256(Buffer.from([1]), l, r);

/** RFC 6962 MTH of a list of leaf hashes. */
function mth(leaves: Buffer[]): Buffer {
  if (leaves.length === 0) return sha256();
  if (leaves.length === 1) return leaves[0]!;
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return nodeHashOf(mth(leaves.slice(0, k)), mth(leaves.slice(k)));
}

/** RFC 6962 PATH(m, D[n]). */
function path(m: number, leaves: Buffer[]): Buffer[] {
  if (leaves.length <= 1) return [];
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return m < k ? [...path(m, leaves.slice(0, k)), mth(leaves.slice(k))] : [...path(m - k, leaves.slice(k)), mth(leaves.slice(0, k))];
}

/** RFC 9162 §2.1.3.2: the root an inclusion proof leads to. */
function rootFromProof(index: number, size: number, leaf: Buffer, proof: Buffer[]): Buffer | null {
  if (index >= size) return null;
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0) return null;
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHashOf(p, r);
      while (fn % 2 === 0 && fn !== 0) {
        fn = Math.floor(fn / 2);
        sn = Math.floor(sn / 2);
      }
    } else {
      r = nodeHashOf(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 ? r : null;
}

/** Checks a C2SP signed note against a vkey (`name+hash+base64(0x01 ‖ Ed25519 key)`); returns its text. */
function openNote(note: string, vkey: string): string {
  // The key data is base64, which may itself hold '+'.
  const [name, hashHex, ...rest] = vkey.split('+') as [string, string, ...string[]];
  const keyB64 = rest.join('+');
  const key = Buffer.from(keyB64, 'base64');
  assert.equal(key[0], 0x01, 'an Ed25519 verifier key');
  assert.equal(sha256(Buffer.from(`${name}\n`), key).subarray(0, 4).toString('hex'), hashHex);
  const split = note.indexOf('\n\n');
  const text = note.slice(0, split + 1);
  const lines = note.slice(split + 2).split('\n').filter((l) => l !== '');
  const pub = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: key.subarray(1).toString('base64url') }, format: 'jwk' });
  const ok = lines.some((line) => {
    const m = /^\u2014 (\S+) (\S+)$/.exec(line);
    if (!m || m[1] !== name) return false;
    const sig = Buffer.from(m[2]!, 'base64');
    return sig.subarray(0, 4).toString('hex') === hashHex && verify(null, Buffer.from(text, 'utf8'), pub, sig.subarray(4));
  });
  assert.ok(ok, 'the checkpoint note carries a valid signature of the vkey');
  return text;
}

/** `1234067` → `x001/x234/067` (C2SP tlog-tiles). */
function encodeIndex(n: number): string {
  const groups: string[] = [];
  do {
    groups.unshift(String(n % 1000).padStart(3, '0'));
    n = Math.floor(n / 1000);
  } while (n > 0);
  return groups.map((g, i) => (i < groups.length - 1 ? `x${g}` : g)).join('/');
}

async function get(base: string, p: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; bytes: Buffer }> {
  const r = await fetch(`${base}${p}`, { headers });
  return { status: r.status, headers: r.headers, bytes: Buffer.from(await r.arrayBuffer()) };
}

async function tileBytes(base: string, p: string): Promise<Buffer> {
  const r = await get(base, p);
  assert.equal(r.status, 200, `${p}: ${r.bytes.toString()}`);
  assert.equal(r.headers.get('content-type'), 'application/octet-stream');
  assert.equal(r.headers.get('access-control-allow-origin'), '*');
  const full = !p.includes('.p/');
  assert.equal(r.headers.get('cache-control'), full ? 'public, max-age=31536000, immutable' : 'public, max-age=60', p);
  return r.bytes;
}

/**
 * What an independent client does: read and verify the checkpoint, fetch every tile and bundle of
 * its tree, check each level against the one below, rebuild the root and check inclusion proofs.
 */
async function auditLog(base: string, vkey: string, proofIndexes: number[]): Promise<{ size: number; root: Buffer; leaves: Buffer[]; entries: Buffer[] }> {
  const cp = await get(base, '/log/checkpoint');
  assert.equal(cp.status, 200);
  assert.equal(cp.headers.get('content-type'), 'text/plain; charset=utf-8');
  assert.equal(cp.headers.get('cache-control'), 'no-cache');
  assert.equal(cp.headers.get('access-control-allow-origin'), '*');
  const [, sizeLine, rootLine] = openNote(cp.bytes.toString('utf8'), vkey).split('\n');
  const size = Number(sizeLine);
  const root = Buffer.from(rootLine!, 'base64');
  const leaves: Buffer[] = [];
  const entries: Buffer[] = [];
  const suffix = (count: number, index: number) => (index < Math.floor(count / 256) ? '' : `.p/${count % 256}`);
  // Level 0 and the entry bundles.
  for (let i = 0; i * 256 < size; i++) {
    const hashes = await tileBytes(base, `/log/tile/0/${encodeIndex(i)}${suffix(size, i)}`);
    const bundle = await tileBytes(base, `/log/tile/entries/${encodeIndex(i)}${suffix(size, i)}`);
    const width = Math.min(256, size - i * 256);
    assert.equal(hashes.length, width * 32);
    let at = 0;
    for (let k = 0; k < width; k++) {
      const len = bundle.readUInt16BE(at);
      const entry = bundle.subarray(at + 2, at + 2 + len);
      at += 2 + len;
      assert.deepEqual(leafHashOf(entry), hashes.subarray(k * 32, k * 32 + 32), `entry ${i * 256 + k} hashes to its level-0 hash`);
      entries.push(entry);
      leaves.push(hashes.subarray(k * 32, k * 32 + 32));
    }
    assert.equal(at, bundle.length, 'the bundle holds exactly the tile width of entries');
  }
  // Every higher level: each hash is the root of a full tile of the level below.
  let below = leaves;
  for (let level = 1; Math.floor(size / 256 ** level) > 0; level++) {
    const count = Math.floor(size / 256 ** level);
    const hashes: Buffer[] = [];
    for (let i = 0; i * 256 < count; i++) {
      const bytes = await tileBytes(base, `/log/tile/${level}/${encodeIndex(i)}${suffix(count, i)}`);
      for (let k = 0; k < bytes.length / 32; k++) hashes.push(bytes.subarray(k * 32, k * 32 + 32));
    }
    assert.equal(hashes.length, count);
    hashes.forEach((h, j) => assert.deepEqual(h, mth(below.slice(j * 256, j * 256 + 256)), `level ${level} hash ${j}`));
    below = hashes;
  }
  assert.deepEqual(mth(leaves), root, 'the tiles rebuild the checkpoint root');
  for (const index of proofIndexes) {
    const proof = path(index, leaves);
    assert.deepEqual(rootFromProof(index, size, leafHashOf(entries[index]!), proof), root, `inclusion of entry ${index}`);
    const tampered = Buffer.from(entries[index]!);
    tampered[tampered.length - 1]! ^= 1;
    assert.equal(rootFromProof(index, size, leafHashOf(tampered), proof)?.equals(root) ?? false, false, 'an edited entry is not included');
  }
  return { size, root, leaves, entries };
}

/** A request with the path exactly as written (fetch would resolve dot segments first). */
function rawGet(base: string, rawPath: string): Promise<{ status: number; type: string; body: string }> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, path: rawPath, method: 'GET' }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? ''), body }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function appendMany(api: Api, from: number, count: number): Promise<void> {
  await api.ledger.appendBatch(Array.from({ length: count }, (_, i) => ({ kind: 'log-test', pk: `e-${from + i}`, payload: { n: from + i, note: 'x'.repeat((from + i) % 40) } })));
}

for (const [backend, makeUrl] of BACKENDS) {
  describe(`/log/ tlog-tiles reads on ${backend}`, () => {
    let api: Api;
    const keys = generateSignerKey('example.com/log-test');
    const signer = NoteSigner.fromKey(keys.signerKey);
    before(async () => {
      api = await startApi(await makeUrl(), { publicLog: true });
    });
    after(async () => {
      await api.close();
    });

    it('answers 404 before the first checkpoint, then serves a tree an independent client rebuilds and proves entries in', async () => {
      await appendMany(api, 0, 600);
      assert.equal((await api.request('GET', '/log/checkpoint', { token: null })).status, 404);
      assert.equal((await api.request('GET', '/log/tile/0/000', { token: null })).status, 404, 'no tile before a checkpoint');
      await api.ledger.checkpoint(signer);
      // The ledger's tokens (4 token events) are entries too.
      const head = await api.ledger.head();
      const audited = await auditLog(api.base, keys.verifierKey, [0, 1, 255, 256, 300, head.size - 1]);
      assert.equal(audited.size, head.size);
      assert.deepEqual(audited.root, head.root);
      // Level 1 exists (two full level-0 tiles), so the higher-level check above ran.
      assert.ok(audited.size >= 512);
      // The client's proof equals the server's own.
      const proof = await api.request('GET', '/api/entries/301/proof', { token: api.tokens.reader, headers: { accept: 'application/json' } });
      assert.deepEqual(
        (proof.json as { proof: string[] }).proof.map((p) => Buffer.from(p, 'base64')),
        path(300, audited.leaves),
      );
      // Documented responses (the test client checks each against /openapi.json).
      for (const p of ['/log/checkpoint', '/log/tile/0/000', '/log/tile/entries/000', `/log/tile/0/002.p/${audited.size % 256}`]) {
        assert.equal((await api.request('GET', p, { token: null })).status, 200, p);
      }
    });

    it('serves the tree of the latest signed checkpoint, not the head: newer tiles are 404 until signed, older partial widths stay', async () => {
      const before = await api.ledger.head();
      const oldWidth = before.size % 256;
      await appendMany(api, 10_000, 300);
      const head = await api.ledger.head();
      const newPartial = `/log/tile/0/${encodeIndex(Math.floor(head.size / 256))}.p/${head.size % 256}`;
      assert.equal((await api.request('GET', newPartial, { token: null })).status, 404, 'beyond the signed tree');
      assert.equal((await api.request('GET', '/log/tile/0/002', { token: null })).status, 404, 'the tile is full only in the unsigned tree');
      assert.equal((await api.request('GET', `/log/tile/entries/002.p/${oldWidth + 1}`, { token: null })).status, 404, 'a width beyond the checkpoint');
      await api.ledger.checkpoint(signer);
      assert.equal((await api.request('GET', newPartial, { token: null })).status, 200);
      // A client that read the previous checkpoint still gets its (content-fixed) partial tile.
      const old = await get(api.base, `/log/tile/0/002.p/${oldWidth}`);
      assert.equal(old.status, 200);
      const full = await get(api.base, '/log/tile/0/002');
      assert.deepEqual(old.bytes, full.bytes.subarray(0, oldWidth * 32), 'a partial tile is a prefix of the full one');
      const audited = await auditLog(api.base, keys.verifierKey, [0, 511, 512, head.size - 1]);
      assert.equal(audited.size, head.size);
      assert.deepEqual(audited.root, head.root);
      assert.equal((await api.request('GET', `/log/tile/3/000.p/1`, { token: null })).status, 404, 'a level the tree does not reach');
    });

    it('refuses malformed, non-canonical and traversal paths with a 4xx problem', async () => {
      const bad = [
        '/log/tile/0/0',
        '/log/tile/0/0000',
        '/log/tile/0/x000/001',
        '/log/tile/0/x001',
        '/log/tile/0/000.p/0',
        '/log/tile/0/000.p/256',
        '/log/tile/0/000.p/007',
        '/log/tile/0/000.p/',
        '/log/tile/64/000',
        '/log/tile/00/000',
        '/log/tile/entries/',
        '/log/tile/',
        '/log/tile/-1/000',
      ];
      for (const p of bad) {
        const r = await api.request('GET', p, { token: null });
        assert.ok(r.status === 400 || r.status === 404, `${p}: ${r.status}`);
        assert.match(r.headers.get('content-type') ?? '', /^application\/problem\+json/, p);
      }
      const traversal = [
        '/log/tile/../checkpoint',
        '/log/tile/../../../../etc/passwd',
        '/log/tile/0/../../checkpoint',
        '/log/tile/0/%2e%2e/%2e%2e/checkpoint',
        '/log/tile/0/..%2f..%2fcheckpoint',
        '/log/tile/0//000',
        '/log/tile/0/000%00',
        '/log/tile/0\\000',
        '/log/tile/entries/..%5c000',
      ];
      for (const p of traversal) {
        const r = await rawGet(api.base, p);
        assert.ok(r.status === 400 || r.status === 404, `${p}: ${r.status}`);
        assert.match(r.type, /^application\/problem\+json/, p);
        assert.ok(!r.body.includes('example.com/log-test') && !r.body.includes('root:'), `${p} serves no file`);
      }
    });
  });

  describe(`/log/ authentication on ${backend}`, () => {
    it('needs the reader role unless server.publicLog is on', async () => {
      const api = await startApi(await makeUrl());
      try {
        await api.ledger.append('log-auth', 'one', { n: 1 });
        await api.ledger.checkpoint(NoteSigner.fromKey(generateSignerKey('example.com/log-auth').signerKey));
        for (const p of ['/log/checkpoint', '/log/tile/0/000.p/1', '/log/tile/entries/000.p/1']) {
          const anonymous = await api.request('GET', p, { token: null });
          assert.equal(anonymous.status, 401, p);
          assert.match(anonymous.headers.get('www-authenticate') ?? '', /^Bearer/);
          assert.equal((await api.request('GET', p, { token: api.tokens.revoked })).status, 401, p);
          for (const role of ['reader', 'writer', 'admin'] as const) assert.equal((await api.request('GET', p, { token: api.tokens[role] })).status, 200, `${p} as ${role}`);
        }
        const doc = (await api.request('GET', '/openapi.json', { token: null })).json as { paths: Record<string, { get: { 'x-sealtrail-role': string } }> };
        assert.equal(doc.paths['/log/checkpoint']!.get['x-sealtrail-role'], 'reader');
      } finally {
        await api.close();
      }
      const open = await startApi(await makeUrl(), { publicLog: true });
      try {
        await open.ledger.append('log-auth', 'one', { n: 1 });
        await open.ledger.checkpoint(NoteSigner.fromKey(generateSignerKey('example.com/log-auth').signerKey));
        assert.equal((await open.request('GET', '/log/checkpoint', { token: null })).status, 200);
        assert.equal((await open.request('GET', '/log/tile/0/000.p/1', { token: null })).status, 200);
        assert.equal((await open.request('GET', '/api/head', { token: null })).status, 401, 'publicLog opens only /log/');
        const doc = (await open.request('GET', '/openapi.json', { token: null })).json as { paths: Record<string, { get: { 'x-sealtrail-role': string } }> };
        assert.equal(doc.paths['/log/tile/{*}']!.get['x-sealtrail-role'], 'open');
      } finally {
        await open.close();
      }
    });
  });
}
