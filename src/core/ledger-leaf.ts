/**
 * The Merkle leaf of a ledger entry. A PL/pgSQL implementation builds the same bytes with
 * int4send/int8send, so every integer is big-endian two's complement and nothing here may change
 * without a new format version byte:
 *
 *   leaf_data = 0x00 (format version)
 *             ‖ u32be(len(kind_utf8)) ‖ kind_utf8
 *             ‖ u32be(len(pk_utf8))   ‖ pk_utf8
 *             ‖ event_hash (32 bytes)
 *             ‖ i64be(appended_at, microseconds since the Unix epoch, UTC)
 */
import { SealtrailError } from './errors.js';
import { hash as oneShotHash } from 'node:crypto';

export const LEDGER_LEAF_VERSION = 0x00;

export interface LedgerLeafFields {
  kind: string;
  pk: string;
  eventHash: Uint8Array;
  appendedAtMicros: bigint;
}

const MIN_I64 = -(1n << 63n);
const MAX_I64 = (1n << 63n) - 1n;
const LONE_SURROGATE = /\p{Cs}/u;

export function ledgerLeafData(fields: LedgerLeafFields): Buffer {
  return encodeLeaf(fields, 0);
}

/**
 * leafHash(ledgerLeafData(fields)), with the RFC 6962 0x00 leaf prefix written into the same
 * buffer so verification hashes each entry's leaf in one call.
 */
export function ledgerLeafHash(fields: LedgerLeafFields): Buffer {
  return oneShotHash('sha256', encodeLeaf(fields, 1), 'buffer');
}

/** leaf_data preceded by `offset` zero bytes (0: the data alone; 1: with the RFC 6962 leaf prefix). */
function encodeLeaf({ kind, pk, eventHash, appendedAtMicros }: LedgerLeafFields, offset: number): Buffer {
  const kindLength = utf8Length(kind, 'kind');
  const pkLength = utf8Length(pk, 'pk');
  if (eventHash.length !== 32) {
    throw new SealtrailError('invalid_argument', 'eventHash must be 32 bytes', { details: { length: eventHash.length } });
  }
  if (typeof appendedAtMicros !== 'bigint' || appendedAtMicros < MIN_I64 || appendedAtMicros > MAX_I64) {
    throw new SealtrailError('invalid_argument', 'appendedAtMicros must be a bigint in the int64 range', {
      details: { appendedAtMicros: String(appendedAtMicros) },
    });
  }
  const out = Buffer.alloc(offset + 1 + 4 + kindLength + 4 + pkLength + 32 + 8);
  let at = out.writeUInt8(LEDGER_LEAF_VERSION, offset);
  at = out.writeUInt32BE(kindLength, at);
  at += out.write(kind, at, 'utf8');
  at = out.writeUInt32BE(pkLength, at);
  at += out.write(pk, at, 'utf8');
  out.set(eventHash, at);
  out.writeBigInt64BE(appendedAtMicros, at + 32);
  return out;
}

function utf8Length(text: string, field: string): number {
  // UTF-8 encoding would replace a lone surrogate with U+FFFD, silently changing the hashed bytes.
  if (typeof text !== 'string' || LONE_SURROGATE.test(text)) {
    throw new SealtrailError('invalid_argument', `${field} must be a string of valid Unicode`, { details: { field } });
  }
  return Buffer.byteLength(text, 'utf8');
}
