import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import '../helpers/replay.js';
import {
  EMPTY_ROOT,
  consistencyProof,
  consistencyProofRanges,
  foldSubtrees,
  inclusionProof,
  inclusionProofRanges,
  leafHash,
  merkleRoot,
  nodeHash,
  perfectSubtrees,
  verifyConsistency,
  verifyInclusion,
  type LeafRange,
} from '../../src/core/merkle.js';
import { fromHex, sha256, toHex } from '../../src/core/hash.js';
import { isSealtrailError } from '../../src/core/errors.js';

const MAX_SIZE = 300;
const leaves = Array.from({ length: MAX_SIZE }, (_, i) => leafHash(Buffer.from(`leaf ${i}`)));
const roots = Array.from({ length: MAX_SIZE + 1 }, (_, n) => merkleRoot(leaves.slice(0, n)));

function flipBit(bytes: Uint8Array, bit: number): Buffer {
  const out = Buffer.from(bytes);
  out[bit >> 3]! ^= 1 << (bit & 7);
  return out;
}

/** MTH of a leaf range the slow, obviously-RFC way: recursive split at the largest power of two. */
function referenceMth(list: Buffer[]): Buffer {
  if (list.length === 0) return sha256();
  if (list.length === 1) return list[0]!;
  let k = 1;
  while (k * 2 < list.length) k *= 2;
  return nodeHash(referenceMth(list.slice(0, k)), referenceMth(list.slice(k)));
}

test('RFC 6962 reference roots (certificate-transparency test vectors)', () => {
  const data = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f'];
  const tree = data.map((hex) => leafHash(fromHex(hex)));
  const expected = [
    '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
    'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
    'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
    'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
    '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
    'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
    '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
  ];
  expected.forEach((root, i) => assert.equal(toHex(merkleRoot(tree.slice(0, i + 1))), root));
  assert.equal(toHex(EMPTY_ROOT), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  assert.equal(toHex(merkleRoot([])), toHex(EMPTY_ROOT));
});

test('merkleRoot matches the recursive RFC 6962 definition at every size', () => {
  for (let n = 0; n <= 70; n++) assert.deepEqual(roots[n], referenceMth(leaves.slice(0, n)));
});

test('RFC 6962 §2.1.3 example proofs for the 7-leaf tree, as leaf ranges', () => {
  // PATH(0) = [b, h, i] ; PATH(3) = [c, g, i] ; PATH(4) = [f, j, k] ; PATH(6) = [l, k]
  assert.deepEqual(inclusionProofRanges(0, 7), [[1, 2], [2, 4], [4, 7]]);
  assert.deepEqual(inclusionProofRanges(3, 7), [[2, 3], [0, 2], [4, 7]]);
  assert.deepEqual(inclusionProofRanges(4, 7), [[5, 6], [6, 7], [0, 4]]);
  assert.deepEqual(inclusionProofRanges(6, 7), [[4, 6], [0, 4]]);
  // PROOF(3, D[7]) = [c, d, g, l] ; PROOF(4, D[7]) = [l] ; PROOF(6, D[7]) = [i, j, k]
  assert.deepEqual(consistencyProofRanges(3, 7), [[2, 3], [3, 4], [0, 2], [4, 7]]);
  assert.deepEqual(consistencyProofRanges(4, 7), [[4, 7]]);
  assert.deepEqual(consistencyProofRanges(6, 7), [[4, 6], [6, 7], [0, 4]]);
  assert.deepEqual(consistencyProofRanges(7, 7), []);
});

/**
 * RFC 6962 roots do not commit to the tree size (the signed checkpoint does), so a proof also
 * verifies at another size whose proof combines siblings in the same directions: e.g. index 0 at
 * sizes 3 and 4. These shapes say exactly when that happens: L = sibling on the left.
 */
function inclusionShape(index: number, size: number): string {
  return inclusionProofRanges(index, size).map(([start]) => (start < index ? 'L' : 'R')).join('');
}

function consistencyShape(oldSize: number, newSize: number): string {
  const seed = Number.isInteger(Math.log2(oldSize)) ? 'root:' : 'seed:';
  return seed + consistencyProofRanges(oldSize, newSize).map(([start]) => (start < oldSize ? 'L' : 'R')).join('');
}

function viaStoredSubtrees(ranges: LeafRange[], size: number): Buffer[] {
  // What the ledger does: look up each range's perfect subtrees and fold them.
  return ranges.map(([start, end]) => {
    assert.ok(end <= size);
    const parts = perfectSubtrees(start, end).map(({ level, index }) =>
      referenceMth(leaves.slice(index * 2 ** level, (index + 1) * 2 ** level)),
    );
    return foldSubtrees(parts);
  });
}

test('every size 1..300: inclusion and consistency proofs verify, agree with the range helpers, and tampering fails', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 2 ** 31 }), fc.integer({ min: 0, max: 2 ** 31 }), fc.nat(), (a, b, c) => {
      for (let size = 1; size <= MAX_SIZE; size++) {
        const tree = leaves.slice(0, size);
        const root = roots[size]!;
        const index = a % size;
        const path = inclusionProof(index, tree);
        assert.equal(verifyInclusion(index, size, tree[index]!, path, root), true);
        assert.equal(verifyInclusion(BigInt(index), BigInt(size), tree[index]!, path, root), true);
        if (size <= 64) assert.deepEqual(path, viaStoredSubtrees(inclusionProofRanges(index, size), size));
        const bit = c % 256;
        assert.equal(verifyInclusion(index, size, flipBit(tree[index]!, bit), path, root), false);
        assert.equal(verifyInclusion(index, size, tree[index]!, path, flipBit(root, bit)), false);
        if (path.length > 0) {
          const victim = b % path.length;
          const bad = path.map((p, i) => (i === victim ? flipBit(p, bit) : p));
          assert.equal(verifyInclusion(index, size, tree[index]!, bad, root), false);
          assert.equal(verifyInclusion(index, size, tree[index]!, path.slice(1), root), false);
        }
        assert.equal(verifyInclusion(index, size, tree[index]!, [...path, root], root), false);
        assert.equal(verifyInclusion((index + 1) % size, size, tree[index]!, path, root), size === 1);
        for (const other of [size - 1, size + 1].filter((n) => n > index)) {
          const sameShape = inclusionShape(index, other) === inclusionShape(index, size);
          assert.equal(verifyInclusion(index, other, tree[index]!, path, root), sameShape);
        }

        const oldSize = 1 + (b % size);
        const proof = consistencyProof(oldSize, tree);
        const oldRoot = roots[oldSize]!;
        assert.equal(verifyConsistency(oldSize, size, oldRoot, root, proof), true);
        if (size <= 64) assert.deepEqual(proof, viaStoredSubtrees(consistencyProofRanges(oldSize, size), size));
        assert.equal(verifyConsistency(oldSize, size, flipBit(oldRoot, bit), root, proof), false);
        assert.equal(verifyConsistency(oldSize, size, oldRoot, flipBit(root, bit), proof), false);
        if (proof.length > 0) {
          const victim = a % proof.length;
          const bad = proof.map((p, i) => (i === victim ? flipBit(p, bit) : p));
          assert.equal(verifyConsistency(oldSize, size, oldRoot, root, bad), false);
          assert.equal(verifyConsistency(oldSize, size, oldRoot, root, proof.slice(0, -1)), false);
        }
        for (const [o, n] of [
          [oldSize, size + 1],
          [oldSize, size - 1],
          [oldSize + 1, size],
          [oldSize - 1, size],
        ] as const) {
          if (o < 1 || o >= n) continue;
          const sameShape = consistencyShape(o, n) === consistencyShape(oldSize, size);
          assert.equal(verifyConsistency(o, n, oldRoot, root, proof), sameShape && oldSize !== size);
        }
      }
    }),
    { numRuns: 8 },
  );
});

