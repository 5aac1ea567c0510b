/**
 * Re-derives everything the ledger claims, trusting the database to compute nothing: every
 * event_hash from its payload, every prev link and chain_hash, every Merkle leaf and every hash
 * of the stored tiles (merkle_tiles) from those leaves, the head row, and, against a trusted state kept
 * elsewhere, that the ledger still extends it (which is what catches tail truncation and a
 * wholesale re-chain, both invisible in the table alone). Reports the FIRST divergence by seq.
 *
 * Everything is read from one snapshot of the database, so appends committing meanwhile can never
 * look like tampering. The range is cut into segments aligned to a power of two, verified
 * independently (in worker threads when the ledger is large and a URL is known; on PostgreSQL
 * they adopt the same exported snapshot) and stitched together in order: the prev link across
 * each cut, the subtrees that span cuts, the trusted state and the first divergence.
 */
import { availableParallelism } from 'node:os';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { GENESIS_HASH } from '../core/chain.js';
import { CompactRange } from '../core/compact-range.js';
import { ERROR_CATALOGUE, SealtrailError, type ErrorCode } from '../core/errors.js';
import { ledgerLeafHash } from '../core/ledger-leaf.js';
import { nodeHash, perfectSubtrees } from '../core/merkle.js';
import { TILE_HEIGHT } from '../core/tile-edge.js';
import { nodeKeyString, type MerkleNode, type SnapshotReader, type Store } from '../store/store.js';
import { loadFrontier } from './frontier.js';
import { verifySegment, type SegmentProbe, type SegmentResult, type SegmentTask } from './segment-verifier.js';
import type { TrustedState } from './trusted-state.js';

export type DivergenceReason =
  | 'event_hash_mismatch'
  | 'prev_hash_mismatch'
  | 'chain_hash_mismatch'
  | 'seq_gap'
  | 'root_mismatch'
  | 'truncated'
  | 'checkpoint_mismatch'
  | 'tree_mismatch'
  | 'unrecorded_redaction';

export interface Divergence {
  seq: number;
  kind: string | null;
  pk: string | null;
  reason: DivergenceReason;
}

export interface VerifyOptions {
  from?: number;
  to?: number;
  trusted?: TrustedState;
  /** Called as segments complete with the number of entries checked so far (progress bars). */
  onProgress?: (checked: number, total: number) => void;
  /** Worker threads to use for large ranges (default: the machine's cores, at most 4; 1 = none). */
  workers?: number;
  /** log2 of the leaves per segment (default SEALTRAIL_VERIFY_SEGMENT_LOG2 or 16); a tuning knob, also used by tests to force many segments. */
  segmentLog2?: number;
  /**
   * With `trusted`: start after the trusted size instead of re-reading the prefix. Faster, but an
   * edit before the trusted size that leaves the last trusted row and the stored frontier (or
   * `trusted.frontier`) intact goes unseen; the report says so (`skippedPrefix`).
   */
  skipPrefix?: boolean;
  /** Sizes at which to report the recomputed state (e.g. every published checkpoint size); one streaming pass. */
  statesAt?: readonly number[];
}

export interface VerifiedState {
  size: number;
  chainHash: Buffer;
  root: Buffer;
}

export interface VerifyReport {
  ok: boolean;
  checked: number;
  from: number;
  to: number;
  /** The size it recomputed up to: `to` when ok, else the last size before the divergence. */
  size: number;
  /** Recomputed chain hash at `size` (GENESIS for 0). */
  chainHash: Buffer;
  /** Recomputed root at `size` (null only when the frontier before `from` could not be rebuilt). */
  root: Buffer | null;
  /** Recomputed compact-range frontier at `size` (a monitor keeps it as its next trusted state). */
  frontier: Buffer[] | null;
  /** What ledger_head claims. */
  headSize: number;
  /** One per requested statesAt size in [from − 1, size], ascending, from leaves it hashed. */
  states: VerifiedState[];
  /** Seqs whose payload was blanked by a recorded redaction. */
  redacted: number[];
  /** True when the prefix before the trusted size was not re-read (skipPrefix). */
  skippedPrefix: boolean;
  divergence: Divergence | null;
}

