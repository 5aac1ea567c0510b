import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { NoteSigner, NoteVerifier, generateSignerKey, openNote, parseNote, signNote } from '../../src/core/note.js';
import { isSealtrailError, type ErrorCode } from '../../src/core/errors.js';

const isCode = (code: ErrorCode) => (e: unknown) => isSealtrailError(e, code);

// c2sp.org/signed-note example (key and note as published with the spec).
const SPEC_VKEY = 'example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k';
const SPEC_NOTE =
  'This is an example message.\n\n' +
  '— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n';

// golang.org/x/mod/sumdb/note example: signer key, verifier key, and the note Go produces.
const GO_SKEY = 'PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz';
const GO_VKEY = 'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW';
const GO_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const GO_NOTE =
  GO_TEXT +
  '\n— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n';

function flipBitInBase64(note: string, lineStart: string): string {
  const at = note.indexOf(lineStart) + lineStart.length;
  const sig = Buffer.from(note.slice(at, note.indexOf('\n', at)), 'base64');
  sig[10]! ^= 0x01;
  return note.slice(0, at) + sig.toString('base64') + note.slice(note.indexOf('\n', at));
}

test('the signed-note spec example verifies; a one-bit change in text or signature does not', () => {
  const verifier = NoteVerifier.fromKey(SPEC_VKEY);
  assert.equal(verifier.name, 'example.com/foo');
  assert.equal(verifier.keyId, 0x530d903a);
  const opened = openNote(SPEC_NOTE, [verifier]);
  assert.equal(opened.text, 'This is an example message.\n');
  assert.deepEqual(opened.verifiedBy, [verifier]);
  assert.throws(() => openNote(SPEC_NOTE.replace('example message', 'example messagf'), [verifier]), isCode('invalid_signature'));
  assert.throws(() => openNote(flipBitInBase64(SPEC_NOTE, 'example.com/foo '), [verifier]), isCode('invalid_signature'));
});

test('signing with the Go reference key reproduces the Go reference note byte for byte', () => {
  const signer = NoteSigner.fromKey(GO_SKEY);
  assert.equal(signer.verifierKey, GO_VKEY);
  assert.equal(signNote(GO_TEXT, [signer]), GO_NOTE);
  assert.equal(openNote(GO_NOTE, [NoteVerifier.fromKey(GO_VKEY)]).text, GO_TEXT);
});

test('generated keys sign notes that verify, with several signers in order', () => {
  const a = generateSignerKey('log.example/a');
  const b = generateSignerKey('log.example/b');
  const signers = [NoteSigner.fromKey(a.signerKey), NoteSigner.fromKey(b.signerKey)];
  const note = signNote('hello\n\nworld\n', signers);
  const parsed = parseNote(note);
  assert.equal(parsed.text, 'hello\n\nworld\n');
  assert.deepEqual(parsed.signatures.map((s) => s.name), ['log.example/a', 'log.example/b']);
  const vb = NoteVerifier.fromKey(b.verifierKey);
  assert.deepEqual(openNote(note, [vb]).verifiedBy, [vb]);
});

test('unknown signers are ignored, and a note with no trusted signature is rejected', () => {
  const known = generateSignerKey('known');
  const stranger = generateSignerKey('stranger');
  // Same name as the known key but another key: must be ignored, not fail.
  const impostor = generateSignerKey('known');
  const note = signNote('x\n', [NoteSigner.fromKey(stranger.signerKey), NoteSigner.fromKey(impostor.signerKey), NoteSigner.fromKey(known.signerKey)]);
  assert.equal(openNote(note, [NoteVerifier.fromKey(known.verifierKey)]).verifiedBy.length, 1);
  assert.throws(() => openNote(note, [NoteVerifier.fromKey(generateSignerKey('other').verifierKey)]), isCode('invalid_signature'));
  assert.throws(() => openNote(note, []), isCode('invalid_signature'));
});

