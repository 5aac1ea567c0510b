import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import '../helpers/replay.js';
import { GENESIS_HASH, chainHash } from '../../src/core/chain.js';
import { isSealtrailError } from '../../src/core/errors.js';

function reference(prev: Uint8Array, event: Uint8Array, seq: bigint): Buffer {
  const seqBytes = Buffer.alloc(8);
  seqBytes.writeBigUInt64BE(seq);
  return createHash('sha256').update(prev).update(event).update(seqBytes).digest();
}

test('genesis is 32 zero bytes and seq 1 chains from it', () => {
  assert.deepEqual(GENESIS_HASH, Buffer.alloc(32));
  const event = createHash('sha256').update('{}').digest();
  assert.equal(
    chainHash(GENESIS_HASH, event, 1).toString('hex'),
    reference(GENESIS_HASH, event, 1n).toString('hex'),
  );
});

test('property: matches SHA-256(prev ‖ event ‖ u64be(seq)) for number and bigint seq', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
      fc.bigInt({ min: 1n, max: 2n ** 64n - 1n }),
      (prev, event, seq) => {
        const expected = reference(prev, event, seq);
        assert.deepEqual(chainHash(prev, event, seq), expected);
        if (seq <= BigInt(Number.MAX_SAFE_INTEGER)) assert.deepEqual(chainHash(prev, event, Number(seq)), expected);
      },
    ),
  );
});

test('results are independent buffers despite the shared scratch space', () => {
  const a = chainHash(GENESIS_HASH, Buffer.alloc(32, 1), 1);
  const copy = Buffer.from(a);
  chainHash(a, Buffer.alloc(32, 2), 2);
  assert.deepEqual(a, copy);
});

test('bad lengths and seq outside 1..2^64-1 are invalid_argument', () => {
  const isInvalid = (e: unknown) => isSealtrailError(e, 'invalid_argument');
  const h = Buffer.alloc(32);
  assert.throws(() => chainHash(h.subarray(1), h, 1), isInvalid);
  assert.throws(() => chainHash(h, Buffer.alloc(33), 1), isInvalid);
  for (const seq of [0, -1, 1.5, NaN, 2 ** 53, 0n, 2n ** 64n]) assert.throws(() => chainHash(h, h, seq), isInvalid);
});