const DEFAULT_SEGMENT_LOG2 = 16;
/** Ranges from this size are verified in workers with the default segment size (smaller: start-up costs more than it saves). */
const PARALLEL_MIN_ENTRIES = 2 ** 16;
const MIN_AUTO_SEGMENT_LOG2 = 12;
const SEGMENTS_PER_WORKER = 4;

/** Order of the checks on one seq, so that ties between findings resolve as a sequential pass would. */
const RANK: Record<DivergenceReason, number> = {
  seq_gap: 0,
  root_mismatch: 1,
  unrecorded_redaction: 2,
  event_hash_mismatch: 2,
  prev_hash_mismatch: 3,
  chain_hash_mismatch: 4,
  tree_mismatch: 5,
  checkpoint_mismatch: 6,
  truncated: 7,
};

interface State {
  size: number;
  chainHash: Buffer;
  /** Null when the frontier before an unaligned start could not be rebuilt. */
  range: CompactRange | null;
}

class Diverged extends Error {
  constructor(
    readonly divergence: Divergence,
    /** The recomputed state just before the divergence (or at `to` for a head row mismatch). */
    readonly state: State,
  ) {
    super(divergence.reason);
  }
}

function usage(code: ErrorCode, message: string, details?: Record<string, unknown>): never {
  throw new SealtrailError(code, message, details ? { details } : undefined);
}

function defaultSegmentLog2(): number {
  const env = process.env.SEALTRAIL_VERIFY_SEGMENT_LOG2;
  if (env === undefined || env === '') return DEFAULT_SEGMENT_LOG2;
  const n = Number(env);
  if (!Number.isInteger(n) || n < 0 || n > 30) usage('config_invalid', `SEALTRAIL_VERIFY_SEGMENT_LOG2 must be an integer in 0..30, got ${JSON.stringify(env)}`);
  return n;
}

function checkOptions(options: VerifyOptions): void {
  for (const name of ['from', 'to'] as const) {
    const v = options[name];
    if (v !== undefined && !Number.isSafeInteger(v)) usage('invalid_argument', `${name} must be an integer, got ${String(v)}`);
  }
  if (options.segmentLog2 !== undefined && (!Number.isInteger(options.segmentLog2) || options.segmentLog2 < 0 || options.segmentLog2 > 30)) {
    usage('invalid_argument', 'segmentLog2 must be an integer in 0..30');
  }
  if (options.workers !== undefined && (!Number.isInteger(options.workers) || options.workers < 1)) usage('invalid_argument', 'workers must be a positive integer');
  if (options.statesAt && options.statesAt.some((n) => !Number.isSafeInteger(n) || n < 0)) usage('invalid_argument', 'statesAt sizes must be non-negative integers');
  if (options.skipPrefix && !options.trusted) usage('invalid_argument', 'skipPrefix needs a trusted state');
  if (options.skipPrefix && options.from !== undefined) usage('invalid_argument', 'skipPrefix starts after the trusted size; it cannot be combined with from');
}

export async function verifyLedger(store: Store, options: VerifyOptions = {}, url?: string): Promise<VerifyReport> {
  checkOptions(options);
  const segmentLog2 = options.segmentLog2 ?? defaultSegmentLog2();
  return store.readSnapshot((snapshot) => verifySnapshot(snapshot, options, segmentLog2, url));
}

/**
 * The segment size for a range. An explicit size (option or environment) is used as is. By
 * default segments are cut smaller (down to 2^MIN_AUTO_SEGMENT_LOG2) when the range would
 * otherwise give each worker fewer than SEGMENTS_PER_WORKER of them: with a few big segments the
 * last one leaves every other core idle (200,000 entries in 2^16 segments on two workers: one
 * verifies 131,072 entries, the other 68,928).
 */
