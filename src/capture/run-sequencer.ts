/**
 * The sequencer of queued and wal capture: chains outbox entries in id order, and the slot's
 * changes in commit order (sequence-wal.ts), through the ledger's group commit, one leader at a
 * time; it sleeps on LISTEN when there is nothing to do.
 */
import { SealtrailError } from '../core/errors.js';
import type { SessionLock, Store } from '../store/store.js';
import type { Ledger } from '../ledger/ledger.js';
import { captureLedger } from './resolve-table.js';
import { columnTags, outboxEvents, type OutboxRow } from './capture-event.js';
import { drainWal } from './sequence-wal.js';

/** Session advisory lock held by the active sequencer (the leader). */
export const SEQUENCER_LOCK_KEY = 7_304_041_771_292_002n;
/** The channel queued writers NOTIFY while the leader sleeps (capture migration 006). */
const WAKE_CHANNEL = 'sealtrail_capture';

/** Another sequencer chained some of the entries we read first; nothing of ours was kept. */
class OutboxChanged extends Error {}

async function readOutbox(store: Store, batchSize: number, skip: { min: number; max: number } | null): Promise<OutboxRow[]> {
  return store.query<OutboxRow>(
    `SELECT id, event_kind, relid::int8 AS relid, pk_columns, op, row_data::text AS row_data, old_data::text AS old_data
     FROM capture_outbox ${skip ? 'WHERE id < ? OR id > ?' : ''} ORDER BY id LIMIT ?`,
    skip ? [skip.min, skip.max, batchSize] : [batchSize],
  );
}

/**
 * Enqueues one batch of outbox entries for one transaction that also deletes exactly their ids;
 * resolves once they are enqueued, with the promise of their landing. The delete runs under the
 * ledger lock; if another sequencer got any of them first, the whole batch rolls back (the
 * landing gives 0) and its entries are read again later, so none is chained twice. Enqueueing is
 * awaited before the next batch is read, so batches are chained in the order they were read:
 * otherwise a later batch whose column tags came back first would be chained first (a row's
 * delete before its insert). For the same reason a batch is only chained when no entry with a
 * lower id is still queued (one a concurrent drain left behind when its batch rolled back, or one
 * committed late): it rolls back and everything is read again in id order.
 */
async function enqueueOutbox(ledger: Ledger, rows: readonly OutboxRow[]): Promise<{ done: Promise<number> }> {
  const tags = await columnTags(ledger.store, [...new Set(rows.map((r) => Number(r.relid)))]);
  const ids = `{${rows.map((r) => r.id).join(',')}}`;
  // appendPrepared enqueues before its first await, so this batch is queued behind the previous one.
  const done = ledger
    .appendPrepared(outboxEvents(rows, tags), {
      inTransaction: async (tx) => {
        const earlier = await tx.query('SELECT 1 FROM capture_outbox WHERE id < ? LIMIT 1', [rows[0]!.id]);
        if (earlier.length > 0) throw new OutboxChanged();
        const deleted = await tx.run('DELETE FROM capture_outbox WHERE id = ANY (?::int8[])', [ids]);
        if (deleted !== rows.length) throw new OutboxChanged();
      },
    })
    .then(
      () => rows.length,
      (err: unknown) => {
        if (err instanceof OutboxChanged) return 0;
        throw err;
      },
    );
  return { done };
}

/**
 * Chains outbox entries until the outbox is empty (or `signal` aborts), in batches of up to
 * `batchSize` read in id order, canonicalised and hashed here and appended through the ledger's
 * group commit. The next batch is read and canonicalised while the previous one is being written;
 * that read skips the id range of the batch in flight, and an entry in that range committed late
 * is read once the batch has landed. No id high-water mark is kept, so an entry committed out of
 * id order is never skipped.
 */
async function sequenceOutbox(ledger: Ledger, batchSize: number, signal?: AbortSignal, onBatch?: (n: number) => void): Promise<number> {
  let total = 0;
  let inflight: { min: number; max: number; done: Promise<number> } | null = null;
  const land = async () => {
    const n = await inflight!.done;
    inflight = null;
    total += n;
    if (n > 0) onBatch?.(n);
  };
  // Adaptive: small batches while the outbox is short (each lands sooner: latency), doubling
  // while reads come back full (fewer, larger transactions: throughput), up to batchSize.
  let size = Math.min(batchSize, 500);
  while (!signal?.aborted) {
    const rows = await readOutbox(ledger.store, size, inflight);
    size = rows.length === size ? Math.min(batchSize, size * 2) : rows.length < size / 4 ? Math.max(Math.min(batchSize, 100), size >> 1) : size;
    if (rows.length === 0) {
      if (!inflight) break;
      await land();
      continue;
    }
    const { done } = await enqueueOutbox(ledger, rows);
    // Observed by land(); without this a failure while the previous batch lands would be unhandled.
    done.catch(() => {});
    if (inflight) await land();
    inflight = { min: rows[0]!.id, max: rows[rows.length - 1]!.id, done };
  }
  if (inflight) await land();
  return total;
}

/**
 * Chains queued events until the outbox is empty, and wal-mode changes until the slot holds no
 * more; returns how many were chained. Safe to run beside a sequencer. Given a Ledger, appends
 * share its group commit; a Store is accepted as before.
 */
