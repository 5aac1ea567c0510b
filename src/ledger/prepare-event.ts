/**
 * Validates and canonicalises an event before any database work, so bad input is refused with
 * a coded error and nothing is written.
 */
import { canonicalHash, canonicalizePayload } from '../core/canonical-json.js';
import { SealtrailError } from '../core/errors.js';

export const DEFAULT_MAX_PAYLOAD_BYTES = 1024 * 1024;
/** kind and pk are identifiers, not data: keep them short enough to index. */
const MAX_IDENTIFIER_BYTES = 1024;
const FORBIDDEN_IDENTIFIER_CHARS = /[\0\p{Cs}]/u;

export interface EventInput {
  kind: string;
  pk: string;
  payload: unknown;
}

export interface PreparedEvent {
  kind: string;
  pk: string;
  canonical: string;
  eventHash: Buffer;
  /**
   * A row version (capture): the entry's pk becomes `pk + version + seq` (e.g. `42#update@17`)
   * and it is never deduplicated.
   */
  version?: string;
  /**
   * What to do when (kind, pk) is already chained with a different payload: refuse the unit with
   * `duplicate_event` (default), or chain it as `pk@seq` so nothing is lost (capture).
   */
  onConflict?: 'reject' | 'version';
}

export function prepareEvent(event: EventInput, maxPayloadBytes: number): PreparedEvent {
  const { kind, pk } = event;
  checkIdentifier('kind', kind);
  checkIdentifier('pk', pk);
  const canonical = canonicalizePayload(event.payload);
  const bytes = Buffer.byteLength(canonical, 'utf8');
  if (bytes > maxPayloadBytes) {
    throw new SealtrailError('payload_too_large', `payload of ${kind}/${pk} is ${bytes} bytes in canonical form; the limit is ${maxPayloadBytes}`, {
      details: { kind, pk, bytes, limit: maxPayloadBytes },
    });
  }
  return { kind, pk, canonical, eventHash: canonicalHash(canonical) };
}

/**
 * Checks the shape of an event the caller prepared itself (Ledger.appendPrepared), so a malformed
 * one is refused with a code before any database work. The payload limit and the identifier length
 * limit are not applied: prepared events are captured rows, which the database already holds and
 * sync capture chains whatever their size; refusing one would stall the outbox behind it.
 */
export function checkPreparedEvent(event: unknown): PreparedEvent {
  if (typeof event !== 'object' || event === null) throw new SealtrailError('invalid_event', 'a prepared event must be an object');
  const e = event as Partial<PreparedEvent>;
  checkIdentifier('kind', e.kind, false);
  checkIdentifier('pk', e.pk, false);
  if (typeof e.canonical !== 'string') throw new SealtrailError('invalid_event', 'a prepared event needs its canonical payload as a string', { details: { field: 'canonical' } });
  if (!Buffer.isBuffer(e.eventHash) || e.eventHash.length !== 32) {
    throw new SealtrailError('invalid_event', 'a prepared event needs eventHash, the 32-byte SHA-256 of its canonical payload', { details: { field: 'eventHash' } });
  }
  if (e.version !== undefined) checkIdentifier('version', e.version, false);
  if (e.onConflict !== undefined && e.onConflict !== 'reject' && e.onConflict !== 'version') {
    throw new SealtrailError('invalid_event', "onConflict must be 'reject' or 'version'", { details: { field: 'onConflict' } });
  }
  // A copy: the group commit reads it later, and the caller's object may change meanwhile.
  const copy: PreparedEvent = { kind: e.kind, pk: e.pk, canonical: e.canonical, eventHash: e.eventHash };
  if (e.version !== undefined) copy.version = e.version;
  if (e.onConflict !== undefined) copy.onConflict = e.onConflict;
  return copy;
}

function checkIdentifier(name: 'kind' | 'pk' | 'version', value: unknown, limitLength = true): asserts value is string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new SealtrailError('invalid_event', `event ${name} must be a non-empty string`, { details: { field: name } });
  }
  // Refused here, before any database work, so both backends behave alike: PostgreSQL text cannot
  // hold U+0000 (the insert would fail and take the whole group commit with it) while SQLite
  // would store it, and an unpaired surrogate has no UTF-8 form at all.
  if (FORBIDDEN_IDENTIFIER_CHARS.test(value)) {
    throw new SealtrailError('invalid_event', `event ${name} must not contain U+0000 or an unpaired surrogate`, { details: { field: name } });
  }
  if (limitLength && Buffer.byteLength(value, 'utf8') > MAX_IDENTIFIER_BYTES) {
    throw new SealtrailError('invalid_event', `event ${name} is longer than ${MAX_IDENTIFIER_BYTES} bytes`, { details: { field: name } });
  }
}
