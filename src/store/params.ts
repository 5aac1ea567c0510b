/**
 * Checks both backends apply to what callers hand them, so a value is stored as given or
 * refused with a code, never silently changed by a driver.
 */
import { SealtrailError } from '../core/errors.js';

/**
 * Text must be well-formed UTF-16: a lone surrogate has no UTF-8 form, and the drivers would
 * replace it with U+FFFD (node-postgres) or store bytes that read back as several U+FFFD
 * (better-sqlite3) instead of failing.
 */
export function assertStorableText(value: string, what = 'a text value'): void {
  if (!(value as unknown as { isWellFormed(): boolean }).isWellFormed()) {
    throw new SealtrailError('invalid_argument', `${what} holds a lone UTF-16 surrogate, which has no UTF-8 form`);
  }
}

/** Statement parameters: every string, and every string inside an array parameter. */
export function assertStorableParams(params: readonly unknown[] | undefined): void {
  if (!params) return;
  for (const [i, p] of params.entries()) {
    if (typeof p === 'string') assertStorableText(p, `parameter ${i + 1}`);
    else if (Array.isArray(p)) for (const v of p) if (typeof v === 'string') assertStorableText(v, `parameter ${i + 1}`);
  }
}

/** entryBatches' batch size: a positive integer (0 would read as "no entries"). */
export function assertBatchSize(batchSize: number): void {
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) {
    throw new SealtrailError('invalid_argument', `batch size must be a positive integer, got ${batchSize}`);
  }
}

/** A 64-bit integer from the database: a number while exact, a bigint beyond 2^53. */
export function exactInteger(value: number | bigint): number | bigint {
  if (typeof value === 'number') return value;
  return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
}

/** The signed 64-bit range of a session lock key; anything else is invalid_argument. */
export function checkSessionLockKey(key: unknown): bigint {
  if (typeof key !== 'bigint' || key < -(2n ** 63n) || key >= 2n ** 63n) {
    throw new SealtrailError('invalid_argument', 'a session lock key must be a bigint in the signed 64-bit range', { details: { key: String(key) } });
  }
  return key;
}
