import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { CosignatureSigner, CosignatureVerifier, cosign, generateCosignerKey, verifyCosignature } from '../../src/core/cosignature.js';
import { NoteVerifier, openNote } from '../../src/core/note.js';
import { isSealtrailError, type ErrorCode } from '../../src/core/errors.js';

const isCode = (code: ErrorCode) => (e: unknown) => isSealtrailError(e, code);

// A real checkpoint of a CT log, with an RFC 6962 signature (type 0x05, unknown here), an Ed25519
// log signature and tlog-cosignature/v1 witness cosignatures.
const BODY = 'arche2025h1.staging.ct.transparency.dev\n1432088532\nU7WM79jrzyhGZ5/GUBTpM7NzwdyfFx61t3RovgcC4Ro=\n';
const LOG_VKEY = 'arche2025h1.staging.ct.transparency.dev+ba2f06c0+AU0vHmlGCS/PdN8b2OaGmKprLI8HKM+dJ472xgFYh15f';
const WITNESS_VKEY = 'remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2';
const WITNESS_LINE = '— remora.n621.de 2net5wAAAABqEiEgPlfF3V06o0Y+fHM+J5J9s27wgxxcOVSpZ/2g/KSiXCg9DEZI+aVCIobWX9sXTynk5XeU/zZ0WBxtqB0DrAWfBw==\n';
const NOTE =
  `${BODY}\n` +
  '— arche2025h1.staging.ct.transparency.dev zTM8sQAAAZ5W0WdjBAMARjBEAiBjW5IQf9pvsYLfQFX6hoGREPMHbdQ3urbllzalApkptQIgIpwtEroeW2BXaHAI4kJXFbon5Ch9MNL5zRNZ55lvGt0=\n' +
  '— arche2025h1.staging.ct.transparency.dev ui8GwCF1+kWqZrxGdhj4aX3gcw7XUlXQQabg/27lefwhUkzbC3NygNI75MdhL1bfTW9g8Ei59RA23oHP7Ry1k3ZFWwQ=\n' +
  '— transparency.dev/DEV:witness-little-garden 2AQqhwAAAABqEiEgzgFIqqhbUoDwjMWE6UP8nd8/KYTzwZ2rhIgcqoXHAwVkjZr4AscylP3v7sEodkRAErumC2q44vdgJY096st5BQ==\n' +
  WITNESS_LINE;

test('a real witness cosignature verifies alone and inside openNote alongside the log key', () => {
  const witness = CosignatureVerifier.fromKey(WITNESS_VKEY);
  assert.equal(witness.keyId, 0xda77ade7);
  assert.equal(verifyCosignature(BODY, WITNESS_LINE, witness).timeSeconds, 1779573024n);
  const log = NoteVerifier.fromKey(LOG_VKEY);
  assert.deepEqual(openNote(NOTE, [log, witness]).verifiedBy, [log, witness]);
  assert.throws(() => verifyCosignature(BODY.replace('1432088532', '1432088533'), WITNESS_LINE, witness), isCode('invalid_signature'));
  assert.throws(() => openNote(NOTE.replace('\n1432088532\n', '\n1432088533\n'), [witness]), isCode('invalid_signature'));
});

test('cosign round-trips; changing the body, time or key fails; a type 0x01 key is not a cosigner key', () => {
  const keys = generateCosignerKey('witness.example/w1');
  const signer = CosignatureSigner.fromKey(keys.signerKey);
  const verifier = CosignatureVerifier.fromKey(keys.verifierKey);
  assert.equal(signer.verifierKey, keys.verifierKey);
  const line = cosign(BODY, signer, 1_700_000_000);
  assert.match(line, /^— witness\.example\/w1 [A-Za-z0-9+/]{102}==\n$/, 'key ID, u64 time and 64-byte signature: 76 bytes');
  assert.equal(verifyCosignature(BODY, line, verifier).timeSeconds, 1_700_000_000n);
  assert.throws(() => verifyCosignature(`${BODY}ext\n`, line, verifier), isCode('invalid_signature'));
  const payload = Buffer.from(line.split(' ')[2]!, 'base64');
  payload.writeBigUInt64BE(1_700_000_001n, 4);
  assert.throws(() => verifyCosignature(BODY, `— witness.example/w1 ${payload.toString('base64')}\n`, verifier), isCode('invalid_signature'));
  const other = CosignatureVerifier.fromKey(generateCosignerKey('witness.example/w1').verifierKey);
  assert.throws(() => verifyCosignature(BODY, line, other), isCode('invalid_signature'));
  assert.throws(() => CosignatureVerifier.fromKey(LOG_VKEY), isCode('invalid_key'));
  assert.throws(() => NoteVerifier.fromKey(keys.verifierKey), isCode('invalid_key'));
  assert.throws(() => cosign(BODY, signer, -1), isCode('invalid_argument'));
  assert.ok(!inspect(signer).includes(keys.signerKey.split('+').slice(4).join('+')));
  assert.ok(!JSON.stringify(signer).includes(keys.signerKey.split('+').slice(4).join('+')));
});
