/**
 * Validates and canonicalises an event before any database work, so bad input is refused with
 * a coded error and nothing is written.
 */
import { canonicalHash, canonicalize, canonicalizePayload } from '../core/canonical-json.js';
import { SealtrailError } from '../core/errors.js';

export const DEFAULT_MAX_PAYLOAD_BYTES = 1024 * 1024;
/** kind and pk are identifiers, not data: keep them short enough to index. */
const MAX_IDENTIFIER_BYTES = 1024;

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

function checkIdentifier(name: 'kind' | 'pk', value: unknown): asserts value is string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new SealtrailError('invalid_event', `event ${name} must be a non-empty string`, { details: { field: name } });
  }
  // Reuse canonicalize's checks so lone surrogates are refused here too.
  canonicalize(value);
  if (Buffer.byteLength(value, 'utf8') > MAX_IDENTIFIER_BYTES) {
    throw new SealtrailError('invalid_event', `event ${name} is longer than ${MAX_IDENTIFIER_BYTES} bytes`, { details: { field: name } });
  }
}
