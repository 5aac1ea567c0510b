import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import '../helpers/replay.js';
import { CompactRange } from '../../src/core/compact-range.js';
import { EMPTY_ROOT, leafHash, merkleRoot, perfectSubtrees } from '../../src/core/merkle.js';
import { isSealtrailError } from '../../src/core/errors.js';

const leaves = Array.from({ length: 600 }, (_, i) => leafHash(Buffer.from(`entry ${i}`)));

test('root equals merkleRoot at every size, and frontier has one hash per set bit', () => {
  const range = new CompactRange();
  assert.deepEqual(range.root(), EMPTY_ROOT);
  for (let n = 1; n <= leaves.length; n++) {
    range.append(leaves[n - 1]!);
    assert.equal(range.size, n);
    assert.deepEqual(range.root(), merkleRoot(leaves.slice(0, n)), `size ${n}`);
    const frontier = range.frontier();
    const expected = perfectSubtrees(0, n).map(({ level, index }) =>
      merkleRoot(leaves.slice(index * 2 ** level, (index + 1) * 2 ** level)),
    );
    assert.deepEqual(frontier, expected);
  }
});

test('append reports exactly the perfect subtrees it completed, with their hashes', () => {
  const range = new CompactRange();
  const stored = new Map<string, Buffer>();
  for (let i = 0; i < 100; i++) {
    const nodes = range.append(leaves[i]!);
    assert.deepEqual(nodes[0], { level: 0, index: i, hash: leaves[i] });
    for (const { level, index, hash } of nodes) {
      assert.equal((index + 1) * 2 ** level, i + 1, 'a completed subtree ends at the new leaf');
      assert.deepEqual(hash, merkleRoot(leaves.slice(index * 2 ** level, (index + 1) * 2 ** level)));
      assert.equal(stored.has(`${level}/${index}`), false);
      stored.set(`${level}/${index}`, hash);
    }
  }
  // Every aligned perfect subtree inside the first 100 leaves was reported once: 100 + 50 + 25 + 12 + 6 + 3 + 1.
  assert.equal(stored.size, 197);
});

test('property: fromFrontier resumes where the original left off, and clones are independent', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 1, max: 200 }), (split, more) => {
      const original = new CompactRange();
      for (const leaf of leaves.slice(0, split)) original.append(leaf);
      const resumed = CompactRange.fromFrontier(original.size, original.frontier());
      const copy = original.clone();
      for (const leaf of leaves.slice(split, split + more)) resumed.append(leaf);
      assert.deepEqual(resumed.root(), merkleRoot(leaves.slice(0, split + more)));
      assert.equal(copy.size, split);
      assert.deepEqual(copy.root(), original.root());
    }),
    { numRuns: 50 },
  );
});

test('bad frontiers and leaf hashes are invalid_argument', () => {
  const isInvalid = (e: unknown) => isSealtrailError(e, 'invalid_argument');
  assert.throws(() => CompactRange.fromFrontier(3, [leaves[0]!]), isInvalid);
  assert.throws(() => CompactRange.fromFrontier(1, [Buffer.alloc(31)]), isInvalid);
  assert.throws(() => CompactRange.fromFrontier(-1, []), isInvalid);
  assert.throws(() => new CompactRange().append(Buffer.alloc(33)), isInvalid);
});