function segmentSize(options: VerifyOptions, segmentLog2: number, rangeSize: number, workers: number): number {
  const explicit = options.segmentLog2 !== undefined || (process.env.SEALTRAIL_VERIFY_SEGMENT_LOG2 ?? '') !== '';
  if (explicit || workers <= 1 || rangeSize < PARALLEL_MIN_ENTRIES) return 2 ** segmentLog2;
  const fit = Math.floor(Math.log2(rangeSize / (workers * SEGMENTS_PER_WORKER)));
  return 2 ** Math.max(MIN_AUTO_SEGMENT_LOG2, Math.min(segmentLog2, fit));
}

async function verifySnapshot(snap: SnapshotReader, options: VerifyOptions, segmentLog2: number, url: string | undefined): Promise<VerifyReport> {
  const head = await snap.readHead();
  const trusted = options.trusted;
  const maxRow = await snap.query<{ m: number | null }>('SELECT max(seq) AS m FROM audit_chain');
  const lastStored = Number(maxRow[0]?.m ?? 0);
  // Rows past the head (a phantom tail) are verified too: they must not exist at all.
  const end = Math.max(head.size, lastStored);
  const skipPrefix = options.skipPrefix === true;
  // from 1 is the start of any ledger, an empty one included (the default, spelled out).
  if (options.from !== undefined && (options.from < 1 || (options.from > end && options.from !== 1))) {
    usage('out_of_range', `from ${options.from} is outside the ledger (1..${end})`, { from: options.from, size: end });
  }
  if (options.to !== undefined && (options.to < 1 || options.to > end)) usage('out_of_range', `to ${options.to} is outside the ledger (1..${end})`, { to: options.to, size: end });
  if (options.from !== undefined && options.to !== undefined && options.from > options.to) {
    usage('out_of_range', `from ${options.from} is after to ${options.to}`, { from: options.from, to: options.to });
  }
  if (trusted && trusted.size <= end) {
    if (options.from !== undefined && options.from > trusted.size + 1) {
      usage('invalid_argument', `from ${options.from} starts after the trusted size ${trusted.size}, which then could not be checked`);
    }
    if (options.to !== undefined && options.to < trusted.size) usage('invalid_argument', `to ${options.to} ends before the trusted size ${trusted.size}, which then could not be checked`);
  }
  const from = skipPrefix ? Math.min(trusted!.size, end) + 1 : (options.from ?? 1);
  const to = options.to ?? end;
  const report: VerifyReport = {
    ok: true,
    checked: 0,
    from,
    to,
    size: from - 1,
    chainHash: GENESIS_HASH,
    root: null,
    frontier: null,
    headSize: head.size,
    states: [],
    redacted: [],
    skippedPrefix: skipPrefix,
    divergence: null,
  };
  const wanted = [...new Set(options.statesAt ?? [])].sort((a, b) => a - b);
  const probeStates = new Map<number, State>();
  let state: State = { size: from - 1, chainHash: GENESIS_HASH, range: null };
  try {
    state = await startingState(snap, from, trusted, skipPrefix, lastStored);
    probeStates.set(state.size, state);
    const wantedWorkers = url ? (options.workers ?? Math.min(availableParallelism(), 4)) : 1;
    const segment = segmentSize(options, segmentLog2, to - from + 1, wantedWorkers);
    const probes = new Set(wanted.filter((n) => n >= from && n <= to));
    if (trusted && trusted.size >= from && trusted.size <= to) {
      probes.add(trusted.size);
      if (trusted.size - 1 >= from) probes.add(trusted.size - 1);
    }
    const tasks = planSegments(from, to, segment, state.range, head.size, [...probes]);
    let expected = from;
    // Below two segments, worker start-up costs more than it saves.
    const workers = url && tasks.length >= 2 && to - from + 1 >= 2 * segment ? Math.min(wantedWorkers, tasks.length) : 1;
    const snapshotId = workers > 1 ? await snap.exportSnapshot() : null;
    for await (const done of runSegments(snap, url, snapshotId, tasks, workers)) {
      const task = tasks[done.index]!;
      const s = done.result;
      const before = state;
      const findings: Divergence[] = [];
      // The link into this segment, checked where a sequential run would check it.
      if (s.firstPrevHash && !s.firstPrevHash.equals(before.chainHash)) {
        findings.push({ ...(await rowIdentity(snap, s.from)), seq: s.from, reason: 'prev_hash_mismatch' });
      }
      if (s.divergence) findings.push(s.divergence);
      const isGlobal = task.start !== undefined;
      const crossing: MerkleNode[] = [];
      const after: State = {
        size: before.size + s.count,
        chainHash: s.lastChainHash ?? before.chainHash,
        range: before.range && mergeFrontier(before.range, s.frontier, s.count, isGlobal, crossing),
      };
      // Only tile hashes (heights 0, 8, 16, …) are stored; the others are recomputed from them.
      const storedCrossing = crossing.filter((n) => n.level % TILE_HEIGHT === 0);
      if (storedCrossing.length > 0) {
        const stored = await snap.readNodes(storedCrossing);
        for (const n of storedCrossing) {
          const hash = stored.get(nodeKeyString(n.level, n.index));
          if (!hash || !hash.equals(n.hash)) {
            const seq = (n.index + 1) * 2 ** n.level;
            findings.push({ ...(await rowIdentity(snap, seq)), seq, reason: 'tree_mismatch' });
          }
        }
      }
      for (const p of s.probes) {
        const at = probeState(before, p, s.from, isGlobal);
        probeStates.set(p.seq, at);
        if (trusted && p.seq === trusted.size && !matchesTrusted(at, trusted)) {
          findings.push({ ...(await rowIdentity(snap, p.seq)), seq: p.seq, reason: 'checkpoint_mismatch' });
        }
      }
      const first = firstOf(findings);
      if (first) {
        const prefix = first.seq - 1;
        const at = prefix <= before.size ? before : prefix === after.size ? after : (probeStates.get(prefix) ?? (await recomputeState(snap, before, prefix)));
        report.redacted.push(...s.redacted.filter((r) => r <= prefix));
        report.checked = Math.max(0, prefix - from + 1);
        throw new Diverged(first, at);
      }
      report.redacted.push(...s.redacted);
      state = after;
      expected = s.nextSeq;
      report.checked += s.count;
      options.onProgress?.(report.checked, to - from + 1);
      if (s.nextSeq <= s.to) break;
    }
    if (expected <= to) throw new Diverged({ seq: expected, kind: null, pk: null, reason: expected > lastStored ? 'truncated' : 'seq_gap' }, state);
    if (to === end && head.size < end) {
      // Rows past the head that the pass did not read (they were skipped with the prefix).
      throw new Diverged({ ...(await rowIdentity(snap, head.size + 1)), seq: head.size + 1, reason: 'root_mismatch' }, state);
    }
    if (to === end && (!state.chainHash.equals(head.chainHash) || (state.range && !state.range.root().equals(head.root)))) {
      // The entries are sound; only the head row disagrees with them.
      throw new Diverged({ ...(await rowIdentity(snap, head.size)), seq: head.size, reason: 'root_mismatch' }, state);
    }
    if (trusted && trusted.size > end) throw new Diverged({ seq: end + 1, kind: null, pk: null, reason: 'truncated' }, state);
  } catch (err) {
    if (!(err instanceof Diverged)) throw err;
    report.ok = false;
    report.divergence = err.divergence;
    state = err.state;
  }
  report.size = state.size;
  report.chainHash = state.chainHash;
  report.root = state.range ? state.range.root() : null;
  report.frontier = state.range ? state.range.frontier() : null;
  for (const n of wanted) {
    const at = n <= state.size ? probeStates.get(n) : undefined;
    if (at?.range) report.states.push({ size: n, chainHash: at.chainHash, root: at.range.root() });
  }
  return report;
}

