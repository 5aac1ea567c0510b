/**
 * Verification of one segment of the ledger, the unit of parallel verification. A segment starts
 * at a leaf index that is a multiple of a power of two at least as large as the segment, so its
 * Merkle frontier slots straight into the frontier of everything before it. Everything that needs
 * the previous segment (the prev_hash link of its first row) is left to the caller.
 */
import { canonicalHash } from '../core/canonical-json.js';
import { chainHash } from '../core/chain.js';
import { CompactRange } from '../core/compact-range.js';
import { ledgerLeafHash } from '../core/ledger-leaf.js';
import type { Store } from '../store/store.js';
import type { Divergence, DivergenceReason } from './verifier.js';

/** Rows per read: small enough that each batch dies young, which keeps garbage collection cheap. */
const VERIFY_BATCH = 1000;

export interface SegmentTask {
  /** First and last seq of the segment (inclusive). */
  from: number;
  to: number;
  /** A seq in the segment at which to report the chain hash and local frontier (a trusted state). */
  probe?: number;
  /**
   * The Merkle frontier before `from`, when the segment is not aligned (the first one of a
   * verification starting mid-ledger); the returned frontiers are then global, not local.
   */
  start?: { size: number; frontier: Uint8Array[] };
}

export interface SegmentResult {
  from: number;
  to: number;
  /** Rows read. */
  count: number;
  /** The first divergence inside the segment, the first row's prev link excepted. */
  divergence: Divergence | null;
  /** The stored prev_hash of the segment's first row (null when the segment is empty). */
  firstPrevHash: Buffer | null;
  /** The seq after the last row read (from + count when there was no gap). */
  nextSeq: number;
  /** The recomputed chain hash of the last row read. */
  lastChainHash: Buffer | null;
  /** The segment's Merkle frontier (perfect subtrees, left to right). */
  frontier: Buffer[];
  probe: { seq: number; chainHash: Buffer; frontier: Buffer[] } | null;
}

export async function verifySegment(store: Store, task: SegmentTask): Promise<SegmentResult> {
  const range = task.start ? CompactRange.fromFrontier(task.start.size, task.start.frontier) : new CompactRange();
  const result: SegmentResult = {
    from: task.from,
    to: task.to,
    count: 0,
    divergence: null,
    firstPrevHash: null,
    nextSeq: task.from,
    lastChainHash: null,
    frontier: [],
    probe: null,
  };
  const stop = (seq: number, reason: DivergenceReason, kind: string | null = null, pk: string | null = null) => {
    result.divergence = { seq, kind, pk, reason };
  };
  let prev: Buffer | null = null;
  outer: for await (const batch of store.entryBatches(task.from, task.to, VERIFY_BATCH)) {
    for (const e of batch) {
      if (e.seq !== result.nextSeq) {
        stop(result.nextSeq, 'seq_gap');
        break outer;
      }
      if (e.payload !== null && !canonicalHash(e.payload).equals(e.eventHash)) {
        stop(e.seq, 'event_hash_mismatch', e.kind, e.pk);
        break outer;
      }
      if (prev === null) result.firstPrevHash = e.prevHash;
      else if (!e.prevHash.equals(prev)) {
        stop(e.seq, 'prev_hash_mismatch', e.kind, e.pk);
        break outer;
      }
      const computed = chainHash(e.prevHash, e.eventHash, e.seq);
      if (!computed.equals(e.chainHash)) {
        stop(e.seq, 'chain_hash_mismatch', e.kind, e.pk);
        break outer;
      }
      range.append(ledgerLeafHash({ kind: e.kind, pk: e.pk, eventHash: e.eventHash, appendedAtMicros: e.appendedAtMicros }));
      if (e.seq === task.probe) result.probe = { seq: e.seq, chainHash: computed, frontier: range.frontier() };
      prev = computed;
      result.count++;
      result.nextSeq = e.seq + 1;
      result.lastChainHash = computed;
    }
  }
  result.frontier = range.frontier();
  return result;
}
