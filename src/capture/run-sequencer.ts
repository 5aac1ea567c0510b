/**
 * The sequencer of queued and wal capture: chains outbox entries in id order, and the slot's
 * changes in commit order (sequence-wal.ts), through the ledger's group commit, one leader at a
 * time; it sleeps on LISTEN when there is nothing to do.
 */
import type pg from 'pg';
import { SealtrailError } from '../core/errors.js';
import { mapPgError, PostgresStore } from '../store/postgres/postgres-store.js';
import type { Store } from '../store/store.js';
import { Appender } from '../ledger/appender.js';
import { requirePostgres } from './resolve-table.js';
import { columnTags, outboxEvents, type OutboxRow } from './capture-event.js';
import { drainWal } from './sequence-wal.js';

/** Session advisory lock held by the active sequencer (the leader). */
export const SEQUENCER_LOCK_KEY = 7_304_041_771_292_002n;

/** Another sequencer chained some of the entries we read first; nothing of ours was kept. */
class OutboxChanged extends Error {}

async function readOutbox(store: PostgresStore, batchSize: number, skip: { min: number; max: number } | null): Promise<OutboxRow[]> {
  return store.query<OutboxRow>(
    `SELECT id, event_kind, relid::int8 AS relid, pk_columns, op, row_data::text AS row_data, old_data::text AS old_data
     FROM capture_outbox ${skip ? 'WHERE id < ? OR id > ?' : ''} ORDER BY id LIMIT ?`,
    skip ? [skip.min, skip.max, batchSize] : [batchSize],
  );
}

/**
 * Appends one batch of outbox entries in one transaction that also deletes exactly their ids.
 * The delete runs under the ledger lock; if another sequencer got any of them first, the whole
 * batch rolls back (0 is returned) and its entries are read again later, so none is chained twice.
 */
async function appendOutbox(store: PostgresStore, appender: Appender, rows: readonly OutboxRow[]): Promise<number> {
  const tags = await columnTags(store, [...new Set(rows.map((r) => Number(r.relid)))]);
  const ids = `{${rows.map((r) => r.id).join(',')}}`;
  try {
    await appender.enqueue(outboxEvents(rows, tags), async (tx) => {
      const deleted = await tx.run('DELETE FROM capture_outbox WHERE id = ANY (?::int8[])', [ids]);
      if (deleted !== rows.length) throw new OutboxChanged();
    });
    return rows.length;
  } catch (err) {
    if (err instanceof OutboxChanged) return 0;
    throw err;
  }
}

/**
 * Chains outbox entries until the outbox is empty (or `signal` aborts), in batches of up to
 * `batchSize` read in id order, canonicalised and hashed here and appended through the ledger's
 * group commit. The next batch is read and canonicalised while the previous one is being written;
 * that read skips the id range of the batch in flight, and an entry in that range committed late
 * is read once the batch has landed. No id high-water mark is kept, so an entry committed out of
 * id order is never skipped.
 */
