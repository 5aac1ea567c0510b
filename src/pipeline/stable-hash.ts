/**
 * Canonical hashing on the audit path (docs/spec.md, "Pipeline hashing"): SHA-256 hex of the
 * RFC 8785 text of a value. NaN and ±Infinity are refused (non_canonical_value), never turned into
 * null, because a hash must stand for exactly the data that was seen; big integers are refused
 * too (unsafe_integer) and travel as strings.
 */
import { createHash } from 'node:crypto';
import { canonicalizePayload } from '../core/canonical-json.js';

/** The canonical text of a value, as hashed and as stored in the payload store. */
export function canonicalText(value: unknown): string {
  return canonicalizePayload(value);
}

/** SHA-256 hex of the canonical text of `value`. */
export function stableHash(value: unknown): string {
  return sha256Hex(canonicalText(value));
}

export function sha256Hex(text: string | Uint8Array): string {
  return createHash('sha256').update(text).digest('hex');
}

/** `error_hash`: the first 16 hex characters of SHA-256 of the UTF-8 message. */
export function errorHash(message: string): string {
  return sha256Hex(message).slice(0, 16);
}