function firstOf(findings: Divergence[]): Divergence | undefined {
  let best: Divergence | undefined;
  for (const f of findings) {
    if (!best || f.seq < best.seq || (f.seq === best.seq && RANK[f.reason] < RANK[best.reason])) best = f;
  }
  return best;
}

function matchesTrusted(at: State, trusted: TrustedState): boolean {
  if (trusted.chainHash && !trusted.chainHash.equals(at.chainHash)) return false;
  if (!at.range || !at.range.root().equals(trusted.root)) return false;
  return !trusted.frontier || (trusted.frontier.length === at.range.frontier().length && trusted.frontier.every((h, i) => h.equals(at.range!.frontier()[i]!)));
}

async function rowIdentity(snap: SnapshotReader, seq: number): Promise<{ kind: string | null; pk: string | null }> {
  const rows = await snap.query<{ event_kind: string; event_pk: string }>('SELECT event_kind, event_pk FROM audit_chain WHERE seq = ?', [seq]);
  return { kind: rows[0]?.event_kind ?? null, pk: rows[0]?.event_pk ?? null };
}

/**
 * The state before `from`. From the start of the ledger it is genesis. Skipping the prefix, it is
 * the trusted state itself, with the trusted frontier or else the stored one, which must then
 * reproduce the trusted root. Starting mid-ledger otherwise, it is what the database holds
 * (nothing before `from` is vouched for).
 */
