import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatCheckpoint, openCheckpoint, openLogCheckpoint, parseCheckpoint, signCheckpoint } from '../../src/core/checkpoint.js';
import { CosignatureSigner, CosignatureVerifier, cosign, generateCosignerKey } from '../../src/core/cosignature.js';
import { NoteSigner, NoteVerifier, generateSignerKey, parseNote } from '../../src/core/note.js';
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

// The chain-hash extension line (docs/spec.md, "Checkpoints"): the worked example there.
const SPEC_SIGNER = NoteSigner.fromKey('PRIVATE+KEY+log.example/demo+436b4091+ARERERERERERERERERERERERERERERERERERERERERER');
const SPEC_VERIFIER = NoteVerifier.fromKey('log.example/demo+436b4091+AdBKsjJ0K7SrOhNovUYV5ObQIkq3GgFrr4UgozLJd4c3');
const ABC_ROOT = Buffer.from('36642e73c2540ab121e3a6bf9545b0a24982cd830eb13d3cd19de3ce6c021ec1', 'hex');
const CHAIN = Buffer.alloc(32, 0x5a);
const EXAMPLE_BODY = `log.example/demo\n3\nNmQuc8JUCrEh46a/lUWwokmCzYMOsT080Z3jzmwCHsE=\nsealtrail-chain-hash ${'5a'.repeat(32)}\n`;
const EXAMPLE_NOTE = `${EXAMPLE_BODY}\n— log.example/demo Q2tAkfZDntKOit3kxpIcr0r2u3z2qsIxGBwOO/NW8MPqV6HKnanZ+qWm4qeY3BjH8fHWOwYtGBTlaGo2HkeP/FCfEAo=\n`;

/**
 * What a Go verifier does with a checkpoint note, ported line for line so the test states Go's
 * behaviour rather than ours: golang.org/x/mod/sumdb/note (split at the last blank line, "— "
 * signature lines) and transparency-dev/formats log.Checkpoint.Unmarshal (three lines, the rest
 * returned unparsed as extension data).
 */
function goStyleOpen(note: string): { text: string; signatureNames: string[] } {
  const split = note.lastIndexOf('\n\n');
  if (split < 0 || !note.endsWith('\n')) throw new Error('malformed note');
  const signatureNames = note
    .slice(split + 2, -1)
    .split('\n')
    .map((line) => {
      const m = /^\u2014 (\S+) ([A-Za-z0-9+/=]+)$/.exec(line);
      if (!m) throw new Error('malformed signature line');
      return m[1]!;
    });
  return { text: note.slice(0, split + 1), signatureNames };
}

function goStyleUnmarshal(text: string): { origin: string; size: bigint; hash: Buffer; rest: string | null } {
  const parts = text.split('\n');
  const l = [...parts.slice(0, 3), parts.slice(3).join('\n')];
  if (parts.length < 4) throw new Error('invalid checkpoint - too few newlines');
  if (l[0] === '') throw new Error('invalid checkpoint - empty origin');
  if (!/^[0-9]+$/.test(l[1]!) || BigInt(l[1]!) >= 2n ** 64n) throw new Error('invalid checkpoint - size invalid');
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(l[2]!)) throw new Error('invalid checkpoint - invalid hash');
  return { origin: l[0]!, size: BigInt(l[1]!), hash: Buffer.from(l[2]!, 'base64'), rest: l[3]!.length > 0 ? l[3]! : null };
}

test('the chain hash is written as the first extension line, in the exact bytes of the spec example', () => {
  assert.equal(formatCheckpoint({ origin: 'log.example/demo', size: 3, rootHash: ABC_ROOT, chainHash: CHAIN }), EXAMPLE_BODY);
  assert.equal(signCheckpoint({ origin: 'log.example/demo', size: 3, rootHash: ABC_ROOT, chainHash: CHAIN }, [SPEC_SIGNER]), EXAMPLE_NOTE);
  assert.equal(
    formatCheckpoint({ origin: 'o', size: 1, rootHash: root, chainHash: CHAIN, extensions: ['other thing'] }),
    `o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\nsealtrail-chain-hash ${'5a'.repeat(32)}\nother thing\n`,
  );
  assert.deepEqual(parseCheckpoint(EXAMPLE_BODY), { origin: 'log.example/demo', size: 3, rootHash: ABC_ROOT, chainHash: CHAIN, extensions: [] });
  assert.throws(() => formatCheckpoint({ origin: 'o', size: 1, rootHash: root, chainHash: CHAIN.subarray(1) }), isCode('invalid_argument'));
  assert.throws(() => formatCheckpoint({ origin: 'o', size: 1, rootHash: root, extensions: [`sealtrail-chain-hash ${'5a'.repeat(32)}`] }), isCode('invalid_argument'));
});

