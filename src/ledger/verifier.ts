/**
 * Re-derives everything the ledger claims, trusting the database to compute nothing: every
 * event_hash from its payload, every prev link and chain_hash, the Merkle root, and, against a
 * trusted state kept elsewhere, that the ledger still extends it (which is what catches tail
 * truncation and a wholesale re-chain, both invisible in the table alone). Reports the FIRST
 * divergence.
 *
 * The range is cut into segments aligned to a power of two, verified independently (in worker
 * threads when the ledger is large and a URL is known) and stitched together in order: the prev
 * link across each cut, the Merkle frontiers, the trusted state and the first divergence.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { GENESIS_HASH } from '../core/chain.js';
import { CompactRange } from '../core/compact-range.js';
import { nodeHash, perfectSubtrees } from '../core/merkle.js';
import type { Store } from '../store/store.js';
import { loadFrontier } from './frontier.js';
import { verifySegment, type SegmentResult, type SegmentTask } from './segment-verifier.js';
import type { TrustedState } from './trusted-state.js';

export type DivergenceReason =
  | 'event_hash_mismatch'
  | 'prev_hash_mismatch'
  | 'chain_hash_mismatch'
  | 'seq_gap'
  | 'root_mismatch'
  | 'truncated'
  | 'checkpoint_mismatch';

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
  /** log2 of the leaves per segment (default 16); a tuning knob, also used by tests to force many segments. */
  segmentLog2?: number;
  /** Start right after `trusted.size` (from the trusted frontier when it carries one) instead of reading the prefix. */
  skipPrefix?: boolean;
}

export interface VerifyReport {
  ok: boolean;
  checked: number;
  from: number;
  to: number;
  /** The size the verifier recomputed the chain and tree up to. */
  size: number;
  /** The chain hash it recomputed at `size` (genesis for 0). */
  chainHash: Buffer;
  /** The Merkle root it recomputed at `size`; null when it could not rebuild the tree. */
  root: Buffer | null;
  /** The compact-range frontier it recomputed at `size`; null when it could not rebuild the tree. */
  frontier: Buffer[] | null;
  /** The size `ledger_head` claims. */
  headSize: number;
  divergence: Divergence | null;
}

const DEFAULT_SEGMENT_LOG2 = 16;

class Diverged extends Error {
  constructor(readonly divergence: Divergence) {
    super(divergence.reason);
  }
}

function diverge(seq: number, reason: DivergenceReason, kind: string | null = null, pk: string | null = null): never {
  throw new Diverged({ seq, kind, pk, reason });
}

