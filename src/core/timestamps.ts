/**
 * appended_at is kept to the microsecond (PostgreSQL's precision) because the Merkle leaf
 * commits to it; these helpers convert between microseconds since the epoch and the
 * ISO-8601 text SQLite stores and proof bundles carry (always 6 fractional digits, UTC, `Z`).
 * Pure (no I/O), so an offline proof checker can use it.
 */
import { SealtrailError } from './errors.js';

export function nowMicros(): bigint {
  return BigInt(Date.now()) * 1000n;
}

let lastMicrosIn = -1n;
let lastIsoOut = '';

export function isoFromMicros(micros: bigint): string {
  // Entries of one group commit share a timestamp (see microsFromIso).
  if (micros === lastMicrosIn) return lastIsoOut;
  lastIsoOut = formatMicros(micros);
  lastMicrosIn = micros;
  return lastIsoOut;
}

function formatMicros(micros: bigint): string {
  const ms = micros / 1000n;
  const sub = micros % 1000n;
  const iso = new Date(Number(ms)).toISOString(); // YYYY-MM-DDTHH:MM:SS.mmmZ
  return `${iso.slice(0, 23)}${sub.toString().padStart(3, '0')}Z`;
}

const ISO_RE = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,6}))?(Z|[+-]\d{2}:?\d{2})$/;

// Entries of one group commit share a timestamp: remembering the last one spares the parse.
let lastIso = '';
let lastMicros = 0n;

export function microsFromIso(text: string): bigint {
  if (text === lastIso) return lastMicros;
  lastMicros = parseIsoMicros(text);
  lastIso = text;
  return lastMicros;
}

function parseIsoMicros(text: string): bigint {
  const m = ISO_RE.exec(text.replace(' ', 'T'));
  if (!m) throw new SealtrailError('database_error', `unreadable timestamp ${JSON.stringify(text)}`);
  const whole = Date.parse(`${m[1]}${m[3] === 'Z' ? 'Z' : normaliseOffset(m[3]!)}`);
  if (Number.isNaN(whole)) throw new SealtrailError('database_error', `unreadable timestamp ${JSON.stringify(text)}`);
  const frac = (m[2] ?? '').padEnd(6, '0');
  return BigInt(whole) * 1000n + BigInt(frac);
}

function normaliseOffset(offset: string): string {
  return offset.includes(':') ? offset : `${offset.slice(0, 3)}:${offset.slice(3)}`;
}

export function dateFromMicros(micros: bigint): Date {
  return new Date(Number(micros / 1000n));
}