test('a checkpoint with the chain-hash line verifies with the core note verifier and Go-style parsers accept it', () => {
  const opened = openCheckpoint(EXAMPLE_NOTE, [SPEC_VERIFIER]);
  assert.deepEqual(opened.checkpoint.chainHash, CHAIN);
  assert.deepEqual(opened.note.verifiedBy, [SPEC_VERIFIER]);
  assert.throws(() => openCheckpoint(EXAMPLE_NOTE.replace('5a5a\n', '5a5b\n'), [SPEC_VERIFIER]), isCode('invalid_signature'), 'the line is signed');

  const go = goStyleOpen(EXAMPLE_NOTE);
  assert.deepEqual(go.signatureNames, ['log.example/demo']);
  assert.equal(go.text, EXAMPLE_BODY);
  // The text Go would hand to its verifier is the text our signature covers.
  assert.ok(SPEC_VERIFIER.verify(Buffer.from(go.text), Buffer.from(EXAMPLE_NOTE.split(' ').pop()!, 'base64').subarray(4)));
  const tree = goStyleUnmarshal(go.text);
  assert.deepEqual(tree, { origin: 'log.example/demo', size: 3n, hash: ABC_ROOT, rest: `sealtrail-chain-hash ${'5a'.repeat(32)}\n` });
  // The same parsers read a plain checkpoint with no rest, so nothing else changed.
  assert.equal(goStyleUnmarshal(parseNote(signCheckpoint({ origin: 'o', size: 3, rootHash: ABC_ROOT }, [SPEC_SIGNER])).text).rest, null);
});

test('checkpoints without the line, and with other unknown extensions, still parse', () => {
  const plain = parseCheckpoint('o\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n');
  assert.equal('chainHash' in plain, false);
  const foreign = parseCheckpoint('o\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\nsomeone-else abc\n');
  assert.deepEqual([foreign.chainHash, foreign.extensions], [undefined, ['someone-else abc']]);
  const both = parseCheckpoint(`o\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\nsealtrail-chain-hash ${'00'.repeat(32)}\nx y z\n`);
  assert.deepEqual([both.chainHash, both.extensions], [Buffer.alloc(32), ['x y z']]);
  // Parse and format are inverse, so one tree head still has one text.
  const text = formatCheckpoint(both);
  assert.equal(text, `o\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\nsealtrail-chain-hash ${'00'.repeat(32)}\nx y z\n`);
});

test('a malformed, repeated or misplaced chain-hash line is invalid_note', () => {
  const head = 'o\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n';
  const hex = '5a'.repeat(32);
  const bad = [
    `${head}sealtrail-chain-hash ${hex.toUpperCase()}\n`,
    `${head}sealtrail-chain-hash ${hex.slice(2)}\n`,
    `${head}sealtrail-chain-hash ${hex}00\n`,
    `${head}sealtrail-chain-hash  ${hex}\n`,
    `${head}sealtrail-chain-hash ${hex} \n`,
    `${head}sealtrail-chain-hash\n`,
    `${head}sealtrail-chain-hash ${hex}\nsealtrail-chain-hash ${hex}\n`,
    `${head}other\nsealtrail-chain-hash ${hex}\n`,
  ];
  for (const text of bad) assert.throws(() => parseCheckpoint(text), isCode('invalid_note'), JSON.stringify(text));
  assert.deepEqual(parseCheckpoint(`${head}sealtrail-chain-hashes are nice\n`).extensions, ['sealtrail-chain-hashes are nice'], 'only the exact keyword is ours');
});

test('a witness cosignature covers the chain-hash line (tlog-cosignature signs every extension line)', () => {
  const witness = generateCosignerKey('witness.example/w1');
  const line = cosign(EXAMPLE_BODY, CosignatureSigner.fromKey(witness.signerKey), 1_704_164_645);
  const verifier = CosignatureVerifier.fromKey(witness.verifierKey);
  assert.deepEqual(openCheckpoint(EXAMPLE_NOTE + line, [verifier]).note.verifiedBy, [verifier]);
  assert.throws(() => openCheckpoint(EXAMPLE_NOTE.replace('5a5a\n', '5a5b\n') + line, [verifier]), isCode('invalid_signature'));
});

test('openLogCheckpoint accepts only the origin named by the signing key, or the one the caller expects', () => {
  const a = generateSignerKey('log.example/a');
  const signerA = NoteSigner.fromKey(a.signerKey);
  const verifierA = NoteVerifier.fromKey(a.verifierKey);
  const own = signCheckpoint({ origin: 'log.example/a', size: 1, rootHash: root }, [signerA]);
  const foreign = signCheckpoint({ origin: 'log.example/b', size: 1, rootHash: root }, [signerA]);
  assert.equal(openLogCheckpoint(own, [verifierA]).checkpoint.origin, 'log.example/a');
  assert.throws(() => openLogCheckpoint(foreign, [verifierA]), isCode('origin_mismatch'));
  assert.equal(openLogCheckpoint(foreign, [verifierA], { origin: 'log.example/b' }).checkpoint.origin, 'log.example/b');
  assert.throws(() => openLogCheckpoint(own, [verifierA], { origin: 'log.example/b' }), isCode('origin_mismatch'));
  // A second trusted key named after the origin does not help a checkpoint it did not sign.
  const b = generateSignerKey('log.example/b');
  assert.throws(() => openLogCheckpoint(foreign, [verifierA, NoteVerifier.fromKey(b.verifierKey)]), isCode('origin_mismatch'));
  assert.throws(() => openLogCheckpoint(own, [NoteVerifier.fromKey(b.verifierKey)]), isCode('invalid_signature'), 'signatures are checked first');
});
