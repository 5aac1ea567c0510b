/**
 * Re-derives everything the ledger claims, trusting the database to compute nothing: every
 * event_hash from its payload, every prev link and chain_hash, the Merkle root, and, against a
 * trusted state kept elsewhere, that the ledger still extends it (which is what catches tail
 * truncation and a wholesale re-chain, both invisible in the table alone). Reports the FIRST
 * divergence.
 */
import { canonicalHash } from '../core/canonical-json.js';
import { chainHash, GENESIS_HASH } from '../core/chain.js';
import { CompactRange } from '../core/compact-range.js';
import { ledgerLeafHash } from '../core/ledger-leaf.js';
import type { Store } from '../store/store.js';
import { loadFrontier } from './frontier.js';
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
  /** Called after each batch with the number of entries checked so far (progress bars). */
  onProgress?: (checked: number, total: number) => void;
}

export interface VerifyReport {
  ok: boolean;
  checked: number;
  from: number;
  to: number;
  size: number;
  divergence: Divergence | null;
}

class Diverged extends Error {
  constructor(readonly divergence: Divergence) {
    super(divergence.reason);
  }
}

function diverge(seq: number, reason: DivergenceReason, kind: string | null = null, pk: string | null = null): never {
  throw new Diverged({ seq, kind, pk, reason });
}

export async function verifyLedger(store: Store, options: VerifyOptions = {}): Promise<VerifyReport> {
  const head = await store.readHead();
  const trusted = options.trusted;
  const maxRow = await store.query<{ m: number | null }>('SELECT max(seq) AS m FROM audit_chain');
  const lastStored = Number(maxRow[0]?.m ?? 0);
  // Rows past the head (a phantom tail) are verified too: they must not exist at all.
  const end = Math.max(head.size, lastStored);
  const from = options.from ?? (trusted && trusted.size > 0 ? trusted.size + 1 : 1);
  const to = Math.min(options.to ?? end, end);
  const report: VerifyReport = { ok: true, checked: 0, from, to, size: head.size, divergence: null };
  try {
    if (trusted && trusted.size > head.size) {
      // The ledger is shorter than a state it once had: cut off, or rolled back.
      diverge(Math.min(head.size, lastStored) + 1, 'truncated');
    }
    const start = await startingState(store, from, trusted);
    let expected = from;
    let prev = start.prevHash;
    const range = start.range;
    const checkWholeTree = to === end;
    for await (const batch of store.entryBatches(from, to)) {
      for (const e of batch) {
        if (e.seq !== expected) diverge(expected, 'seq_gap');
        if (e.payload !== null && !canonicalHash(e.payload).equals(e.eventHash)) diverge(e.seq, 'event_hash_mismatch', e.kind, e.pk);
        if (!e.prevHash.equals(prev)) diverge(e.seq, 'prev_hash_mismatch', e.kind, e.pk);
        const computed = chainHash(prev, e.eventHash, e.seq);
        if (!computed.equals(e.chainHash)) diverge(e.seq, 'chain_hash_mismatch', e.kind, e.pk);
        if (range) range.append(ledgerLeafHash({ kind: e.kind, pk: e.pk, eventHash: e.eventHash, appendedAtMicros: e.appendedAtMicros }));
        if (trusted && e.seq === trusted.size) {
          if ((trusted.chainHash && !trusted.chainHash.equals(computed)) || (range && !range.root().equals(trusted.root))) {
            diverge(e.seq, 'checkpoint_mismatch', e.kind, e.pk);
          }
        }
        if (e.seq > head.size) diverge(e.seq, 'root_mismatch', e.kind, e.pk);
        prev = computed;
        expected++;
        report.checked++;
      }
      options.onProgress?.(report.checked, to - from + 1);
    }
    if (expected <= to) diverge(expected, expected > lastStored ? 'truncated' : 'seq_gap');
    if (checkWholeTree && range && !range.root().equals(head.root)) diverge(head.size, 'root_mismatch');
  } catch (err) {
    if (!(err instanceof Diverged)) throw err;
    report.ok = false;
    report.divergence = err.divergence;
  }
  return report;
}

interface StartingState {
  prevHash: Buffer;
  /** The Merkle frontier before `from`; null when it cannot be trusted enough to check a root. */
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
    range = await loadFrontier((keys) => store.readNodes(keys), before);
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
