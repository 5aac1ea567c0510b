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
  // The bytes are built in a reused scratch buffer (hashing is synchronous, so no two calls can
  // interleave on it): verification hashes one leaf per entry, and a fresh buffer each time was
  // a good part of its garbage.
  const { kind, pk, eventHash, appendedAtMicros } = fields;
  checkLeafFields(kind, pk, eventHash, appendedAtMicros);
  // UTF-8 takes at most 3 bytes per UTF-16 code unit.
  const most = 1 + 1 + 4 + 3 * kind.length + 4 + 3 * pk.length + 32 + 8;
  if (leafScratch.length < most) leafScratch = Buffer.alloc(Math.max(most, 2 * leafScratch.length));
  const out = leafScratch;
  out[0] = 0x00; // RFC 6962 leaf prefix
  out[1] = LEDGER_LEAF_VERSION;
  const kindLength = out.write(kind, 6, 'utf8');
  out.writeUInt32BE(kindLength, 2);
  let at = 6 + kindLength;
  const pkLength = out.write(pk, at + 4, 'utf8');
  out.writeUInt32BE(pkLength, at);
  at += 4 + pkLength;
  out.set(eventHash, at);
  out.writeBigInt64BE(appendedAtMicros, at + 32);
  return oneShotHash('sha256', out.subarray(0, at + 40), 'buffer');
}

let leafScratch = Buffer.alloc(512);

function checkLeafFields(kind: string, pk: string, eventHash: Uint8Array, appendedAtMicros: bigint): void {
  checkText(kind, 'kind');
  checkText(pk, 'pk');
  if (eventHash.length !== 32) {
    throw new SealtrailError('invalid_argument', 'eventHash must be 32 bytes', { details: { length: eventHash.length } });
  }
  if (typeof appendedAtMicros !== 'bigint' || appendedAtMicros < MIN_I64 || appendedAtMicros > MAX_I64) {
    throw new SealtrailError('invalid_argument', 'appendedAtMicros must be a bigint in the int64 range', {
      details: { appendedAtMicros: String(appendedAtMicros) },
    });
  }
}

function checkText(text: string, field: string): void {
  // UTF-8 encoding would replace a lone surrogate with U+FFFD, silently changing the hashed bytes.
  if (typeof text !== 'string' || LONE_SURROGATE.test(text)) {
    throw new SealtrailError('invalid_argument', `${field} must be a string of valid Unicode`, { details: { field } });
  }
}

/** leaf_data preceded by `offset` zero bytes. */
function encodeLeaf({ kind, pk, eventHash, appendedAtMicros }: LedgerLeafFields, offset: number): Buffer {
  checkLeafFields(kind, pk, eventHash, appendedAtMicros);
  const kindLength = Buffer.byteLength(kind, 'utf8');
  const pkLength = Buffer.byteLength(pk, 'utf8');
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
