/**
 * Verification of one segment of the ledger, the unit of parallel verification. A segment starts
 * at a leaf index that is a multiple of a power of two at least as large as the segment, so its
 * Merkle frontier slots straight into the frontier of everything before it. Everything that needs
 * the previous segment (the prev_hash link of its first row, subtrees that cross into earlier
 * segments) is left to the caller.
 *
 * Each row is checked in a fixed order (row past the head, gap, redaction or event hash, prev
 * link, chain hash, stored tree data) and the segment stops at the first failure, so the result
 * is the same however the ledger is cut.
 */
import { canonicalHash } from '../core/canonical-json.js';
import { chainHash } from '../core/chain.js';
import { ledgerLeafHash } from '../core/ledger-leaf.js';
import { nodeHash } from '../core/merkle.js';
import { TILE_HEIGHT } from '../core/tile-edge.js';
import type { EntryRow, NodeRange, SnapshotReader } from '../store/store.js';
import type { Divergence, DivergenceReason } from './verifier.js';

/** Rows per read: small enough that each batch dies young, which keeps garbage collection cheap. */
const VERIFY_BATCH = 1000;

/** The kind of the chained event that records a redaction (see docs/spec.md, Redaction). */
export const REDACTION_KIND = 'sealtrail.redaction';

export interface SegmentTask {
  /** First and last seq of the segment (inclusive). */
  from: number;
  to: number;
  /** What ledger_head claims in the verifier's snapshot: a row past it must not exist. */
  headSize: number;
  /** Seqs in the segment at which to report the chain hash and frontier (trusted and requested states). */
  probes: number[];
  /**
   * The Merkle frontier before `from`, when the segment is not aligned (the first one of a
   * verification starting mid-ledger); the returned frontiers are then global, not local.
   */
  start?: { size: number; frontier: Uint8Array[] };
  /**
   * False when the frontier before `from` is unknown (a start mid-ledger whose stored frontier
   * cannot be rebuilt): then only the leaf hashes are compared, which need no frontier. Every
   * segment of such a run gets false, so the checks do not depend on where the range is cut.
   */
  checkTree: boolean;
}

export interface SegmentProbe {
  seq: number;
  chainHash: Buffer;
  frontier: Buffer[];
}

export interface SegmentResult {
  from: number;
  to: number;
  /** Rows that passed every check. */
  count: number;
  /** The first divergence inside the segment, the first row's prev link excepted. */
  divergence: Divergence | null;
  /** The stored prev_hash of the segment's first row (null when the segment is empty). */
  firstPrevHash: Buffer | null;
  /** The seq after the last row that passed (from + count). */
  nextSeq: number;
  /** The recomputed chain hash of the last row that passed. */
  lastChainHash: Buffer | null;
  /** The segment's Merkle frontier after the rows that passed (perfect subtrees, left to right). */
  frontier: Buffer[];
  probes: SegmentProbe[];
  /** Seqs with a NULL payload backed by a valid redaction event. */
  redacted: number[];
}

export async function verifySegment(snapshot: SnapshotReader, task: SegmentTask): Promise<SegmentResult> {
  const result: SegmentResult = {
    from: task.from,
    to: task.to,
    count: 0,
    divergence: null,
    firstPrevHash: null,
    nextSeq: task.from,
    lastChainHash: null,
    frontier: [],
    probes: [],
    redacted: [],
  };
  // The frontier in global leaf coordinates: `size` leaves so far, `frontier` holding only the
  // segment's own subtrees when it is aligned (base = its first leaf), all of them otherwise.
  const frontier: Buffer[] = task.start ? task.start.frontier.map((h) => Buffer.from(h)) : [];
  const base = task.start ? task.start.size : task.from - 1;
  let size = task.start ? task.start.size : task.from - 1;
  const probes = new Set(task.probes);
  const stop = (e: { seq: number; kind?: string; pk?: string }, reason: DivergenceReason) => {
    result.divergence = { seq: e.seq, kind: e.kind ?? null, pk: e.pk ?? null, reason };
  };
  let prev: Buffer | null = null;
  outer: for await (const batch of snapshot.entryBatches(task.from, task.to, VERIFY_BATCH)) {
    const redactions = await redactionsFor(snapshot, batch);
    const stored = await storedNodes(snapshot, batch[0]!.seq - 1, batch[batch.length - 1]!.seq - 1, task.start ? 0 : base, task.checkTree);
    for (const e of batch) {
      if (e.seq !== result.nextSeq) {
        stop({ seq: result.nextSeq }, 'seq_gap');
        break outer;
      }
      if (e.seq > task.headSize) {
        stop(e, 'root_mismatch');
        break outer;
      }
      if (e.payload === null) {
        if (!redactions.get(e.seq)) {
          stop(e, 'unrecorded_redaction');
          break outer;
        }
      } else if (!canonicalHash(e.payload).equals(e.eventHash)) {
        stop(e, 'event_hash_mismatch');
        break outer;
      }
      if (prev === null) result.firstPrevHash = e.prevHash;
      else if (!e.prevHash.equals(prev)) {
        stop(e, 'prev_hash_mismatch');
        break outer;
      }
      // A tampered hash of the wrong length cannot chain: a mismatch here, not a crash.
      const computed = e.prevHash.length === 32 && e.eventHash.length === 32 ? chainHash(e.prevHash, e.eventHash, e.seq) : null;
      if (computed === null || !computed.equals(e.chainHash)) {
        stop(e, 'chain_hash_mismatch');
        break outer;
      }
      const leaf = ledgerLeafHash({ kind: e.kind, pk: e.pk, eventHash: e.eventHash, appendedAtMicros: e.appendedAtMicros });
      // Append the leaf, comparing every subtree it completes with the stored one before
      // committing, so that on a mismatch the frontier still describes the rows that passed.
      let hash = leaf;
      let index = size;
      let level = 0;
      let depth = frontier.length;
      let treeOk = sameNode(stored, 0, index, hash);
      while (treeOk && index % 2 === 1 && depth > 0) {
        hash = nodeHash(frontier[--depth]!, hash);
        index = (index - 1) / 2;
        level++;
        treeOk = sameNode(stored, level, index, hash);
      }
      if (!treeOk) {
        stop(e, 'tree_mismatch');
        break outer;
      }
      frontier.length = depth;
      frontier.push(hash);
      size++;
      if (e.payload === null) result.redacted.push(e.seq);
      if (probes.has(e.seq)) result.probes.push({ seq: e.seq, chainHash: computed, frontier: frontier.map((h) => Buffer.from(h)) });
      prev = computed;
      result.count++;
      result.nextSeq = e.seq + 1;
      result.lastChainHash = computed;
    }
  }
  result.frontier = frontier;
  return result;
}

