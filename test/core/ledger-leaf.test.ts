import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ledgerLeafData, ledgerLeafHash } from '../../src/core/ledger-leaf.js';
import { leafHash } from '../../src/core/merkle.js';
import { isSealtrailError } from '../../src/core/errors.js';

const eventHash = Buffer.alloc(32, 0xab);

test('leaf_data layout: version, length-prefixed kind and pk, event hash, i64be micros', () => {
  const data = ledgerLeafData({ kind: 'task', pk: 'é1', eventHash, appendedAtMicros: 1_700_000_000_000_000n });
  assert.equal(
    data.toString('hex'),
    '00' + '00000004' + '7461736b' + '00000003' + 'c3a931' + 'ab'.repeat(32) + '00060a24181e4000',
  );
  assert.deepEqual(
    ledgerLeafHash({ kind: 'task', pk: 'é1', eventHash, appendedAtMicros: 1_700_000_000_000_000n }),
    leafHash(data),
  );
});

test('length prefixes keep (kind, pk) pairs that concatenate alike apart', () => {
  const a = ledgerLeafHash({ kind: 'ab', pk: 'c', eventHash, appendedAtMicros: 0n });
  const b = ledgerLeafHash({ kind: 'a', pk: 'bc', eventHash, appendedAtMicros: 0n });
  assert.notDeepEqual(a, b);
});

test('invalid fields are invalid_argument', () => {
  const isInvalid = (e: unknown) => isSealtrailError(e, 'invalid_argument');
  const ok = { kind: 'k', pk: 'p', eventHash, appendedAtMicros: 0n };
  assert.throws(() => ledgerLeafData({ ...ok, eventHash: Buffer.alloc(31) }), isInvalid);
  assert.throws(() => ledgerLeafData({ ...ok, kind: 'a\ud800' }), isInvalid);
  assert.throws(() => ledgerLeafData({ ...ok, appendedAtMicros: 2n ** 63n }), isInvalid);
  assert.throws(() => ledgerLeafData({ ...ok, appendedAtMicros: 5 as unknown as bigint }), isInvalid);
});
