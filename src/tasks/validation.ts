/**
 * Input checks shared by the task services. Everything is checked before any database work, so
 * bad input gets a coded error and writes nothing. Strings may not contain U+0000: PostgreSQL
 * cannot store it, and the same input must behave the same on both backends (a spooled event
 * that could never be written would block its spool forever).
 */
import { canonicalize, parseJson } from '../core/canonical-json.js';
import { SealtrailError } from '../core/errors.js';
import { REF_TYPES, type RefType } from './rows.js';

export const DEFAULT_LIMIT = 100;
export const MAX_LIMIT = 500;

function invalid(name: string, why: string): SealtrailError {
  return new SealtrailError('invalid_argument', `${name} ${why}`, { details: { argument: name } });
}

export function requireText(name: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) throw invalid(name, 'must be a non-empty string');
  if (value.includes('\0')) throw invalid(name, 'must not contain U+0000');
  return value;
}

export function optionalText(name: string, value: unknown): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string') throw invalid(name, 'must be a string');
  if (value.includes('\0')) throw invalid(name, 'must not contain U+0000');
  return value;
}

export function optionalCount(name: string, value: unknown, fallback: number): number {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw invalid(name, 'must be a non-negative integer');
  return value;
}

export function fileList(name: string, value: unknown): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw invalid(name, 'must be an array of strings');
  return value.map((item, i) => requireText(`${name}[${i}]`, item));
}

/**
 * A JSON value as it will read back from the database: canonicalised (so Dates, byte arrays and
 * -0 take their canonical form now, not after a round trip) and free of U+0000.
 */
export function jsonValue(name: string, value: unknown): unknown {
  if (value === undefined || value === null) return null;
  const normalised = parseJson(canonicalize(value));
  if (containsNul(normalised)) throw invalid(name, 'must not contain U+0000');
  return normalised;
}

function containsNul(value: unknown): boolean {
  if (typeof value === 'string') return value.includes('\0');
  if (Array.isArray(value)) return value.some(containsNul);
  if (value !== null && typeof value === 'object') return Object.entries(value).some(([k, v]) => k.includes('\0') || containsNul(v));
  return false;
}

export function checkLimit(value: unknown): number {
  if (value === undefined) return DEFAULT_LIMIT;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > MAX_LIMIT) {
    throw new SealtrailError('invalid_limit', `limit must be an integer from 1 to ${MAX_LIMIT}`, { details: { limit: String(value), max: MAX_LIMIT } });
  }
  return value;
}

/** A page cursor: the seq of the last item of the previous page. */
export function checkCursor(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new SealtrailError('invalid_argument', 'before must be a seq (a positive integer)', { details: { argument: 'before', before: String(value) } });
  }
  return value;
}

export function checkRefType(value: unknown): RefType {
  if (typeof value !== 'string' || !(REF_TYPES as readonly string[]).includes(value)) {
    throw new SealtrailError('invalid_ref_type', `ref type must be one of ${REF_TYPES.join(', ')}`, {
      details: { refType: String(value), allowed: [...REF_TYPES] },
    });
  }
  return value as RefType;
}

export function requireObject(name: string, value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid(name, 'must be an object');
  return value as Record<string, unknown>;
}