async function startingState(snap: SnapshotReader, from: number, trusted: TrustedState | undefined, skipPrefix: boolean, lastStored: number): Promise<State> {
  const before = from - 1;
  if (before === 0) {
    const state: State = { size: 0, chainHash: GENESIS_HASH, range: new CompactRange() };
    if (trusted && trusted.size === 0 && !matchesTrusted(state, trusted)) throw new Diverged({ seq: 0, kind: null, pk: null, reason: 'checkpoint_mismatch' }, state);
    return state;
  }
  const rows = await snap.query<{ chain_hash: Buffer; event_kind: string; event_pk: string }>('SELECT chain_hash, event_kind, event_pk FROM audit_chain WHERE seq = ?', [before]);
  const row = rows[0];
  const unknown: State = { size: before, chainHash: GENESIS_HASH, range: null };
  if (!row) throw new Diverged({ seq: before, kind: null, pk: null, reason: before > lastStored ? 'truncated' : 'seq_gap' }, { ...unknown, size: before - 1 });
  let range: CompactRange | null = null;
  // Starting from the trusted state itself (not when the ledger is now shorter than it).
  const fromTrusted = skipPrefix && trusted !== undefined && trusted.size === before;
  if (fromTrusted && trusted.frontier) {
    try {
      range = CompactRange.fromFrontier(before, trusted.frontier);
    } catch (err) {
      throw new SealtrailError('invalid_argument', `the trusted frontier does not fit size ${before}`, { cause: err });
    }
  } else {
    try {
      range = await loadFrontier((keys) => snap.readNodes(keys), before);
    } catch (err) {
      // An intact ledger always holds the tiles its frontier is read from: missing or malformed
      // tree data before `from` is itself a break, and without it nothing from `from` on could be
      // held to the tree either (a pass that went on would miss tiles deleted past `from`).
      if (!(err instanceof SealtrailError)) throw err;
      // Against a trusted state, the stored frontier has to reproduce the trusted root: the
      // mismatch below says so (checkpoint_mismatch at the trusted size).
      if (fromTrusted) range = null;
      else throw new Diverged({ seq: before, kind: row.event_kind, pk: row.event_pk, reason: 'tree_mismatch' }, { ...unknown, size: before - 1 });
    }
  }
  const state: State = { size: before, chainHash: fromTrusted && trusted.chainHash ? trusted.chainHash : row.chain_hash, range };
  if (trusted && trusted.size === before && (!matchesTrusted(state, trusted) || !row.chain_hash.equals(state.chainHash))) {
    throw new Diverged({ seq: before, kind: row.event_kind, pk: row.event_pk, reason: 'checkpoint_mismatch' }, { ...state, size: before });
  }
  return state;
}