test('perfectSubtrees splits RFC subranges by the set bits of their width', () => {
  assert.deepEqual(perfectSubtrees(4, 7), [
    { level: 1, index: 2 },
    { level: 0, index: 6 },
  ]);
  assert.deepEqual(perfectSubtrees(0, 13), [
    { level: 3, index: 0 },
    { level: 2, index: 2 },
    { level: 0, index: 12 },
  ]);
  assert.deepEqual(perfectSubtrees(5, 5), []);
  assert.deepEqual(foldSubtrees([]), EMPTY_ROOT);
});

test('verification returns false, never throws, on malformed input', () => {
  const root = roots[5]!;
  const leaf = leaves[2]!;
  const path = inclusionProof(2, leaves.slice(0, 5));
  const badCalls: Array<() => boolean> = [
    () => verifyInclusion(-1, 5, leaf, path, root),
    () => verifyInclusion(5, 5, leaf, path, root),
    () => verifyInclusion(2.5, 5, leaf, path, root),
    () => verifyInclusion(2, 0, leaf, [], EMPTY_ROOT),
    () => verifyInclusion(2n ** 60n, 2n ** 61n, leaf, path, root),
    () => verifyInclusion(2, 5, leaf.subarray(1), path, root),
    () => verifyInclusion(2, 5, leaf, [...path.slice(1), Buffer.alloc(31)], root),
    () => verifyInclusion(2, 5, leaf, path, Buffer.alloc(33)),
    () => verifyInclusion(2, 5, leaf, [null as unknown as Buffer], root),
    () => verifyConsistency(0, 5, EMPTY_ROOT, root, []),
    () => verifyConsistency(6, 5, root, root, []),
    () => verifyConsistency(-1, 5, root, root, []),
    () => verifyConsistency(3, 5, roots[3]!, root, []),
    () => verifyConsistency(5, 5, root, root, [root]),
    () => verifyConsistency(5, 5, root, roots[4]!, []),
    () => verifyConsistency(3, 5, roots[3]!.subarray(2), root, consistencyProof(3, leaves.slice(0, 5))),
  ];
  for (const call of badCalls) assert.equal(call(), false);
  assert.equal(verifyConsistency(5, 5, root, Buffer.from(root), []), true);
});

test('proof generation rejects impossible requests with invalid_argument', () => {
  const isInvalid = (e: unknown) => isSealtrailError(e, 'invalid_argument');
  assert.throws(() => inclusionProof(3, leaves.slice(0, 3)), isInvalid);
  assert.throws(() => inclusionProofRanges(-1, 3), isInvalid);
  assert.throws(() => consistencyProof(0, leaves.slice(0, 3)), isInvalid);
  assert.throws(() => consistencyProofRanges(4, 3), isInvalid);
  assert.throws(() => perfectSubtrees(3, 2), isInvalid);
  assert.throws(() => nodeHash(Buffer.alloc(32), Buffer.alloc(31)), isInvalid);
});
