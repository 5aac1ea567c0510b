/**
 * The Merkle frontier of a growing log: one hash per set bit of size (the maximal perfect
 * subtrees, left to right). Appending costs O(1) amortised hashes, and every append reports the
 * perfect subtrees it completed so the ledger can store them for proof building.
 */
import { SealtrailError } from './errors.js';
import { EMPTY_ROOT, foldSubtrees, nodeHash } from './merkle.js';

/** A perfect subtree completed by an append: hash of leaves [index·2^level, (index+1)·2^level). */
export interface CompletedNode {
  level: number;
  index: number;
  hash: Buffer;
}

export class CompactRange {
  #size = 0;
  // Perfect-subtree hashes for the set bits of #size, highest bit first.
  #frontier: Buffer[] = [];

  static fromFrontier(size: number, hashes: readonly Uint8Array[]): CompactRange {
    if (!Number.isSafeInteger(size) || size < 0) {
      throw new SealtrailError('invalid_argument', 'size must be a non-negative safe integer', { details: { size } });
    }
    if (hashes.length !== popCount(size) || hashes.some((h) => h.length !== 32)) {
      throw new SealtrailError('invalid_argument', 'a frontier needs one 32-byte hash per set bit of size', {
        details: { size, hashes: hashes.length },
      });
    }
    return CompactRange.#of(size, hashes.map((h) => Buffer.from(h)));
  }

  static #of(size: number, frontier: Buffer[]): CompactRange {
    const range = new CompactRange();
    range.#size = size;
    range.#frontier = frontier;
    return range;
  }

  get size(): number {
    return this.#size;
  }

  /** Adds the next leaf; returns the leaf node and every perfect subtree it completed, bottom up. */
  append(leafHash: Uint8Array): CompletedNode[] {
    if (leafHash.length !== 32) {
      throw new SealtrailError('invalid_argument', 'a leaf hash is 32 bytes', { details: { length: leafHash.length } });
    }
    let hash: Buffer = Buffer.from(leafHash);
    let index = this.#size;
    let level = 0;
    const completed: CompletedNode[] = [{ level, index, hash }];
    // An odd index means its left sibling is the last frontier entry: merge and carry up.
    while (index % 2 === 1) {
      hash = nodeHash(this.#frontier.pop()!, hash);
      index = (index - 1) / 2;
      level++;
      completed.push({ level, index, hash });
    }
    this.#frontier.push(hash);
    this.#size++;
    return completed;
  }

  /** MTH of the leaves appended so far (EMPTY_ROOT when there are none). */
  root(): Buffer {
    return this.#size === 0 ? Buffer.from(EMPTY_ROOT) : foldSubtrees(this.#frontier);
  }

  frontier(): Buffer[] {
    return this.#frontier.map((h) => Buffer.from(h));
  }

  clone(): CompactRange {
    return CompactRange.#of(this.#size, this.frontier());
  }
}

function popCount(n: number): number {
  let count = 0;
  for (let x = n; x > 0; x = Math.floor(x / 2)) count += x % 2;
  return count;
}