export async function drainOutbox(target: Ledger | Store, options: { batchSize?: number; onBatch?: (chained: number) => void } = {}): Promise<number> {
  const ledger = captureLedger(target);
  const queued = await sequenceOutbox(ledger, options.batchSize ?? 10_000, undefined, options.onBatch);
  return queued + (await drainWal(ledger, options.onBatch ? { onBatch: options.onBatch } : {}));
}

export interface SequencerOptions {
  batchSize?: number;
  /**
   * Longest pause when there is nothing to chain (default 1,000 ms): queued writers wake the
   * sequencer with NOTIFY sooner. With tables watched in wal mode, which nothing notifies, the
   * pause is at most walPollMs.
   */
  pollMs?: number;
  /** Pause between slot reads while tables are watched in wal mode (default 50 ms). */
  walPollMs?: number;
  /** Most slot messages read per wal batch (default 20,000; whole transactions are always read). */
  walMaxChanges?: number;
  /** How often a standby retries to become leader (default 500 ms). */
  standbyMs?: number;
  signal?: AbortSignal;
  onBatch?: (chained: number) => void;
  onRole?: (role: 'leader' | 'standby') => void;
}

/**
 * Runs the sequencer until `signal` aborts. Only the holder of a session advisory lock
 * (SEQUENCER_LOCK_KEY) sequences; others wait as standbys and one takes over when the leader's
 * session ends. A holder whose role could not sequence is not waited for. Returns the number of entries this process chained.
 */
export async function runSequencer(target: Ledger | Store, options: SequencerOptions = {}): Promise<number> {
  const ledger = captureLedger(target);
  const store = ledger.store;
  const batchSize = options.batchSize ?? 10_000;
  const pollMs = options.pollMs ?? 1_000;
  const walPollMs = options.walPollMs ?? 50;
  const standbyMs = options.standbyMs ?? 500;
  const signal = options.signal;
  let total = 0;
  while (!signal?.aborted) {
    const lock: SessionLock | null = await store.trySessionLock(SEQUENCER_LOCK_KEY);
    try {
      // Any role that can connect can take an advisory lock; a holder that could not sequence
      // (say the read-only role) must not stall capture, so it is ignored. Sequencing beside
      // another sequencer is safe (appendOutbox), merely wasted work.
      if (!lock && (await sequencerLockHeldByWriter(store))) {
        options.onRole?.('standby');
        await sleep(standbyMs, signal);
        continue;
      }
      try {
        // Inside the try: whatever throws from here on, a held lock is let go.
        options.onRole?.('leader');
        let wake: (() => void) | null = null;
        // Queued writers NOTIFY the leader's session (only while it says it sleeps); leading
        // without the lock (its holder cannot sequence) there is no session to wake: poll.
        await lock?.listen(WAKE_CHANNEL, () => wake?.());
        const walOptions = { maxChanges: options.walMaxChanges ?? 20_000, ...(signal ? { signal } : {}), ...(options.onBatch ? { onBatch: options.onBatch } : {}) };
        try {
          while (!signal?.aborted) {
            let n = await sequenceOutbox(ledger, batchSize, signal, options.onBatch);
            n += await drainWal(ledger, walOptions);
            total += n;
            if (n > 0 || signal?.aborted) continue;
            // Nothing to do: sleep until a queued writer notifies (it does so only while the flag is
            // set) or the fallback poll. Rows committed before the flag was visible are caught by
            // the read after setting it, or at the latest by the fallback poll.
            const modes = (await store.query<{ wal: boolean | null; queued: boolean | null }>(`SELECT bool_or(mode = 'wal') AS wal, bool_or(mode = 'queued') AS queued FROM capture_tables`))[0];
            const woken = new Promise<void>((resolve) => (wake = resolve));
            if (modes?.queued && lock) await store.exec('UPDATE capture_wakeup SET sleeping = true WHERE id = 1 AND NOT sleeping');
            if ((await store.query('SELECT 1 FROM capture_outbox LIMIT 1')).length === 0) {
              await Promise.race([woken, sleep(modes?.wal ? Math.min(walPollMs, pollMs) : pollMs, signal)]);
            }
            wake = null;
            if (modes?.queued && lock) await store.exec('UPDATE capture_wakeup SET sleeping = false WHERE id = 1 AND sleeping');
          }
        } finally {
          if (lock) await store.exec('UPDATE capture_wakeup SET sleeping = false WHERE id = 1 AND sleeping').catch(() => {});
        }
      } finally {
        await lock?.release();
      }
    } catch (err) {
      // A lost connection ends this term as leader; try again (another process may take over).
      if (!(err instanceof SealtrailError) || (err.code !== 'database_unreachable' && err.code !== 'database_error')) throw err;
      await sleep(standbyMs, signal);
    }
  }
  return total;
}

/** Whether a session of a role that may sequence (DELETE on the outbox) holds SEQUENCER_LOCK_KEY in this database (advisory locks are per database; pg_locks lists the cluster's). */
async function sequencerLockHeldByWriter(store: Store): Promise<boolean> {
  const key = SEQUENCER_LOCK_KEY;
  const rows = await store.query<{ writer: boolean | null }>(
    `SELECT bool_or(has_table_privilege(a.usesysid, 'capture_outbox', 'DELETE')) AS writer
     FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
     WHERE l.locktype = 'advisory' AND l.granted AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
       AND l.classid = ?::int8::oid AND l.objid = ?::int8::oid AND l.objsubid = 1`,
    [(key >> 32n).toString(), (key & 0xffff_ffffn).toString()],
  );
  return rows[0]?.writer === true;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
