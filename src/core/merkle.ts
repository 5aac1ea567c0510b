/**
 * RFC 6962 §2.1 Merkle tree hashing, and the RFC 9162 §2.1.3-2.1.4 inclusion and consistency
 * proofs. Leaf indices and sizes are numbers internally (ledgers beyond 2^53 entries are not a
 * concern); bigint inputs are accepted where callers hold them.
 *
 * Proof generation comes in two layers: the *Ranges functions say which leaf ranges' subtree
 * hashes make up a proof (pure arithmetic, no hashing), so a ledger holding stored perfect
 * subtrees can build proofs without touching every leaf; inclusionProof/consistencyProof apply
 * them to an in-memory list of leaf hashes. Verification never throws: malformed input is false.
 */
import { hash as oneShotHash } from 'node:crypto';
import { SealtrailError } from './errors.js';
import { equalBytes, sha256 } from './hash.js';

const HASH_LENGTH = 32;

/** MTH of the empty tree: SHA-256 of no bytes. */
export const EMPTY_ROOT: Buffer = sha256(new Uint8Array(0));

/** [start, end): leaves start..end-1. */
export type LeafRange = [start: number, end: number];

/** A perfect subtree: leaves [index·2^level, (index+1)·2^level). */
export interface SubtreeId {
  level: number;
  index: number;
}

export function leafHash(data: Uint8Array): Buffer {
  return sha256(LEAF_PREFIX, data);
}

const LEAF_PREFIX = Uint8Array.of(0x00);
// Reused by every nodeHash call: one allocation-free hash per node on the append/verify path.
const nodeScratch = Buffer.alloc(1 + 2 * HASH_LENGTH);
nodeScratch[0] = 0x01;

export function nodeHash(left: Uint8Array, right: Uint8Array): Buffer {
  if (left.length !== HASH_LENGTH || right.length !== HASH_LENGTH) {
    throw new SealtrailError('invalid_argument', 'nodeHash needs two 32-byte hashes', {
      details: { leftLength: left.length, rightLength: right.length },
    });
  }
  nodeScratch.set(left, 1);
  nodeScratch.set(right, 1 + HASH_LENGTH);
  return oneShotHash('sha256', nodeScratch, 'buffer');
}

/** MTH(D[n]) of a list of leaf hashes. */
export function merkleRoot(leafHashes: readonly Uint8Array[]): Buffer {
  return subtreeHash(leafHashes, 0, leafHashes.length);
}

/** MTH of leaves [start, end). Bottom-up pairing that carries an odd last node up unchanged
 *  builds the same left-balanced tree as RFC 6962's split at the largest power of two. */
function subtreeHash(leafHashes: readonly Uint8Array[], start: number, end: number): Buffer {
  if (end === start) return EMPTY_ROOT;
  let level: Uint8Array[] = leafHashes.slice(start, end);
  while (level.length > 1) {
    const next: Uint8Array[] = [];
    for (let i = 0; i + 1 < level.length; i += 2) next.push(nodeHash(level[i]!, level[i + 1]!));
    if (level.length % 2 === 1) next.push(level[level.length - 1]!);
    level = next;
  }
  return Buffer.from(level[0]!);
}

/** Largest power of two strictly less than n (n ≥ 2): RFC 6962's split point k. */
function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** RFC 6962 §2.1.1 PATH(index, D[size]) as leaf ranges, leaf's sibling first. */
export function inclusionProofRanges(index: number, size: number): LeafRange[] {
  requireCount(size, 'size');
  requireCount(index, 'index');
  if (index >= size) throw invalid('index must be less than size', { index, size });
  const ranges: LeafRange[] = [];
  let start = 0;
  let n = size;
  let m = index;
  // Walk from the root down; each step's sibling is the proof element one level up, so reverse.
  while (n > 1) {
    const k = splitPoint(n);
    if (m < k) {
      ranges.push([start + k, start + n]);
      n = k;
    } else {
      ranges.push([start, start + k]);
      start += k;
      m -= k;
      n -= k;
    }
  }
  return ranges.reverse();
}

