/**
 * The one place core touches node:crypto hashing. Everything that ends up in a signed or chained
 * structure is SHA-256, so there is no algorithm parameter to get wrong.
 */
import { createHash, hash as oneShotHash, timingSafeEqual } from 'node:crypto';
import { SealtrailError } from './errors.js';

/** SHA-256 of the concatenation of `parts` (no separators: callers own their framing). */
export function sha256(...parts: Uint8Array[]): Buffer {
  // The one-shot API skips creating a Hash object, which dominates the cost for small inputs.
  if (parts.length === 1) return oneShotHash('sha256', parts[0]!, 'buffer');
  const h = createHash('sha256');
  for (const part of parts) h.update(part);
  return h.digest();
}

/** Constant-time equality, so comparing a computed root with a claimed one leaks no prefix length. */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  return timingSafeEqual(a, b);
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

const HEX = /^(?:[0-9a-fA-F]{2})*$/;

/** Strict: Buffer.from(s, 'hex') silently stops at the first bad character, which would hide typos. */
export function fromHex(hex: string): Buffer {
  if (!HEX.test(hex)) {
    throw new SealtrailError('invalid_argument', 'expected an even number of hexadecimal digits', {
      details: { length: hex.length },
    });
  }
  return Buffer.from(hex, 'hex');
}