async function sequenceOutbox(store: PostgresStore, appender: Appender, batchSize: number, signal?: AbortSignal, onBatch?: (n: number) => void): Promise<number> {
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
    const rows = await readOutbox(store, size, inflight);
    size = rows.length === size ? Math.min(batchSize, size * 2) : rows.length < size / 4 ? Math.max(Math.min(batchSize, 100), size >> 1) : size;
    if (rows.length === 0) {
      if (!inflight) break;
      await land();
      continue;
    }
    const done = appendOutbox(store, appender, rows);
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
 * more; returns how many were chained. Safe to run beside a sequencer.
 */
export async function drainOutbox(store: Store, options: { batchSize?: number; onBatch?: (chained: number) => void } = {}): Promise<number> {
  const pgStore = requirePostgres(store);
  const appender = new Appender(pgStore);
  const queued = await sequenceOutbox(pgStore, appender, options.batchSize ?? 10_000, undefined, options.onBatch);
  return queued + (await drainWal(pgStore, appender, options.onBatch ? { onBatch: options.onBatch } : {}));
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
export async function runSequencer(store: Store, options: SequencerOptions = {}): Promise<number> {
  const pgStore = requirePostgres(store);
  const batchSize = options.batchSize ?? 10_000;
  const pollMs = options.pollMs ?? 1_000;
  const walPollMs = options.walPollMs ?? 50;
  const standbyMs = options.standbyMs ?? 500;
  const signal = options.signal;
  let total = 0;
  while (!signal?.aborted) {
    let client: pg.PoolClient;
    try {
      client = await pgStore.pool.connect();
    } catch (err) {
      throw mapPgError(err, pgStore.location);
    }
    let broken = false;
    try {
      const got = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [SEQUENCER_LOCK_KEY.toString()]);
      const locked = got.rows[0]?.ok === true;
      // Any role that can connect can take an advisory lock; a holder that could not sequence
      // (say the read-only role) must not stall capture, so it is ignored. Sequencing beside
      // another sequencer is safe (appendOutbox), merely wasted work.
      if (!locked && (await sequencerLockHeldByWriter(client))) {
        options.onRole?.('standby');
        await sleep(standbyMs, signal);
        continue;
      }
      options.onRole?.('leader');
      let wake: (() => void) | null = null;
      const onNotify = () => wake?.();
      client.on('notification', onNotify);
      try {
        await client.query('LISTEN sealtrail_capture');
        const appender = new Appender(pgStore);
        const walOptions = { signal, maxChanges: options.walMaxChanges ?? 20_000, ...(options.onBatch ? { onBatch: options.onBatch } : {}) };
        while (!signal?.aborted) {
          let n = await sequenceOutbox(pgStore, appender, batchSize, signal, options.onBatch);
          n += await drainWal(pgStore, appender, walOptions);
          total += n;
          if (n > 0 || signal?.aborted) continue;
          // Nothing to do: sleep until a queued writer notifies (it does so only while the flag is
          // set) or the fallback poll. Rows committed before the flag was visible are caught by
          // the read after setting it, or at the latest by the fallback poll.
          const modes = (await pgStore.query<{ wal: boolean | null; queued: boolean | null }>(`SELECT bool_or(mode = 'wal') AS wal, bool_or(mode = 'queued') AS queued FROM capture_tables`))[0];
          const woken = new Promise<void>((resolve) => (wake = resolve));
          if (modes?.queued) await pgStore.exec('UPDATE capture_wakeup SET sleeping = true WHERE id = 1 AND NOT sleeping');
          if ((await pgStore.query('SELECT 1 FROM capture_outbox LIMIT 1')).length === 0) {
            await Promise.race([woken, sleep(modes?.wal ? Math.min(walPollMs, pollMs) : pollMs, signal)]);
          }
          wake = null;
          if (modes?.queued) await pgStore.exec('UPDATE capture_wakeup SET sleeping = false WHERE id = 1 AND sleeping');
        }
      } finally {
        client.off('notification', onNotify);
        await client.query('UNLISTEN *').catch(() => {
          broken = true;
        });
        await pgStore.exec('UPDATE capture_wakeup SET sleeping = false WHERE id = 1 AND sleeping').catch(() => {});
        if (locked) {
          await client.query('SELECT pg_advisory_unlock($1)', [SEQUENCER_LOCK_KEY.toString()]).catch(() => {
            broken = true;
          });
        }
      }
    } catch (err) {
      broken = true;
      // A lost connection ends this term as leader; try again (another process may take over).
      const mapped = mapPgError(err, pgStore.location);
      if (!(mapped instanceof SealtrailError) || (mapped.code !== 'database_unreachable' && mapped.code !== 'database_error')) throw mapped;
      await sleep(standbyMs, signal);
    } finally {
      client.release(broken);
    }
  }
  return total;
}

/** Whether a session of a role that may sequence (DELETE on the outbox) holds SEQUENCER_LOCK_KEY. */
async function sequencerLockHeldByWriter(client: pg.PoolClient): Promise<boolean> {
  const key = SEQUENCER_LOCK_KEY;
  const res = await client.query<{ writer: boolean | null }>(
    `SELECT bool_or(has_table_privilege(a.usesysid, 'capture_outbox', 'DELETE')) AS writer
     FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
     WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1::int8::oid AND l.objid = $2::int8::oid AND l.objsubid = 1`,
    [(key >> 32n).toString(), (key & 0xffff_ffffn).toString()],
  );
  return res.rows[0]?.writer === true;
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