interface StoredLevel {
  from: number;
  hashes: Array<Buffer | undefined>;
}

function sameNode(stored: StoredLevel[], level: number, index: number, hash: Buffer): boolean {
  // Only heights 0, 8, 16, … are stored (tiles); the rest are recomputed from them, never compared.
  if (level % TILE_HEIGHT !== 0) return true;
  const l = stored[level];
  // A level not read (no frontier to build it on) is not compared.
  if (!l) return true;
  const h = l.hashes[index - l.from];
  return h !== undefined && h.equals(hash);
}

/**
 * The stored subtrees (tile hashes: heights multiple of 8) completed by leaves lo..hi that lie entirely at or after leaf `floor` (the
 * ones this segment can recompute): at level L, idx with (idx + 1)·2^L − 1 in [lo, hi] and
 * idx·2^L ≥ floor; the leaves alone unless `aboveLeaves`. A few range reads instead of a point
 * read per node.
 */
async function storedNodes(snapshot: SnapshotReader, lo: number, hi: number, floor: number, aboveLeaves: boolean): Promise<StoredLevel[]> {
  const ranges: NodeRange[] = [];
  for (let level = 0, width = 1; width <= hi + 1 && (level === 0 || aboveLeaves); level += TILE_HEIGHT, width *= 2 ** TILE_HEIGHT) {
    const from = Math.max(Math.ceil((lo + 1) / width) - 1, Math.ceil(floor / width));
    const to = Math.floor((hi + 1) / width) - 1;
    ranges.push({ level, from, to });
  }
  const found = await snapshot.readNodeRanges(ranges);
  const out: StoredLevel[] = [];
  ranges.forEach((r, i) => (out[r.level] = { from: r.from, hashes: found[i]! }));
  return out;
}

/**
 * For each NULL payload in the batch: whether a redaction event recorded it. It must be a later
 * entry of kind sealtrail.redaction, pk = the seq, whose own payload is intact (hash and chain
 * link of that row recomputed here, wherever it lies) and names this seq and its event_hash. A
 * blanked redaction event is never a record.
 */
async function redactionsFor(snapshot: SnapshotReader, batch: readonly EntryRow[]): Promise<Map<number, boolean>> {
  const out = new Map<number, boolean>();
  const blanked = batch.filter((e) => e.payload === null);
  if (blanked.length === 0) return out;
  const pks = blanked.map((e) => String(e.seq));
  const records = new Map<string, { seq: number; event_hash: Buffer; prev_hash: Buffer; chain_hash: Buffer; payload: string | null }>();
  for (let i = 0; i < pks.length; i += 500) {
    const chunk = pks.slice(i, i + 500);
    const rows = await snapshot.query<{ seq: number; event_pk: string; event_hash: Buffer; prev_hash: Buffer; chain_hash: Buffer; payload: string | null }>(
      `SELECT seq, event_pk, event_hash, prev_hash, chain_hash, payload FROM audit_chain WHERE event_kind = ? AND event_pk IN (${chunk.map(() => '?').join(', ')})`,
      [REDACTION_KIND, ...chunk],
    );
    for (const r of rows) records.set(r.event_pk, { ...r, seq: Number(r.seq) });
  }
  for (const e of blanked) out.set(e.seq, e.kind !== REDACTION_KIND && recordsRedaction(records.get(String(e.seq)), e));
  return out;
}

function recordsRedaction(r: { seq: number; event_hash: Buffer; prev_hash: Buffer; chain_hash: Buffer; payload: string | null } | undefined, e: EntryRow): boolean {
  if (!r || r.seq <= e.seq || r.payload === null) return false;
  if (!canonicalHash(r.payload).equals(r.event_hash) || !chainHash(r.prev_hash, r.event_hash, r.seq).equals(r.chain_hash)) return false;
  let named: { seq?: unknown; event_hash?: unknown };
  try {
    named = JSON.parse(r.payload) as typeof named;
  } catch {
    return false;
  }
  return named !== null && named.seq === e.seq && typeof named.event_hash === 'string' && named.event_hash.toLowerCase() === e.eventHash.toString('hex');
}
