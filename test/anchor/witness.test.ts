/** The tlog-witness: the spec's status codes over loopback HTTP, atomic state that survives a restart. */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { encodeBase64 } from '../../src/core/base64.js';
import { signCheckpoint } from '../../src/core/checkpoint.js';
import { CosignatureVerifier, verifyCosignature } from '../../src/core/cosignature.js';
import { consistencyProof, leafHash, merkleRoot } from '../../src/core/merkle.js';
import { parseNote } from '../../src/core/note.js';
import { tempDir } from '../helpers/databases.js';
import { logKeys, startTestWitness, type TestWitness } from './helpers.js';

const leaves = Array.from({ length: 20 }, (_, i) => leafHash(Buffer.from(`leaf ${i}`)));
const forkedLeaves = leaves.map((l, i) => (i === 3 ? leafHash(Buffer.from('forged')) : l));
const keys = logKeys('example.com/witnessed');

function note(size: number, tree = leaves, signer = keys.signer, origin = keys.origin): string {
  return signCheckpoint({ origin, size, rootHash: merkleRoot(tree.slice(0, size)) }, [signer]);
}

function body(old: number, size: number, tree = leaves, n = note(size, tree)): string {
  const proof = old > 0 && old < size ? consistencyProof(old, tree.slice(0, size)) : [];
  return `old ${old}\n${proof.map((h) => `${encodeBase64(h)}\n`).join('')}\n${n}`;
}

async function post(w: TestWitness, text: string): Promise<{ status: number; type: string; text: string }> {
  const res = await fetch(`${w.url}/add-checkpoint`, { method: 'POST', body: text });
  return { status: res.status, type: res.headers.get('content-type') ?? '', text: await res.text() };
}

const witnesses: TestWitness[] = [];
after(async () => {
  for (const w of witnesses) await w.close();
});

describe('tlog-witness server', () => {
  it('cosigns a first checkpoint, then only consistent larger ones, with verifiable cosignatures', async () => {
    const w = await startTestWitness([keys.verifierKey]);
    witnesses.push(w);
    const first = await post(w, body(0, 5));
    assert.equal(first.status, 200);
    const n5 = note(5);
    const { timeSeconds } = verifyCosignature(parseNote(n5).text, first.text.trimEnd(), CosignatureVerifier.fromKey(w.verifierKey));
    assert.ok(timeSeconds > 0n);
    assert.equal((await post(w, body(5, 9))).status, 200);
    assert.equal((await post(w, body(9, 9))).status, 200, 'the same tree again is fine');
  });

  it('answers 409 with its size as text/x.tlog.size when old is wrong, including a smaller tree after a larger one', async () => {
    const w = await startTestWitness([keys.verifierKey]);
    witnesses.push(w);
    assert.equal((await post(w, body(0, 10))).status, 200);
    const stale = await post(w, body(0, 7));
    assert.equal(stale.status, 409);
    assert.equal(stale.type, 'text/x.tlog.size');
    assert.equal(stale.text, '10\n');
    assert.equal((await post(w, body(4, 7))).status, 409);
  });

  it('refuses a fork: 422 when the proof does not verify, 409 for a different root at the same size', async () => {
    const w = await startTestWitness([keys.verifierKey]);
    witnesses.push(w);
    assert.equal((await post(w, body(0, 8))).status, 200);
    assert.equal((await post(w, body(8, 12, forkedLeaves))).status, 422);
    assert.equal((await post(w, body(8, 8, forkedLeaves))).status, 409);
    assert.equal((await post(w, body(8, 12))).status, 200, 'the honest tree still extends');
  });

  it('answers 404 for an unknown origin, 403 without a trusted signature, 400 for a malformed body, 405 for GET', async () => {
    const w = await startTestWitness([keys.verifierKey]);
    witnesses.push(w);
    const stranger = logKeys('example.com/other');
    assert.equal((await post(w, body(0, 3, leaves, note(3, leaves, stranger.signer, stranger.origin)))).status, 404);
    const impostor = logKeys(keys.origin);
    assert.equal((await post(w, body(0, 3, leaves, note(3, leaves, impostor.signer)))).status, 403);
    assert.equal((await post(w, `old 5\n\n${note(3)}`)).status, 400, 'old larger than the checkpoint');
    assert.equal((await post(w, `old x\n\n${note(3)}`)).status, 400);
    assert.equal((await post(w, `old 0\n${encodeBase64(leaves[0]!)}\n\n${note(3)}`)).status, 400, 'a proof with old 0');
    assert.equal((await fetch(`${w.url}/add-checkpoint`)).status, 405);
  });

  it('keeps its state across a restart: a restarted witness still refuses the smaller tree', async () => {
    const statePath = join(tempDir(), 'w.db');
    const w1 = await startTestWitness([keys.verifierKey], statePath);
    assert.equal((await post(w1, body(0, 15))).status, 200);
    await w1.close();
    const w2 = await startTestWitness([keys.verifierKey], statePath);
    witnesses.push(w2);
    const res = await post(w2, body(0, 6));
    assert.equal(res.status, 409);
    assert.equal(res.text, '15\n');
    const latest = await fetch(`${w2.url}/sealtrail/latest?origin=${encodeURIComponent(keys.origin)}`);
    assert.equal(latest.status, 200);
    assert.match(await latest.text(), /^example\.com\/witnessed\n15\n/);
  });

  it('never cosigns two different trees of one size under concurrent submissions', async () => {
    const w = await startTestWitness([keys.verifierKey]);
    witnesses.push(w);
    assert.equal((await post(w, body(0, 4))).status, 200);
    const results = await Promise.all([post(w, body(4, 10)), post(w, body(4, 10, forkedLeaves)), post(w, body(4, 16))]);
    const accepted = results.filter((r) => r.status === 200).length;
    assert.equal(accepted, 1, JSON.stringify(results.map((r) => r.status)));
  });
});
