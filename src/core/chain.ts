/**
 * The hash chain: chain_hash(seq) = SHA-256(prev_hash ‖ event_hash ‖ u64be(seq)), compatible with
 * classic audit-chain tables. This runs once per entry when verifying, so it avoids allocation.
 */
import { hash as oneShotHash } from 'node:crypto';
import { SealtrailError } from './errors.js';

export const HASH_LENGTH = 32;

/** prev_hash of the entry with seq 1. */
export const GENESIS_HASH: Buffer = Buffer.alloc(HASH_LENGTH);

const MAX_SEQ = (1n << 64n) - 1n;
const TWO_POW_32 = 2 ** 32;

// Reused for every call: hashing is synchronous, so no two calls can interleave on it.
const scratch = Buffer.alloc(2 * HASH_LENGTH + 8);

export function chainHash(prevHash: Uint8Array, eventHash: Uint8Array, seq: number | bigint): Buffer {
  if (prevHash.length !== HASH_LENGTH || eventHash.length !== HASH_LENGTH) {
    throw new SealtrailError('invalid_argument', 'chainHash needs 32-byte prev_hash and event_hash', {
      details: { prevHashLength: prevHash.length, eventHashLength: eventHash.length },
    });
  }
  scratch.set(prevHash, 0);
  scratch.set(eventHash, HASH_LENGTH);
  writeSeq(seq);
  return oneShotHash('sha256', scratch, 'buffer');
}

function writeSeq(seq: number | bigint): void {
  const at = 2 * HASH_LENGTH;
  if (typeof seq === 'number') {
    if (!Number.isSafeInteger(seq) || seq < 1) throw invalidSeq(seq);
    // Two 32-bit writes avoid a BigInt allocation per entry.
    scratch.writeUInt32BE(Math.floor(seq / TWO_POW_32), at);
    scratch.writeUInt32BE(seq % TWO_POW_32, at + 4);
    return;
  }
  if (seq < 1n || seq > MAX_SEQ) throw invalidSeq(seq);
  scratch.writeBigUInt64BE(seq, at);
}

function invalidSeq(seq: number | bigint): SealtrailError {
  return new SealtrailError('invalid_argument', 'seq must be an integer from 1 to 2^64-1', {
    details: { seq: String(seq) },
  });
}
