import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatTlogProof, parseTlogProof, verifyTlogProof } from '../../src/core/tlog-proof.js';
import { signCheckpoint } from '../../src/core/checkpoint.js';
import { NoteSigner, NoteVerifier, generateSignerKey } from '../../src/core/note.js';
import { CosignatureSigner, CosignatureVerifier, cosign, generateCosignerKey } from '../../src/core/cosignature.js';
import { inclusionProof, leafHash, merkleRoot } from '../../src/core/merkle.js';
import { formatCheckpoint } from '../../src/core/checkpoint.js';
import { isSealtrailError, type ErrorCode } from '../../src/core/errors.js';

const isCode = (code: ErrorCode) => (e: unknown) => isSealtrailError(e, code);
const leaves = Array.from({ length: 11 }, (_, i) => leafHash(Buffer.from(`record ${i}`)));
const logKeys = generateSignerKey('log.example');
const witnessKeys = generateCosignerKey('witness.example');
const checkpoint = { origin: 'log.example', size: leaves.length, rootHash: merkleRoot(leaves) };
const checkpointNote =
  signCheckpoint(checkpoint, [NoteSigner.fromKey(logKeys.signerKey)]) +
  cosign(formatCheckpoint(checkpoint), CosignatureSigner.fromKey(witnessKeys.signerKey), 1_700_000_000);

test('format follows the spec layout, and parse inverts it', () => {
  const proof = inclusionProof(6, leaves);
  const text = formatTlogProof({ index: 6, inclusionProof: proof, checkpointNote, extra: Buffer.from('ctx') });
  const lines = text.split('\n');
  assert.deepEqual(lines.slice(0, 3), ['c2sp.org/tlog-proof@v1', 'extra Y3R4', 'index 6']);
  assert.deepEqual(lines.slice(3, 3 + proof.length), proof.map((h) => h.toString('base64')));
  assert.equal(lines[3 + proof.length], '');
  assert.ok(text.endsWith(`\n\n${checkpointNote}`));
  assert.deepEqual(parseTlogProof(text), { index: 6, inclusionProof: proof, checkpointNote, extra: Buffer.from('ctx') });
  const plain = formatTlogProof({ index: 0, inclusionProof: [], checkpointNote });
  assert.equal(plain, `c2sp.org/tlog-proof@v1\nindex 0\n\n${checkpointNote}`);
  assert.deepEqual(parseTlogProof(plain), { index: 0, inclusionProof: [], checkpointNote });
});

test('verifyTlogProof checks signatures then inclusion, for every index', () => {
  const log = NoteVerifier.fromKey(logKeys.verifierKey);
  const witness = CosignatureVerifier.fromKey(witnessKeys.verifierKey);
  for (let i = 0; i < leaves.length; i++) {
    const text = formatTlogProof({ index: i, inclusionProof: inclusionProof(i, leaves), checkpointNote });
    const result = verifyTlogProof(text, leaves[i]!, [log, witness]);
    assert.equal(result.ok, true);
    assert.equal(result.checkpoint.size, leaves.length);
    assert.equal(verifyTlogProof(text, leaves[(i + 1) % leaves.length]!, [log]).ok, false);
    assert.equal(verifyTlogProof(text, leaves[i]!, [witness]).ok, true, 'a witness alone is enough to open the note');
  }
  const text = formatTlogProof({ index: 3, inclusionProof: inclusionProof(3, leaves), checkpointNote });
  const stranger = NoteVerifier.fromKey(generateSignerKey('log.example').verifierKey);
  assert.throws(() => verifyTlogProof(text, leaves[3]!, [stranger]), isCode('invalid_signature'));
  assert.throws(() => verifyTlogProof(text.replace('\n11\n', '\n12\n'), leaves[3]!, [log]), isCode('invalid_signature'));
});

test('malformed proofs are invalid_proof', () => {
  const good = formatTlogProof({ index: 3, inclusionProof: inclusionProof(3, leaves), checkpointNote });
  const bad = [
    good.replace('c2sp.org/tlog-proof@v1', 'c2sp.org/tlog-proof@v2'),
    good.replace('index 3', 'index 03'),
    good.replace('index 3', 'index -3'),
    good.replace('index 3', 'idx 3'),
    good.replace('index 3\n', 'index 3\nnot-base64!\n'),
    good.replace('index 3\n', 'index 3\nAAAA\n'),
    good.replace('index 3\n', 'extra %%\nindex 3\n'),
    good.slice(0, good.indexOf('\n\n') + 2),
    good.replace('\n\n', '\n'),
  ];
  for (const text of bad) assert.throws(() => parseTlogProof(text), isCode('invalid_proof'), JSON.stringify(text.slice(0, 80)));
  assert.throws(() => formatTlogProof({ index: -1, inclusionProof: [], checkpointNote }), isCode('invalid_argument'));
});
