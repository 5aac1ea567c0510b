/**
 * Ed25519 keys as signed-note key strings, shared by log signers (type 0x01) and witness
 * cosigners (type 0x04, c2sp.org/tlog-cosignature):
 *
 *   key ID        = SHA-256(name ‖ 0x0A ‖ type ‖ 32-byte public key)[:4], big-endian uint32
 *   verifier key  = name "+" 8 lowercase hex digits of key ID "+" base64(type ‖ public key)
 *   signer key    = "PRIVATE+KEY+" name "+" hex key ID "+" base64(type ‖ 32-byte seed)
 *
 * The signer form matches golang.org/x/mod/sumdb/note. Errors about a signer key never quote it.
 * KeySigner and KeyVerifier hold such keys for both types; note.ts and cosignature.ts subclass
 * them with only what differs (the type byte and the bytes signed).
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { inspect } from 'node:util';
import { SealtrailError } from './errors.js';
import { sha256 } from './hash.js';
import { decodeBase64, encodeBase64 } from './base64.js';

export const SIGNATURE_TYPE_ED25519 = 0x01;
export const SIGNATURE_TYPE_COSIGNATURE_V1 = 0x04;

const SIGNER_PREFIX = 'PRIVATE+KEY+';
// DER headers that wrap a raw 32-byte Ed25519 seed / public key for node:crypto (RFC 8410).
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const KEY_ID_HEX = /^[0-9a-fA-F]{8}$/;
const SPACE_OR_PLUS = /[\p{White_Space}+]/u;
const LONE_SURROGATE = /\p{Cs}/u;
const CONTROL = /\p{Cc}/u;

export interface PublicKeyMaterial {
  name: string;
  keyId: number;
  publicKey: KeyObject;
  publicKeyBytes: Buffer;
}

export interface PrivateKeyMaterial extends PublicKeyMaterial {
  privateKey: KeyObject;
}

/** Key names (and so checkpoint origins that double as key names): non-empty, no spaces, no '+'. */
export function isValidKeyName(name: string): boolean {
  return name.length > 0 && !SPACE_OR_PLUS.test(name) && !LONE_SURROGATE.test(name) && !CONTROL.test(name);
}

export function keyIdOf(name: string, type: number, publicKeyBytes: Uint8Array): number {
  return sha256(Buffer.from(name, 'utf8'), Uint8Array.of(0x0a, type), publicKeyBytes).readUInt32BE(0);
}

export function formatKeyId(keyId: number): string {
  return keyId.toString(16).padStart(8, '0');
}

export function formatVerifierKey(name: string, type: number, publicKeyBytes: Uint8Array): string {
  const keyData = encodeBase64(Buffer.concat([Uint8Array.of(type), publicKeyBytes]));
  return `${name}+${formatKeyId(keyIdOf(name, type, publicKeyBytes))}+${keyData}`;
}

export function generateKeyStrings(name: string, type: number): { signerKey: string; verifierKey: string } {
  requireName(name);
  const { privateKey } = generateKeyPairSync('ed25519');
  const jwk = privateKey.export({ format: 'jwk' });
  const seed = Buffer.from(jwk.d!, 'base64url');
  const publicKeyBytes = Buffer.from(jwk.x!, 'base64url');
  const keyId = formatKeyId(keyIdOf(name, type, publicKeyBytes));
  const signerKey = `${SIGNER_PREFIX}${name}+${keyId}+${encodeBase64(Buffer.concat([Uint8Array.of(type), seed]))}`;
  seed.fill(0);
  return { signerKey, verifierKey: formatVerifierKey(name, type, publicKeyBytes) };
}

export function parseVerifierKey(text: string, type: number): PublicKeyMaterial {
  const parts = splitKey(text);
  if (!parts) throw badKey('malformed verifier key (want name+keyid+base64)', { type });
  const keyData = decodeBase64(parts.data);
  if (!keyData || keyData.length !== 33 || keyData[0] !== type) {
    throw badKey('verifier key data must be base64 of the type byte and a 32-byte Ed25519 public key', {
      name: parts.name,
      type,
    });
  }
  const publicKeyBytes = keyData.subarray(1);
  const keyId = keyIdOf(parts.name, type, publicKeyBytes);
  if (keyId !== parts.keyId) throw badKey('verifier key ID does not match its name and public key', { name: parts.name });
  const publicKey = createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, publicKeyBytes]), format: 'der', type: 'spki' });
  return { name: parts.name, keyId, publicKey, publicKeyBytes: Buffer.from(publicKeyBytes) };
}

