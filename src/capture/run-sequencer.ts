/**
 * The sequencer of queued capture: chains outbox entries in id order through the ledger's group
 * commit, one leader at a time.
 */
import type pg from 'pg';
import { SealtrailError } from '../core/errors.js';
import { VERSION_INFIX } from '../core/row-key.js';
import { mapPgError, PostgresStore } from '../store/postgres/postgres-store.js';
import type { Queryable, Store } from '../store/store.js';
import { Appender } from '../ledger/appender.js';
import type { PreparedEvent } from '../ledger/prepare-event.js';
import { type RowColumn } from './canonical-row.js';
import { requirePostgres } from './resolve-table.js';
import { captureEvent } from './capture-event.js';

/** Session advisory lock held by the active sequencer (the leader). */
export const SEQUENCER_LOCK_KEY = 7_304_041_771_292_002n;

type OutboxRow = {
  id: number;
  event_kind: string;
  relid: number;
  pk_columns: string[];
  op: 'insert' | 'update' | 'delete';
  row_data: string | null;
  old_data: string | null;
};

/** Another sequencer chained some of the entries we read first; nothing of ours was kept. */
class OutboxChanged extends Error {}

/**
 * Column tags of each table, read fresh for every batch so a column added since the last batch
 * is seen as SQL would see it. A table dropped before its queued rows were sequenced has none:
 * its rows are then canonicalised from their own members, as plain JSON.
 */
async function columnTags(q: Queryable, relids: readonly number[]): Promise<Map<number, RowColumn[]>> {
  const byRel = new Map<number, RowColumn[]>(relids.map((r) => [r, []]));
  const rows = await q.query<{ relid: number; name: string; tag: string }>(
    'SELECT r.relid::int8 AS relid, c.name, c.tag FROM unnest(?::oid[]) AS r(relid) CROSS JOIN LATERAL sealtrail_column_tags(r.relid) c ORDER BY r.relid, c.num',
    [`{${relids.join(',')}}`],
  );
  for (const r of rows) byRel.get(Number(r.relid))!.push({ name: r.name, tag: r.tag });
  return byRel;
}

/**
 * The events of outbox entries, in order (docs/spec.md, "Row versions"): an insert chains NEW
 * under its pk; an update chains NEW as pk#update@seq, preceded by OLD's key as pk#delete@seq
 * when the key changed; a delete chains OLD as pk#delete@seq.
 */
function outboxEvents(rows: readonly OutboxRow[], tags: Map<number, RowColumn[]>): PreparedEvent[] {
  const events: PreparedEvent[] = [];
  for (const r of rows) {
    const columns = tags.get(Number(r.relid)) ?? [];
    const now = r.row_data === null ? null : captureEvent(r.event_kind, columns, r.row_data, r.pk_columns, r.op === 'insert' ? undefined : VERSION_INFIX.update);
    if (r.old_data !== null && r.op !== 'insert') {
      const old = captureEvent(r.event_kind, columns, r.old_data, r.pk_columns, VERSION_INFIX.delete);
      if (!(r.op === 'update' && now !== null && now.pk === old.pk)) events.push(old);
    }
    if (now !== null) events.push(now);
  }
  return events;
}

async function readOutbox(store: PostgresStore, batchSize: number, skip: { min: number; max: number } | null): Promise<OutboxRow[]> {
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
async function enqueueOutbox(store: PostgresStore, appender: Appender, rows: readonly OutboxRow[]): Promise<{ done: Promise<number> }> {
  const tags = await columnTags(store, [...new Set(rows.map((r) => Number(r.relid)))]);
  const ids = `{${rows.map((r) => r.id).join(',')}}`;
  const done = appender
    .enqueue(outboxEvents(rows, tags), async (tx) => {
      const earlier = await tx.query('SELECT 1 FROM capture_outbox WHERE id < ? LIMIT 1', [rows[0]!.id]);
      if (earlier.length > 0) throw new OutboxChanged();
      const deleted = await tx.run('DELETE FROM capture_outbox WHERE id = ANY (?::int8[])', [ids]);
      if (deleted !== rows.length) throw new OutboxChanged();
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
async function sequenceOutbox(store: PostgresStore, appender: Appender, batchSize: number, signal?: AbortSignal, onBatch?: (n: number) => void): Promise<number> {
  let total = 0;
  let inflight: { min: number; max: number; done: Promise<number> } | null = null;
  const land = async () => {
    const n = await inflight!.done;
    inflight = null;
    total += n;
    if (n > 0) onBatch?.(n);
  };
  while (!signal?.aborted) {
    const rows = await readOutbox(store, batchSize, inflight);
    if (rows.length === 0) {
      if (!inflight) break;
      await land();
      continue;
    }
    const { done } = await enqueueOutbox(store, appender, rows);
    // Observed by land(); without this a failure while the previous batch lands would be unhandled.
    done.catch(() => {});
    if (inflight) await land();
    inflight = { min: rows[0]!.id, max: rows[rows.length - 1]!.id, done };
  }
  if (inflight) await land();
  return total;
}

/** Chains queued events until the outbox is empty; returns how many were chained. Safe to run beside a sequencer. */
export async function drainOutbox(store: Store, options: { batchSize?: number; onBatch?: (chained: number) => void } = {}): Promise<number> {
  const pgStore = requirePostgres(store);
  return sequenceOutbox(pgStore, new Appender(pgStore), options.batchSize ?? 10_000, undefined, options.onBatch);
}

export interface SequencerOptions {
  batchSize?: number;
  /** Pause when the outbox is empty (default 50 ms). */
  pollMs?: number;
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
  const pollMs = options.pollMs ?? 50;
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
      try {
        const appender = new Appender(pgStore);
        while (!signal?.aborted) {
          total += await sequenceOutbox(pgStore, appender, batchSize, signal, options.onBatch);
          await sleep(pollMs, signal);
        }
      } finally {
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