/** Cuts [from, to] at multiples of `segment` leaves; an unaligned first piece carries the frontier before it. */
function planSegments(from: number, to: number, segment: number, range: CompactRange | null, headSize: number, probes: number[]): SegmentTask[] {
  const tasks: SegmentTask[] = [];
  let at = from;
  while (at <= to) {
    const leafIndex = at - 1;
    const end = Math.min(to, (Math.floor(leafIndex / segment) + 1) * segment);
    const aligned = leafIndex % segment === 0;
    const task: SegmentTask = { from: at, to: end, headSize, probes: probes.filter((p) => p >= at && p <= end), checkTree: range !== null };
    if (!aligned && range) task.start = { size: range.size, frontier: range.frontier() };
    tasks.push(task);
    at = end + 1;
  }
  return tasks;
}

/** A probe's state in global terms. */
function probeState(before: State, p: SegmentProbe, segmentFrom: number, isGlobal: boolean): State {
  return { size: p.seq, chainHash: p.chainHash, range: before.range && mergeFrontier(before.range, p.frontier, p.seq - segmentFrom + 1, isGlobal) };
}

/**
 * The frontier after a segment: a segment that started from the global frontier returned a global
 * one; an aligned segment's local perfect subtrees are appended onto the global frontier, which
 * is valid because the global size is a multiple of every subtree's width. The subtrees that
 * merging completes span the cut, so no segment saw them: they go to `completed` for checking.
 */
function mergeFrontier(global: CompactRange, segmentFrontier: Uint8Array[], count: number, isGlobal: boolean, completed?: MerkleNode[]): CompactRange {
  if (isGlobal) return CompactRange.fromFrontier(global.size + count, segmentFrontier);
  const frontier = global.frontier();
  let size = global.size;
  const levels = perfectSubtrees(0, count).map((s) => s.level);
  levels.forEach((level, i) => {
    let hash: Buffer = Buffer.from(segmentFrontier[i]!);
    let l = level;
    while (Math.floor(size / 2 ** l) % 2 === 1) {
      hash = nodeHash(frontier.pop()!, hash);
      size -= 2 ** l;
      l++;
      completed?.push({ level: l, index: size / 2 ** l, hash });
    }
    frontier.push(hash);
    size += 2 ** l;
  });
  return CompactRange.fromFrontier(size, frontier);
}

/** The state at `size` inside a segment, re-hashing its leaves (only after a divergence between probes). */
async function recomputeState(snap: SnapshotReader, before: State, size: number): Promise<State> {
  const range = before.range?.clone() ?? null;
  let chain = before.chainHash;
  for await (const batch of snap.entryBatches(before.size + 1, size)) {
    for (const e of batch) {
      range?.append(ledgerLeafHash({ kind: e.kind, pk: e.pk, eventHash: e.eventHash, appendedAtMicros: e.appendedAtMicros }));
      chain = e.chainHash;
    }
  }
  return { size, chainHash: chain, range };
}

