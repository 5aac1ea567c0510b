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
  let fn = fnStart;
  let sn = snStart - 1;
  let r: Buffer = Buffer.from(leaf);
  for (const p of proof) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      while (fn % 2 === 0 && fn !== 0) {
        fn = Math.floor(fn / 2);
        sn = Math.floor(sn / 2);
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && equalBytes(r, root);
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
  const path = isPowerOfTwo(first) ? [oldRoot, ...proof] : proof;
  let fn = first - 1;
  let sn = second - 1;
  while (fn % 2 === 1) {
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  let fr: Buffer = Buffer.from(path[0]!);
  let sr: Buffer = fr;
  for (let i = 1; i < path.length; i++) {
    const c = path[i]!;
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      while (fn % 2 === 0 && fn !== 0) {
        fn = Math.floor(fn / 2);
        sn = Math.floor(sn / 2);
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  // Evaluate both comparisons so timing does not reveal which root differed.
  const oldMatches = equalBytes(fr, oldRoot);
  const newMatches = equalBytes(sr, newRoot);
  return sn === 0 && oldMatches && newMatches;
}

function isPowerOfTwo(n: number): boolean {
  let p = 1;
  while (p < n) p *= 2;
  return p === n;
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