export async function verifyLedger(store: Store, options: VerifyOptions = {}, url?: string): Promise<VerifyReport> {
  const head = await store.readHead();
  const trusted = options.trusted;
  const maxRow = await store.query<{ m: number | null }>('SELECT max(seq) AS m FROM audit_chain');
  const lastStored = Number(maxRow[0]?.m ?? 0);
  // Rows past the head (a phantom tail) are verified too: they must not exist at all.
  const end = Math.max(head.size, lastStored);
  const from = options.from ?? (trusted && trusted.size > 0 && options.skipPrefix !== false ? trusted.size + 1 : 1);
  const to = Math.min(options.to ?? end, end);
  const report: VerifyReport = { ok: true, checked: 0, from, to, size: from - 1, chainHash: GENESIS_HASH, root: null, frontier: null, headSize: head.size, divergence: null };
  try {
    if (trusted && trusted.size > head.size) {
      // The ledger is shorter than a state it once had: cut off, or rolled back.
      diverge(Math.min(head.size, lastStored) + 1, 'truncated');
    }
    const start = await startingState(store, from, trusted);
    const segment = 2 ** (options.segmentLog2 ?? DEFAULT_SEGMENT_LOG2);
    const tasks = planSegments(from, to, segment, start.range, trusted?.size);
    let prev = start.prevHash;
    let range = start.range;
    let expected = from;
    // Below two segments, worker start-up costs more than it saves.
    const workers = url && tasks.length >= 2 && to - from + 1 >= 2 * segment ? Math.min(options.workers ?? Math.min(availableParallelism(), 4), tasks.length) : 1;
    for await (const done of runSegments(store, url, tasks, workers)) {
      const task = tasks[done.index]!;
      const s = done.result;
      // The link into this segment, checked where a sequential run would check it.
      const firstRowFailedEarlier = s.divergence?.seq === s.from && (s.divergence.reason === 'seq_gap' || s.divergence.reason === 'event_hash_mismatch');
      if (s.firstPrevHash && !s.firstPrevHash.equals(prev) && !firstRowFailedEarlier) {
        const first = await store.query<{ event_kind: string; event_pk: string }>('SELECT event_kind, event_pk FROM audit_chain WHERE seq = ?', [s.from]);
        diverge(s.from, 'prev_hash_mismatch', first[0]?.event_kind ?? null, first[0]?.event_pk ?? null);
      }
      if (trusted && s.probe && (!s.divergence || s.divergence.seq > s.probe.seq)) {
        const rootThere = range && mergeFrontier(range, s.probe.frontier, s.probe.seq - s.from + 1, task.start !== undefined).root();
        if ((trusted.chainHash && !trusted.chainHash.equals(s.probe.chainHash)) || (rootThere && !rootThere.equals(trusted.root))) {
          const row = await store.query<{ event_kind: string; event_pk: string }>('SELECT event_kind, event_pk FROM audit_chain WHERE seq = ?', [s.probe.seq]);
          report.checked += s.probe.seq - s.from;
          diverge(s.probe.seq, 'checkpoint_mismatch', row[0]?.event_kind ?? null, row[0]?.event_pk ?? null);
        }
      }
      if (s.divergence) {
        report.checked += s.count;
        const d = s.divergence;
        diverge(d.seq, d.reason === 'seq_gap' && d.seq > lastStored ? 'truncated' : d.reason, d.kind, d.pk);
      }
      const phantom = s.count > 0 && s.nextSeq - 1 > head.size ? Math.max(head.size + 1, s.from) : 0;
      if (phantom) {
        report.checked += phantom - s.from;
        const row = await store.query<{ event_kind: string; event_pk: string }>('SELECT event_kind, event_pk FROM audit_chain WHERE seq = ?', [phantom]);
        diverge(phantom, 'root_mismatch', row[0]?.event_kind ?? null, row[0]?.event_pk ?? null);
      }
      if (range) range = mergeFrontier(range, s.frontier, s.count, task.start !== undefined);
      if (s.lastChainHash) prev = s.lastChainHash;
      expected = s.nextSeq;
      report.checked += s.count;
      options.onProgress?.(report.checked, to - from + 1);
      if (s.nextSeq <= s.to) break;
    }
    if (expected <= to) diverge(expected, expected > lastStored ? 'truncated' : 'seq_gap');
    report.size = expected - 1;
    report.chainHash = prev;
    report.root = range ? range.root() : null;
    report.frontier = range ? range.frontier() : null;
    if (to === end && range && !range.root().equals(head.root)) diverge(head.size, 'root_mismatch');
  } catch (err) {
    if (!(err instanceof Diverged)) throw err;
    report.ok = false;
    report.divergence = err.divergence;
  }
  return report;
}

interface StartingState {
  prevHash: Buffer;
  /** The Merkle frontier before `from`; null when it cannot be rebuilt (then no root is checked). */
  range: CompactRange | null;
}

async function startingState(store: Store, from: number, trusted: TrustedState | undefined): Promise<StartingState> {
  if (from <= 1) return { prevHash: GENESIS_HASH, range: new CompactRange() };
  const before = from - 1;
  const rows = await store.query<{ seq: number; chain_hash: Buffer; event_kind: string; event_pk: string }>(
    'SELECT seq, chain_hash, event_kind, event_pk FROM audit_chain WHERE seq = ?',
    [before],
  );
  const row = rows[0];
  if (!row) diverge(before, 'truncated');
  const prevHash = row.chain_hash;
  let range: CompactRange | null = null;
  try {
    range =
      trusted?.frontier && trusted.size === before ? CompactRange.fromFrontier(before, trusted.frontier) : await loadFrontier((keys) => store.readNodes(keys), before);
  } catch {
    range = null;
  }
  if (trusted && trusted.size === before) {
    // Starting right after the trusted state: the stored row and frontier must reproduce it.
    if ((trusted.chainHash && !trusted.chainHash.equals(prevHash)) || !range || !range.root().equals(trusted.root)) {
      diverge(before, 'checkpoint_mismatch', row.event_kind, row.event_pk);
    }
  }
  return { prevHash, range };
}