/** Yields segment results in order, verifying up to `workers` segments at once. */
async function* runSegments(
  snap: SnapshotReader,
  url: string | undefined,
  snapshotId: string | null,
  tasks: SegmentTask[],
  workers: number,
): AsyncGenerator<{ index: number; result: SegmentResult }> {
  if (workers <= 1 || !url) {
    for (let index = 0; index < tasks.length; index++) yield { index, result: await verifySegment(snap, tasks[index]!) };
    return;
  }
  const pool = Array.from({ length: workers }, () => spawnWorker(url, snapshotId));
  const pending = new Map<number, Promise<SegmentResult>>();
  let next = 0;
  // Each worker is sent its next segment as soon as it answers (not round-robin by index), so a
  // worker held up by a slow segment or a busy core does not leave the others idle. Results are
  // still taken in order; at most `workers * 2` wait unconsumed (bounded memory on a stop).
  const feed = (worker: (typeof pool)[number]) => {
    if (next >= tasks.length || pending.size >= workers * 2) {
      idle.push(worker);
      return;
    }
    const index = next++;
    const promise = worker.run(index, tasks[index]!);
    // Rejections of results never awaited (verification stopped early) are not errors.
    promise.catch(() => {});
    void promise.then(
      () => feed(worker),
      () => {},
    );
    pending.set(index, promise);
  };
  const idle: Array<(typeof pool)[number]> = [];
  const wake = () => {
    while (idle.length > 0 && next < tasks.length && pending.size < workers * 2) feed(idle.shift()!);
  };
  try {
    for (const w of pool) feed(w);
    for (let index = 0; index < tasks.length; index++) {
      const result = await pending.get(index)!;
      pending.delete(index);
      wake();
      yield { index, result };
    }
  } finally {
    await Promise.all(pool.map((w) => w.close()));
  }
}

type WorkerReply = { index: number; ok: true; result: SegmentResult } | { index: number; ok: false; error: { message: string; code?: string; details?: Record<string, unknown> } };

function spawnWorker(url: string, snapshotId: string | null): { run(index: number, task: SegmentTask): Promise<SegmentResult>; close(): Promise<void> } {
  const workerData = { url, snapshotId };
  const worker = import.meta.url.endsWith('.ts')
    ? // Running from sources (tests, bench): workers do not inherit tsx's loader, so register it first.
      new Worker(
        `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((m) => { m.register(); return import(${JSON.stringify(new URL('./verify-worker.ts', import.meta.url).href)}); });`,
        { eval: true, workerData },
      )
    : new Worker(new URL('./verify-worker.js', import.meta.url), { workerData });
  // Replies are matched to requests by task index: segments may finish in any order.
  const waiting = new Map<number, { resolve: (r: SegmentResult) => void; reject: (e: Error) => void }>();
  let closing = false;
  const failAll = (err: Error) => {
    for (const w of waiting.values()) w.reject(err);
    waiting.clear();
  };
  worker.on('message', (message: WorkerReply) => {
    const w = waiting.get(message.index);
    if (!w) return;
    waiting.delete(message.index);
    if (message.ok) w.resolve(revive(message.result));
    else w.reject(reviveError(message.error));
  });
  worker.on('error', (err) => failAll(err instanceof SealtrailError ? err : new SealtrailError('internal', `verification worker failed: ${err.message}`, { cause: err })));
  const exited = once(worker, 'exit');
  void exited.then(([code]) => {
    if (!closing || waiting.size > 0) failAll(new SealtrailError('internal', `verification worker exited (code ${String(code)}) before answering`));
  });
  return {
    run(index, task) {
      return new Promise((resolve, reject) => {
        waiting.set(index, { resolve, reject });
        worker.postMessage({ index, task });
      });
    },
    async close() {
      closing = true;
      // Let the worker end its snapshot transaction and close its connection itself.
      worker.postMessage('close');
      const timer = setTimeout(() => void worker.terminate(), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

function reviveError(e: { message: string; code?: string; details?: Record<string, unknown> }): Error {
  const code = e.code && e.code in ERROR_CATALOGUE ? (e.code as ErrorCode) : 'internal';
  return new SealtrailError(code, e.message, e.details ? { details: e.details } : undefined);
}

/** Buffers arrive from a worker as plain Uint8Arrays. */
function revive(r: SegmentResult): SegmentResult {
  const buf = (u: Uint8Array) => Buffer.from(u.buffer, u.byteOffset, u.byteLength);
  return {
    ...r,
    firstPrevHash: r.firstPrevHash && buf(r.firstPrevHash),
    lastChainHash: r.lastChainHash && buf(r.lastChainHash),
    frontier: r.frontier.map(buf),
    probes: r.probes.map((p) => ({ seq: p.seq, chainHash: buf(p.chainHash), frontier: p.frontier.map(buf) })),
  };
}