test('accepts 16 signatures and refuses more than 100', () => {
  const keys = Array.from({ length: 16 }, (_, i) => generateSignerKey(`w${i}`));
  const note = signNote('t\n', keys.map((k) => NoteSigner.fromKey(k.signerKey)));
  assert.equal(openNote(note, keys.map((k) => NoteVerifier.fromKey(k.verifierKey))).verifiedBy.length, 16);
  const line = note.split('\n').find((l) => l.startsWith('—'))!;
  const crowded = `t\n\n${`${line}\n`.repeat(101)}`;
  assert.throws(() => parseNote(crowded), isCode('invalid_note'));
});

test('malformed notes are invalid_note', () => {
  const line = GO_NOTE.slice(GO_TEXT.length + 1);
  const bad = [
    GO_TEXT, // no signatures
    GO_NOTE.slice(0, -1), // no final newline
    `${GO_TEXT}\n`, // blank line, no signature lines
    `${GO_TEXT}\n- PeterNeumann x08go\n`, // hyphen, not em dash
    `${GO_TEXT}\n— PeterNeumann\n`, // no signature
    `${GO_TEXT}\n— Peter+Neumann AAAAAAA=\n`, // '+' in name
    `${GO_TEXT}\n— PeterNeumann AAAA\n`, // shorter than key ID + 1 byte
    `${GO_TEXT}\n— PeterNeumann ${line.split(' ')[2]!.replace('=', '')}`, // unpadded base64
    `bell\x07\n\n${line}`, // control character
    `lone \ud800\n\n${line}`, // not valid UTF-8
  ];
  for (const note of bad) assert.throws(() => openNote(note, [NoteVerifier.fromKey(GO_VKEY)]), isCode('invalid_note'), JSON.stringify(note));
});

test('bad keys are invalid_key; signNote refuses text without final newline or signers', () => {
  const bad = [
    'PeterNeumann+c74f20a3',
    'PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW', // wrong key ID
    'PeterNeumann+c74f20a3+Apc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW', // truncated
    'Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW',
    'PeterNeumann+c74f20a3+BBpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW', // wrong type byte
  ];
  for (const key of bad) assert.throws(() => NoteVerifier.fromKey(key), isCode('invalid_key'), key);
  assert.throws(() => NoteSigner.fromKey(GO_VKEY), isCode('invalid_key'));
  assert.throws(() => NoteSigner.fromKey(GO_SKEY.replace('c74f20a3', 'c74f20a4')), isCode('invalid_key'));
  assert.throws(() => generateSignerKey('has space'), isCode('invalid_key'));
  const signer = NoteSigner.fromKey(GO_SKEY);
  assert.throws(() => signNote('no newline', [signer]), isCode('invalid_argument'));
  assert.throws(() => signNote('x\n', []), isCode('invalid_argument'));
});

test('the signer key never appears in errors, String, JSON or inspect output', () => {
  const { signerKey } = generateSignerKey('secret.example/log');
  const secret = signerKey.split('+').slice(4).join('+');
  const seedHex = Buffer.from(secret, 'base64').subarray(1).toString('hex');
  const signer = NoteSigner.fromKey(signerKey);
  const outputs = [String(signer), JSON.stringify(signer), inspect(signer, { depth: 10, showHidden: true }), `${signer}`];
  const mangled = [
    signerKey.replace('secret.example/log+', 'secret.example/log+0'),
    signerKey.slice(0, -2),
    signerKey.replace('PRIVATE+KEY+', 'PRIVATE+KEYS+'),
    signerKey.replace(/\+[0-9a-f]{8}\+/, '+00000000+'),
  ];
  for (const key of mangled) {
    try {
      NoteSigner.fromKey(key);
      assert.fail('mangled key accepted');
    } catch (err) {
      assert.ok(isSealtrailError(err, 'invalid_key'));
      outputs.push(String(err), inspect(err, { depth: 10 }), JSON.stringify(err), err.stack ?? '');
    }
  }
  for (const out of outputs) {
    assert.ok(!out.includes(secret), out);
    assert.ok(!out.includes(secret.slice(4, 24)), out);
    assert.ok(!out.includes(seedHex), out);
  }
  assert.match(String(signer), /secret\.example\/log/);
});