export function parseSignerKey(text: string, type: number): PrivateKeyMaterial {
  const parts = text.startsWith(SIGNER_PREFIX) ? splitKey(text.slice(SIGNER_PREFIX.length)) : undefined;
  if (!parts) throw badKey('malformed signer key (want PRIVATE+KEY+name+keyid+base64)', { type });
  const keyData = decodeBase64(parts.data);
  if (!keyData || keyData.length !== 33 || keyData[0] !== type) {
    keyData?.fill(0);
    throw badKey('signer key data must be base64 of the type byte and a 32-byte Ed25519 seed', { name: parts.name, type });
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, keyData.subarray(1)]), format: 'der', type: 'pkcs8' });
  } catch {
    // No cause attached: the underlying error could describe the key bytes.
    throw badKey('signer key is not a valid Ed25519 seed', { name: parts.name });
  } finally {
    keyData.fill(0);
  }
  const publicKey = createPublicKey(privateKey);
  const publicKeyBytes = publicKey.export({ format: 'der', type: 'spki' }).subarray(SPKI_ED25519_PREFIX.length);
  const keyId = keyIdOf(parts.name, type, publicKeyBytes);
  if (keyId !== parts.keyId) throw badKey('signer key ID does not match its name and key', { name: parts.name });
  return { name: parts.name, keyId, privateKey, publicKey, publicKeyBytes: Buffer.from(publicKeyBytes) };
}

/** What openNote needs from a trusted key: its identity and a signature check over the note text. */
export interface SignatureVerifier {
  readonly name: string;
  readonly keyId: number;
  verify(message: Uint8Array, signature: Uint8Array): boolean;
}

/**
 * A signing key of one signature type, the one signer abstraction: log signers (NoteSigner,
 * type 0x01) and witness cosigners (CosignatureSigner, type 0x04) differ only in the type byte
 * and in what they sign (the subclass's `sign`). The private key never leaves the object, however
 * it is printed or serialised.
 */
export abstract class KeySigner {
  readonly name: string;
  readonly keyId: number;
  readonly verifierKey: string;
  readonly #privateKey: KeyObject;
  readonly #label: string;

  protected constructor(type: number, label: string, signerKey: string) {
    const key = parseSignerKey(signerKey, type);
    this.name = key.name;
    this.keyId = key.keyId;
    this.verifierKey = formatVerifierKey(key.name, type, key.publicKeyBytes);
    this.#privateKey = key.privateKey;
    this.#label = label;
  }

  /** The Ed25519 signature of exactly `message`. */
  protected signBytes(message: Uint8Array): Buffer {
    return ed25519Sign(this.#privateKey, message);
  }

  toString(): string {
    return `${this.#label}(${this.name}+${formatKeyId(this.keyId)})`;
  }

  toJSON(): { name: string; keyId: string; verifierKey: string } {
    return { name: this.name, keyId: formatKeyId(this.keyId), verifierKey: this.verifierKey };
  }

  [inspect.custom](): string {
    return this.toString();
  }
}

/**
 * A trusted public key of one signature type, the one verifier abstraction: NoteVerifier (type
 * 0x01) and CosignatureVerifier (type 0x04) differ only in the type byte and in how the bytes after
 * the key ID in a signature line are checked (the subclass's `verify`).
 */
export abstract class KeyVerifier implements SignatureVerifier {
  readonly name: string;
  readonly keyId: number;
  readonly verifierKey: string;
  readonly #publicKey: KeyObject;

  protected constructor(type: number, verifierKey: string) {
    const key = parseVerifierKey(verifierKey, type);
    this.name = key.name;
    this.keyId = key.keyId;
    this.verifierKey = verifierKey;
    this.#publicKey = key.publicKey;
  }

  /** `signature` is what follows the key ID in a signature line. */
  abstract verify(message: Uint8Array, signature: Uint8Array): boolean;

  /** Whether `signature` is a valid Ed25519 signature of exactly `message`. */
  protected verifyBytes(message: Uint8Array, signature: Uint8Array): boolean {
    return ed25519Verify(this.#publicKey, message, signature);
  }

  toString(): string {
    return this.verifierKey;
  }
}

export function ed25519Sign(privateKey: KeyObject, message: Uint8Array): Buffer {
  return sign(null, message, privateKey);
}

export function ed25519Verify(publicKey: KeyObject, message: Uint8Array, signature: Uint8Array): boolean {
  return signature.length === 64 && verify(null, message, publicKey, signature);
}

/** name "+" keyid "+" data; the data (base64) may itself contain '+', the name may not. */
function splitKey(text: string): { name: string; keyId: number; data: string } | undefined {
  const first = text.indexOf('+');
  const second = text.indexOf('+', first + 1);
  if (first < 0 || second < 0) return undefined;
  const name = text.slice(0, first);
  const keyIdHex = text.slice(first + 1, second);
  if (!isValidKeyName(name) || !KEY_ID_HEX.test(keyIdHex)) return undefined;
  return { name, keyId: parseInt(keyIdHex, 16), data: text.slice(second + 1) };
}

function requireName(name: string): void {
  if (typeof name !== 'string' || !isValidKeyName(name)) {
    throw badKey('key name must be non-empty without spaces or "+"', {});
  }
}

function badKey(message: string, details: Record<string, unknown>): SealtrailError {
  return new SealtrailError('invalid_key', message, { details });
}