/** Cuts [from, to] at multiples of `segment` leaves; an unaligned first piece carries the frontier before it. */
function planSegments(from: number, to: number, segment: number, range: CompactRange | null, probe: number | undefined): SegmentTask[] {
  const tasks: SegmentTask[] = [];
  let at = from;
  while (at <= to) {
    const leafIndex = at - 1;
    const end = Math.min(to, (Math.floor(leafIndex / segment) + 1) * segment);
    const task: SegmentTask = { from: at, to: end };
    if (leafIndex % segment !== 0 && range) task.start = { size: range.size, frontier: range.frontier() };
    if (probe !== undefined && probe >= at && probe <= end) task.probe = probe;
    tasks.push(task);
    at = end + 1;
  }
  return tasks;
}

/**
 * The frontier after a segment: a segment that started from the global frontier returned a global
 * one; an aligned segment's local perfect subtrees are appended onto the global frontier, which
 * is valid because the global size is a multiple of every subtree's width.
 */
function mergeFrontier(global: CompactRange, segmentFrontier: Uint8Array[], count: number, isGlobal: boolean): CompactRange {
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
    }
    frontier.push(hash);
    size += 2 ** l;
  });
  return CompactRange.fromFrontier(size, frontier);
}

/** Yields segment results in order, verifying up to `workers` segments at once. */
async function* runSegments(store: Store, url: string | undefined, tasks: SegmentTask[], workers: number): AsyncGenerator<{ index: number; result: SegmentResult }> {
  if (workers <= 1 || !url) {
    for (let index = 0; index < tasks.length; index++) yield { index, result: await verifySegment(store, tasks[index]!) };
    return;
  }
  const pool = Array.from({ length: workers }, () => spawnWorker(url));
  const pending = new Map<number, Promise<SegmentResult>>();
  let next = 0;
  const schedule = () => {
    while (next < tasks.length && pending.size < workers * 2) {
      const index = next++;
      pending.set(index, pool[index % workers]!.run(tasks[index]!));
    }
  };
  try {
    schedule();
    for (let index = 0; index < tasks.length; index++) {
      const result = await pending.get(index)!;
      pending.delete(index);
      schedule();
      yield { index, result };
    }
  } finally {
    await Promise.all(pool.map((w) => w.close()));
  }
}

function spawnWorker(url: string): { run(task: SegmentTask): Promise<SegmentResult>; close(): Promise<void> } {
  const worker = import.meta.url.endsWith('.ts')
    ? // Running from sources (tests, bench): workers do not inherit tsx's loader, so register it first.
      new Worker(
        `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((m) => { m.register(); return import(${JSON.stringify(new URL('./verify-worker.ts', import.meta.url).href)}); });`,
        { eval: true, workerData: { url } },
      )
    : new Worker(new URL('./verify-worker.js', import.meta.url), { workerData: { url } });
  const waiting: Array<{ resolve: (r: SegmentResult) => void; reject: (e: Error) => void }> = [];
  worker.on('message', (message: { ok: true; result: SegmentResult } | { ok: false; error: { message: string } }) => {
    const w = waiting.shift();
    if (!w) return;
    if (message.ok) w.resolve(revive(message.result));
    else w.reject(new Error(message.error.message));
  });
  worker.on('error', (err) => {
    for (const w of waiting.splice(0)) w.reject(err);
  });
  return {
    run(task) {
      return new Promise((resolve, reject) => {
        waiting.push({ resolve, reject });
        worker.postMessage(task);
      });
    },
    async close() {
      await worker.terminate();
    },
  };
}

/** Buffers arrive from a worker as plain Uint8Arrays. */
function revive(r: SegmentResult): SegmentResult {
  const buf = (u: Uint8Array) => Buffer.from(u.buffer, u.byteOffset, u.byteLength);
  return {
    ...r,
    firstPrevHash: r.firstPrevHash && buf(r.firstPrevHash),
    lastChainHash: r.lastChainHash && buf(r.lastChainHash),
    frontier: r.frontier.map(buf),
    probe: r.probe && { seq: r.probe.seq, chainHash: buf(r.probe.chainHash), frontier: r.probe.frontier.map(buf) },
  };
}