/** RFC 6962 §2.1.2 PROOF(oldSize, D[newSize]) as leaf ranges, in proof order. */
export function consistencyProofRanges(oldSize: number, newSize: number): LeafRange[] {
  requireCount(oldSize, 'oldSize');
  requireCount(newSize, 'newSize');
  if (oldSize < 1 || oldSize > newSize) {
    throw invalid('consistency proofs need 1 ≤ oldSize ≤ newSize', { oldSize, newSize });
  }
  const ranges: LeafRange[] = [];
  let start = 0;
  let n = newSize;
  let m = oldSize;
  let oldIsWholeSubtree = true; // SUBPROOF's b: the old tree is exactly this subtree so far
  while (m !== n) {
    const k = splitPoint(n);
    if (m <= k) {
      ranges.push([start + k, start + n]);
      n = k;
    } else {
      ranges.push([start, start + k]);
      start += k;
      m -= k;
      n -= k;
      oldIsWholeSubtree = false;
    }
  }
  if (!oldIsWholeSubtree) ranges.push([start, start + n]);
  return ranges.reverse();
}

/**
 * Splits [start, end) into maximal aligned perfect subtrees, left to right. For the ranges RFC 6962
 * proofs use (start a multiple of a power of two ≥ end-start) these are the set bits of end-start
 * from high to low, and foldSubtrees of their hashes is MTH of the range.
 */
export function perfectSubtrees(start: number, end: number): SubtreeId[] {
  requireCount(start, 'start');
  requireCount(end, 'end');
  if (start > end) throw invalid('start must not exceed end', { start, end });
  const out: SubtreeId[] = [];
  let at = start;
  while (at < end) {
    let level = 0;
    let width = 1;
    while (at % (width * 2) === 0 && at + width * 2 <= end) {
      level++;
      width *= 2;
    }
    out.push({ level, index: at / width });
    at += width;
  }
  return out;
}

/** MTH of a range from its perfect-subtree hashes (left to right): h = nodeHash(h_i, h), right to left. */
export function foldSubtrees(hashes: readonly Uint8Array[]): Buffer {
  if (hashes.length === 0) return EMPTY_ROOT;
  let h: Buffer = Buffer.from(hashes[hashes.length - 1]!);
  for (let i = hashes.length - 2; i >= 0; i--) h = nodeHash(hashes[i]!, h);
  return h;
}

export function inclusionProof(index: number, leafHashes: readonly Uint8Array[]): Buffer[] {
  return inclusionProofRanges(index, leafHashes.length).map(([s, e]) => subtreeHash(leafHashes, s, e));
}

export function consistencyProof(oldSize: number, leafHashes: readonly Uint8Array[]): Buffer[] {
  return consistencyProofRanges(oldSize, leafHashes.length).map(([s, e]) => subtreeHash(leafHashes, s, e));
}

/** RFC 9162 §2.1.3.2. */
export function verifyInclusion(
  index: number | bigint,
  size: number | bigint,
  leaf: Uint8Array,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): boolean {
  const fnStart = asCount(index);
  const snStart = asCount(size);
  if (fnStart === undefined || snStart === undefined || fnStart >= snStart) return false;
  if (!isHash(leaf) || !isHash(root) || !proof.every(isHash)) return false;
  const [inner, border] = decomposeInclusionProof(BigInt(fnStart), BigInt(snStart));
  // The exact length first: a proof of the wrong length is refused before any hashing.
  if (proof.length !== inner + border) return false;
  let r = chainInner(Buffer.from(leaf), proof.slice(0, inner), BigInt(fnStart));
  r = chainBorderRight(r, proof.slice(inner));
  return equalBytes(r, root);
}

