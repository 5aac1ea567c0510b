import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatCheckpoint, openCheckpoint, parseCheckpoint, signCheckpoint } from '../../src/core/checkpoint.js';
import { NoteSigner, NoteVerifier, generateSignerKey } from '../../src/core/note.js';
import { isSealtrailError, type ErrorCode } from '../../src/core/errors.js';

const isCode = (code: ErrorCode) => (e: unknown) => isSealtrailError(e, code);
const root = Buffer.from('0a c5 18 6a 91 86 3e 8e 1d 90 c8 08 01 4a a8 9b f5 da 8e 3e e1 d9 f0 76 30 f0 37 8f 68 f1 ab 62'.replace(/ /g, ''), 'hex');

test('formats and parses the tlog-checkpoint spec example body', () => {
  const body = 'example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n';
  assert.equal(formatCheckpoint({ origin: 'example.com/behind-the-sofa', size: 20852163, rootHash: root }), body);
  assert.deepEqual(parseCheckpoint(body), { origin: 'example.com/behind-the-sofa', size: 20852163, rootHash: root, extensions: [] });
  const withExt = formatCheckpoint({ origin: 'o', size: 0n, rootHash: root, extensions: ['ext one', 'two'] });
  assert.deepEqual(parseCheckpoint(withExt).extensions, ['ext one', 'two']);
});

test('parsing is strict', () => {
  const good = 'o\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n';
  const bad = [
    good.slice(0, -1),
    'o\n5\n',
    '\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n',
    'o\n05\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n',
    'o\n+5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n',
    'o\n-1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n',
    'o\n9007199254740992\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n',
    'o\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I\n',
    'o\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2J=\n',
    'o\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxqw==\n',
    `${good}\n`,
  ];
  assert.equal(parseCheckpoint(good).size, 5);
  assert.equal(parseCheckpoint('o\n0\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n').size, 0);
  for (const text of bad) assert.throws(() => parseCheckpoint(text), isCode('invalid_note'), JSON.stringify(text));
  assert.throws(() => formatCheckpoint({ origin: 'a\nb', size: 1, rootHash: root }), isCode('invalid_argument'));
  assert.throws(() => formatCheckpoint({ origin: 'o', size: -1, rootHash: root }), isCode('invalid_argument'));
  assert.throws(() => formatCheckpoint({ origin: 'o', size: 1, rootHash: root.subarray(1) }), isCode('invalid_argument'));
  assert.throws(() => formatCheckpoint({ origin: 'o', size: 1, rootHash: root, extensions: [''] }), isCode('invalid_argument'));
});

test('signCheckpoint and openCheckpoint round-trip; tampering with the size fails', () => {
  const keys = generateSignerKey('log.example');
  const note = signCheckpoint({ origin: 'log.example', size: 42, rootHash: root }, [NoteSigner.fromKey(keys.signerKey)]);
  const verifier = NoteVerifier.fromKey(keys.verifierKey);
  const { checkpoint, note: opened } = openCheckpoint(note, [verifier]);
  assert.deepEqual(checkpoint, { origin: 'log.example', size: 42, rootHash: root, extensions: [] });
  assert.deepEqual(opened.verifiedBy, [verifier]);
  assert.throws(() => openCheckpoint(note.replace('\n42\n', '\n43\n'), [verifier]), isCode('invalid_signature'));
});
