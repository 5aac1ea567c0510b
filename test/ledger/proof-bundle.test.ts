/** Offline proof bundles: what an auditor can check with only the bundle and a verifier key. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateSignerKey, NoteSigner } from '../../src/core/note.js';
import { formatTlogProof, parseTlogProof } from '../../src/core/tlog-proof.js';
import { isSealtrailError } from '../../src/core/errors.js';
import { openLedger } from '../../src/ledger/ledger.js';
import { checkProofBundle, formatProofBundle } from '../../src/ledger/proof-bundle.js';
import { sqliteUrl } from '../helpers/databases.js';

async function bundleFor(seq: number) {
  const ledger = await openLedger({ url: sqliteUrl() });
  await ledger.appendBatch(Array.from({ length: 11 }, (_, i) => ({ kind: 'deploy', pk: `d${i + 1}`, payload: { n: i + 1 } })));
  const keys = generateSignerKey('audit.example/log');
  const cp = await ledger.checkpoint(NoteSigner.fromKey(keys.signerKey));
  const text = formatProofBundle((await ledger.entry(seq))!, await ledger.proveInclusion(seq, cp.size), cp.note);
  await ledger.close();
  return { text, keys };
}

function withEntry(text: string, change: (entry: Record<string, unknown>) => void): string {
  const proof = parseTlogProof(text);
  const entry = JSON.parse(proof.extra!.toString('utf8')) as Record<string, unknown>;
  change(entry);
  return formatTlogProof({ ...proof, extra: Buffer.from(JSON.stringify(entry)) });
}

describe('proof bundles', () => {
  it('accept an intact bundle and name the entry and the checkpoint', async () => {
    const { text, keys } = await bundleFor(7);
    assert.deepEqual(checkProofBundle(text, [keys.verifierKey]), { ok: true, reason: null, seq: 7, kind: 'deploy', pk: 'd7', origin: 'audit.example/log', size: 11, inclusionOnly: false });
  });

  it('refuse an edited payload, a swapped entry and a garbled one', async () => {
    const { text, keys } = await bundleFor(7);
    const edited = withEntry(text, (e) => (e.payload = '{"n":70}'));
    assert.match(checkProofBundle(edited, [keys.verifierKey]).reason!, /payload does not match/);
    const renamed = withEntry(text, (e) => (e.pk = 'd8'));
    assert.match(checkProofBundle(renamed, [keys.verifierKey]).reason!, /inclusion proof/);
    const moved = withEntry(text, (e) => (e.seq = 8));
    assert.match(checkProofBundle(moved, [keys.verifierKey]).reason!, /index/);
    const garbled = withEntry(text, (e) => (e.event_hash = 'zz'));
    assert.match(checkProofBundle(garbled, [keys.verifierKey]).reason!, /not readable/);
  });

  it('throw a coded error when no trusted key signed the checkpoint', async () => {
    const { text } = await bundleFor(3);
    assert.throws(() => checkProofBundle(text, [generateSignerKey('audit.example/log').verifierKey]), (e) => isSealtrailError(e, 'invalid_signature'));
  });
});
