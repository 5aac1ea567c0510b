/**
 * C2SP signed-note v1 (c2sp.org/signed-note) with Ed25519 signatures (type 0x01).
 *
 *   note      = text (ending in "\n") ‖ "\n" ‖ signature lines
 *   signature = "— " name " " base64(u32be key ID ‖ signature) "\n"      (— is U+2014)
 *
 * openNote accepts any verifier with a name, key ID and verify(message, signature), so witness
 * cosignature verifiers (cosignature.ts) check the same note. Unknown signatures are ignored; a
 * known key whose signature fails rejects the whole note, as the spec recommends.
 */
import { SealtrailError } from './errors.js';
import { decodeBase64, encodeBase64 } from './base64.js';
import { KeySigner, KeyVerifier, SIGNATURE_TYPE_ED25519, formatKeyId, generateKeyStrings, isValidKeyName, type SignatureVerifier } from './note-key.js';

export type { SignatureVerifier } from './note-key.js';

/** Far above the 16 the spec requires us to accept; bounds the work an untrusted note can cause. */
export const MAX_NOTE_SIGNATURES = 100;

const SIGNATURE_PREFIX = '\u2014 ';
const LONE_SURROGATE = /\p{Cs}/u;
// Every ASCII control character except newline.
const FORBIDDEN_CONTROL = /[\0-\x09\x0b-\x1f]/; // eslint-disable-line no-control-regex

export interface NoteSignature {
  name: string;
  keyId: number;
  /** The signature bytes after the 4-byte key ID. */
  signature: Buffer;
}

export function generateSignerKey(name: string): { signerKey: string; verifierKey: string } {
  return generateKeyStrings(name, SIGNATURE_TYPE_ED25519);
}

/** A log's signing key (signature type 0x01): signs the note text itself. */
export class NoteSigner extends KeySigner {
  private constructor(signerKey: string) {
    super(SIGNATURE_TYPE_ED25519, 'NoteSigner', signerKey);
  }

  static fromKey(signerKey: string): NoteSigner {
    return new NoteSigner(signerKey);
  }

  sign(message: Uint8Array): Buffer {
    return this.signBytes(message);
  }
}

/** A log's trusted public key (signature type 0x01). */
export class NoteVerifier extends KeyVerifier {
  private constructor(verifierKey: string) {
    super(SIGNATURE_TYPE_ED25519, verifierKey);
  }

  static fromKey(verifierKey: string): NoteVerifier {
    return new NoteVerifier(verifierKey);
  }

  verify(message: Uint8Array, signature: Uint8Array): boolean {
    return this.verifyBytes(message, signature);
  }
}

/** Signs `text` (which must end in a newline) with every signer, in order. */
export function signNote(text: string, signers: readonly NoteSigner[]): string {
  checkText(text, 'invalid_argument');
  if (!text.endsWith('\n')) throw new SealtrailError('invalid_argument', 'note text must end with a newline');
  if (signers.length === 0) throw new SealtrailError('invalid_argument', 'a signed note needs at least one signer');
  const message = Buffer.from(text, 'utf8');
  const lines = signers.map((s) => signatureLine(s.name, s.keyId, s.sign(message)));
  return `${text}\n${lines.join('')}`;
}

/** The signature line for `signature` (without key ID) by key (name, keyId). */
export function signatureLine(name: string, keyId: number, signature: Uint8Array): string {
  const payload = Buffer.alloc(4 + signature.length);
  payload.writeUInt32BE(keyId, 0);
  payload.set(signature, 4);
  return `${SIGNATURE_PREFIX}${name} ${encodeBase64(payload)}\n`;
}

/** Splits a note into its text and signatures without checking any signature. */
export function parseNote(noteText: string): { text: string; signatures: NoteSignature[] } {
  checkText(noteText, 'invalid_note');
  if (!noteText.endsWith('\n')) throw malformed('a note must end with a newline');
  const split = noteText.lastIndexOf('\n\n');
  if (split < 0) throw malformed('no blank line separates text from signatures');
  const text = noteText.slice(0, split + 1);
  const lines = noteText.slice(split + 2, -1).split('\n');
  if (lines.length > MAX_NOTE_SIGNATURES) {
    throw malformed(`more than ${MAX_NOTE_SIGNATURES} signatures`, { signatures: lines.length });
  }
  return { text, signatures: lines.map(parseSignatureLine) };
}

export function parseSignatureLine(line: string): NoteSignature {
  if (!line.startsWith(SIGNATURE_PREFIX)) throw malformed('signature line must start with "— "');
  const rest = line.slice(SIGNATURE_PREFIX.length);
  const space = rest.indexOf(' ');
  const name = space < 0 ? '' : rest.slice(0, space);
  if (!isValidKeyName(name)) throw malformed('signature line has no valid key name');
  const payload = decodeBase64(rest.slice(space + 1));
  if (!payload || payload.length < 5) throw malformed('signature is not base64 of a key ID and signature', { name });
  return { name, keyId: payload.readUInt32BE(0), signature: payload.subarray(4) };
}

/**
 * Verifies a note against trusted verifiers and returns its text. Throws invalid_note when
 * malformed, invalid_signature when a trusted key's signature fails or no trusted key signed.
 */
export function openNote<V extends SignatureVerifier>(
  noteText: string,
  verifiers: readonly V[],
): { text: string; verifiedBy: V[]; signatures: NoteSignature[] } {
  const { text, signatures } = parseNote(noteText);
  const message = Buffer.from(text, 'utf8');
  const verifiedBy: V[] = [];
  for (const sig of signatures) {
    const verifier = verifiers.find((v) => v.name === sig.name && v.keyId === sig.keyId);
    if (!verifier) continue;
    if (!verifier.verify(message, sig.signature)) {
      throw new SealtrailError('invalid_signature', `signature by ${sig.name} does not verify`, {
        details: { name: sig.name, keyId: formatKeyId(sig.keyId) },
      });
    }
    if (!verifiedBy.includes(verifier)) verifiedBy.push(verifier);
  }
  if (verifiedBy.length === 0) {
    throw new SealtrailError('invalid_signature', 'no trusted signature on the note', {
      details: { signers: signatures.map((s) => `${s.name}+${formatKeyId(s.keyId)}`) },
    });
  }
  return { text, verifiedBy, signatures };
}

function checkText(text: string, code: 'invalid_note' | 'invalid_argument'): void {
  if (typeof text !== 'string' || LONE_SURROGATE.test(text) || FORBIDDEN_CONTROL.test(text)) {
    throw new SealtrailError(code, 'note must be valid UTF-8 without control characters other than newline');
  }
}

function malformed(message: string, details?: Record<string, unknown>): SealtrailError {
  return new SealtrailError('invalid_note', message, details ? { details } : undefined);
}