/** RFC 9162 §2.1.4.2; equal sizes need an empty proof and equal roots; oldSize 0 is refused. */
export function verifyConsistency(
  oldSize: number | bigint,
  newSize: number | bigint,
  oldRoot: Uint8Array,
  newRoot: Uint8Array,
  proof: readonly Uint8Array[],
): boolean {
  const first = asCount(oldSize);
  const second = asCount(newSize);
  if (first === undefined || second === undefined || first < 1 || first > second) return false;
  if (!isHash(oldRoot) || !isHash(newRoot) || !proof.every(isHash)) return false;
  if (first === second) return proof.length === 0 && equalBytes(oldRoot, newRoot);
  if (proof.length === 0) return false;
  const size1 = BigInt(first);
  const [fullInner, border] = decomposeInclusionProof(size1 - 1n, BigInt(second));
  const shift = trailingZeros(size1);
  const inner = fullInner - shift;
  // When the old tree is a complete subtree its root is the seed; otherwise the proof's first hash is.
  const seedIsOldRoot = size1 === 1n << BigInt(shift);
  const start = seedIsOldRoot ? 0 : 1;
  // The exact length first: a proof of the wrong length is refused before any hashing.
  if (proof.length !== start + inner + border) return false;
  const seed = Buffer.from(seedIsOldRoot ? oldRoot : proof[0]!);
  const path = proof.slice(start);
  const mask = (size1 - 1n) >> BigInt(shift);
  const fr = chainBorderRight(chainInnerRight(seed, path.slice(0, inner), mask), path.slice(inner));
  const sr = chainBorderRight(chainInner(seed, path.slice(0, inner), mask), path.slice(inner));
  // Evaluate both comparisons so timing does not reveal which root differed.
  const oldMatches = equalBytes(fr, oldRoot);
  const newMatches = equalBytes(sr, newRoot);
  return oldMatches && newMatches;
}

// Shared by both verifiers (the decomposition transparency-dev and sigstore-js use): a proof for
// leaf `index` of a `size`-leaf tree is `inner` hashes below the point where the paths to `index`
// and to the last leaf split, then `border` hashes along the right border.
function decomposeInclusionProof(index: bigint, size: bigint): [inner: number, border: number] {
  const inner = bitLength(index ^ (size - 1n));
  const border = popCount(index >> BigInt(inner));
  return [inner, border];
}

function chainInner(seed: Buffer, proof: readonly Uint8Array[], index: bigint): Buffer {
  let r = seed;
  proof.forEach((h, i) => {
    r = ((index >> BigInt(i)) & 1n) === 0n ? nodeHash(r, h) : nodeHash(h, r);
  });
  return r;
}

function chainInnerRight(seed: Buffer, proof: readonly Uint8Array[], index: bigint): Buffer {
  let r = seed;
  proof.forEach((h, i) => {
    if (((index >> BigInt(i)) & 1n) === 1n) r = nodeHash(h, r);
  });
  return r;
}

function chainBorderRight(seed: Buffer, proof: readonly Uint8Array[]): Buffer {
  let r = seed;
  for (const h of proof) r = nodeHash(h, r);
  return r;
}

function bitLength(n: bigint): number {
  return n === 0n ? 0 : n.toString(2).length;
}

function popCount(n: bigint): number {
  let count = 0;
  for (const bit of n.toString(2)) if (bit === '1') count++;
  return count;
}

function trailingZeros(n: bigint): number {
  let count = 0;
  while (n > 0n && (n & 1n) === 0n) {
    n >>= 1n;
    count++;
  }
  return count;
}

function isHash(h: unknown): h is Uint8Array {
  return h instanceof Uint8Array && h.length === HASH_LENGTH;
}

/** A non-negative safe integer as a number, or undefined. */
function asCount(n: number | bigint): number | undefined {
  if (typeof n === 'bigint') {
    return n >= 0n && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : undefined;
  }
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

function requireCount(n: number, name: string): void {
  if (!Number.isSafeInteger(n) || n < 0) throw invalid(`${name} must be a non-negative safe integer`, { [name]: n });
}

function invalid(message: string, details: Record<string, unknown>): SealtrailError {
  return new SealtrailError('invalid_argument', message, { details });
}
