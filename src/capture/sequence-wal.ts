/**
 * wal capture: the watched tables are in a publication, and the sequencer reads their committed
 * changes, in commit order, from a logical replication slot (pgoutput) through the slot SQL
 * functions. Nothing runs in the writers' transactions. Each batch is chained in one transaction
 * that also records, in `capture_wal`, the end LSN of the last transaction it chained; the slot
 * is advanced only after that commit. A crash in between replays transactions the slot still
 * holds, and those at or below the recorded LSN are skipped, so nothing is skipped and nothing is
 * chained twice.
 */
import { SealtrailError } from '../core/errors.js';
import type { Queryable, Store, Tx } from '../store/store.js';
import type { Ledger } from '../ledger/ledger.js';
import { columnTags, outboxEvents, type OutboxRow } from './capture-event.js';
import { decodePgoutput, parseLsn, type PgoutputMessage, type RelationColumn, type TupleValue } from './decode-pgoutput.js';
import { quoteIdent } from './sql-quoting.js';

export interface WalNames {
  slot: string;
  publication: string;
}

/**
 * The slot and publication of this ledger. Slot names are cluster-wide, so they carry the
 * database's oid and the capture schema's oid; the publication (per database) takes the same name.
 */
export async function walNames(q: Queryable): Promise<WalNames> {
  const row = (
    await q.query<{ db: string | number; nsp: string | number | null }>(
      `SELECT (SELECT oid FROM pg_database WHERE datname = current_database())::int8 AS db,
              (SELECT relnamespace FROM pg_class WHERE oid = to_regclass('capture_tables'))::int8 AS nsp`,
    )
  )[0]!;
  if (row.nsp === null) throw new SealtrailError('schema_missing', 'capture is not installed here; run `sealtrail init`');
  const name = `sealtrail_${row.db}_${row.nsp}`;
  return { slot: name, publication: name };
}

/** Refuses (logical_decoding_unavailable) a server that cannot decode: wal mode would chain nothing. */
export async function requireLogicalDecoding(q: Queryable): Promise<void> {
  const level = (await q.query<{ l: string }>('SELECT current_setting(\'wal_level\') AS l'))[0]!.l;
  if (level !== 'logical') {
    throw new SealtrailError('logical_decoding_unavailable', `wal capture needs wal_level = logical; this server runs wal_level = ${level} (docs/capture.md, "wal mode")`, {
      details: { wal_level: level },
    });
  }
}

/**
 * Creates the slot if it is missing. Outside any transaction: PostgreSQL creates a logical slot
 * only in a transaction that has written nothing. Needs REPLICATION (or superuser).
 */
export async function ensureWalSlot(store: Store): Promise<WalNames> {
  await requireLogicalDecoding(store);
  const names = await walNames(store);
  const exists = await store.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = ?', [names.slot]);
  if (exists.length === 0) {
    try {
      await store.query(`SELECT pg_create_logical_replication_slot(?, 'pgoutput')`, [names.slot]);
    } catch (err) {
      const state = err instanceof SealtrailError ? (err.details as { sqlstate?: string } | undefined)?.sqlstate : undefined;
      // 42710: created meanwhile by another watch. 53400: no free slot (max_replication_slots).
      if (state === '53400') {
        throw new SealtrailError('logical_decoding_unavailable', 'wal capture needs a free replication slot; raise max_replication_slots (docs/capture.md, "wal mode")', { cause: err });
      }
      if (state !== '42710') throw err;
    }
  }
  return names;
}

/**
 * In the watch transaction: the progress row, the publication, the table in it with REPLICA
 * IDENTITY FULL (so UPDATE and DELETE carry the whole old row, as the row versions need).
 */
export async function publishTable(tx: Tx, names: WalNames, relid: number, table: string): Promise<void> {
  await tx.run('INSERT INTO capture_wal (id, slot_name, publication) VALUES (1, ?, ?) ON CONFLICT (id) DO NOTHING', [names.slot, names.publication]);
  if ((await tx.query('SELECT 1 FROM pg_publication WHERE pubname = ?', [names.publication])).length === 0) {
    // Stored generated columns are in to_jsonb(NEW), so they must be in the changes too (PostgreSQL 18 publishes them only when asked).
    const v18 = Number((await tx.query<{ v: string }>("SELECT current_setting('server_version_num') AS v"))[0]!.v) >= 180000;
    await tx.exec(`CREATE PUBLICATION ${quoteIdent(names.publication)} WITH (publish = 'insert, update, delete, truncate'${v18 ? ', publish_generated_columns = stored' : ''})`);
  }
  if ((await tx.query('SELECT 1 FROM pg_publication_rel r JOIN pg_publication p ON p.oid = r.prpubid WHERE p.pubname = ? AND r.prrelid = ?::oid', [names.publication, relid])).length === 0) {
    await tx.exec(`ALTER PUBLICATION ${quoteIdent(names.publication)} ADD TABLE ${table}`);
  }
  await tx.exec(`ALTER TABLE ${table} REPLICA IDENTITY FULL`);
}

/** In the unwatch (or re-watch in another mode) transaction: the table leaves the publication. */
export async function unpublishTable(tx: Tx, relid: number, table: string): Promise<void> {
  const names = await walNames(tx);
  if ((await tx.query('SELECT 1 FROM pg_publication_rel r JOIN pg_publication p ON p.oid = r.prpubid WHERE p.pubname = ? AND r.prrelid = ?::oid', [names.publication, relid])).length > 0) {
    await tx.exec(`ALTER PUBLICATION ${quoteIdent(names.publication)} DROP TABLE ${table}`);
  }
}

interface WalTxn {
  endLsn: bigint;
  endText: string;
  changes: Array<Extract<PgoutputMessage, { type: 'insert' | 'update' | 'delete' }>>;
}

/** Another sequencer recorded progress first; nothing of ours was kept. */
class WalChanged extends Error {}

/**
 * The row as to_jsonb() prints it, from pgoutput's text output of each column: the server parses
 * each text back with the column's type (in this session, whose settings also printed it) and
 * prints to_jsonb of the typed row, so the canonical form is exactly the trigger modes' one.
 */
async function rowsAsJson(q: Queryable, columns: readonly RelationColumn[], tuples: ReadonlyArray<ReadonlyArray<string | null>>): Promise<string[]> {
  if (tuples.length === 0) return [];
  const types = await q.query<{ t: string }>('SELECT format_type(u.t, nullif(u.m, -1)) AS t FROM unnest(?::oid[], ?::int[]) WITH ORDINALITY AS u(t, m, o) ORDER BY u.o', [
    `{${columns.map((c) => c.typeOid).join(',')}}`,
    `{${columns.map((c) => c.typmod).join(',')}}`,
  ]);
  const select = columns.map((c, i) => `(e.v ->> ${i})::${types[i]!.t} AS ${quoteIdent(c.name)}`).join(', ');
  const rows = await q.query<{ j: string }>(
    // `alias.*`: a column may be named like the alias.
    `SELECT to_jsonb(sealtrail_row.*)::text AS j FROM jsonb_array_elements(?::jsonb) WITH ORDINALITY AS e(v, o) CROSS JOIN LATERAL (SELECT ${select}) sealtrail_row ORDER BY e.o`,
    [JSON.stringify(tuples)],
  );
  return rows.map((r) => r.j);
}

function tupleTexts(values: readonly TupleValue[], old: readonly TupleValue[] | null, what: string): Array<string | null> {
  return values.map((v, i) => {
    if (v.kind === 'text') return v.text;
    if (v.kind === 'null') return null;
    // An unchanged TOASTed value is not sent; REPLICA IDENTITY FULL puts it in the old row.
    const o = old?.[i];
    if (o?.kind === 'text') return o.text;
    if (o?.kind === 'null') return null;
    throw new SealtrailError('database_error', `wal capture: ${what} lacks an unchanged TOAST value; is the table still REPLICA IDENTITY FULL?`);
  });
}

/** Transactions in the decoded messages, complete ones only (the SQL functions stop at commits). */
function transactions(messages: readonly PgoutputMessage[], relations: Map<number, Extract<PgoutputMessage, { type: 'relation' }>>): WalTxn[] {
  const txns: WalTxn[] = [];
  let current: WalTxn['changes'] | null = null;
  for (const m of messages) {
    if (m.type === 'begin') current = [];
    else if (m.type === 'relation') relations.set(m.relid, m);
    else if (m.type === 'insert' || m.type === 'update' || m.type === 'delete') current?.push(m);
    else if (m.type === 'commit' && current) {
      txns.push({ endLsn: parseLsn(m.endLsn), endText: m.endLsn, changes: current });
      current = null;
    }
  }
  return txns;
}

interface WalWatch extends Record<string, unknown> {
  relid: number;
  event_kind: string;
  pk_columns: string[];
  updates: boolean;
  deletes: boolean;
}

/** The outbox-shaped changes of the batch, in commit order, for the tables watched in wal mode. */
async function walChanges(q: Queryable, txns: readonly WalTxn[], relations: Map<number, Extract<PgoutputMessage, { type: 'relation' }>>): Promise<OutboxRow[]> {
  const watches = new Map(
    (await q.query<WalWatch>(`SELECT relid::int8 AS relid, event_kind, pk_columns, updates, deletes FROM capture_tables`)).map((w) => [Number(w.relid), w]),
  );
  const out: OutboxRow[] = [];
  // Rows to convert, per relation: [index into out, 'row_data' | 'old_data', texts].
  const pending = new Map<number, Array<{ at: number; field: 'row_data' | 'old_data'; texts: Array<string | null> }>>();
  const want = (relid: number, at: number, field: 'row_data' | 'old_data', texts: Array<string | null>) => {
    let list = pending.get(relid);
    if (!list) pending.set(relid, (list = []));
    list.push({ at, field, texts });
  };
  for (const t of txns) {
    for (const c of t.changes) {
      const w = watches.get(c.relid);
      // A table unwatched since: not captured any more. One re-watched in another mode since still
      // has this change to chain (it committed while the table was published, so no trigger saw it).
      if (!w || (c.type === 'update' && !w.updates) || (c.type === 'delete' && !w.deletes)) continue;
      const at = out.length;
      out.push({ id: at, event_kind: w.event_kind, relid: c.relid, pk_columns: w.pk_columns, op: c.type, row_data: null, old_data: null });
      const what = `a change of ${w.event_kind}`;
      if (c.type === 'insert') want(c.relid, at, 'row_data', tupleTexts(c.row, null, what));
      else if (c.type === 'update') {
        if (!c.old || c.oldIsKey) throw new SealtrailError('database_error', `wal capture: ${what} carries no full old row; is the table still REPLICA IDENTITY FULL?`);
        want(c.relid, at, 'old_data', tupleTexts(c.old, null, what));
        want(c.relid, at, 'row_data', tupleTexts(c.row, c.old, what));
      } else {
        if (c.oldIsKey) throw new SealtrailError('database_error', `wal capture: ${what} carries no full old row; is the table still REPLICA IDENTITY FULL?`);
        want(c.relid, at, 'old_data', tupleTexts(c.old, null, what));
      }
    }
  }
  for (const [relid, list] of pending) {
    const rel = relations.get(relid);
    if (!rel) throw new SealtrailError('database_error', `wal capture: no relation message for table oid ${relid}`);
    const json = await rowsAsJson(q, rel.columns, list.map((x) => x.texts));
    list.forEach((x, i) => (out[x.at]![x.field] = json[i]!));
  }
  return out;
}

function sqlState(err: unknown): string | undefined {
  return err instanceof SealtrailError ? (err.details as { sqlstate?: string } | undefined)?.sqlstate : undefined;
}

interface WalState {
  slot: string;
  publication: string;
}

interface Position {
  lsn: bigint;
  text: string;
}

/** What one slot read holds beyond `after`: the events of its fresh transactions, in commit order. */
interface WalRead {
  messages: number;
  /** End of the last transaction read (fresh or not), null when the slot held none. */
  last: Position | null;
  /** End of the last fresh transaction, null when none was beyond `after`. */
  lastFresh: Position | null;
  changes: OutboxRow[];
}

/**
 * Reads up to `limit` messages from the slot (whole transactions; the read always starts at the
 * slot's confirmed position, so transactions in flight are read again and skipped here) and keeps
 * the transactions that end after `after`. Null when the slot is busy (another sequencer) or
 * missing (scan reports it: slot_missing; the rows show up as unchained meanwhile).
 */
async function readWal(store: Store, state: WalState, after: Position, limit: number): Promise<WalRead | null> {
  let rows: Array<{ data: Buffer }>;
  try {
    rows = await store.query<{ data: Buffer }>(`SELECT data FROM pg_logical_slot_peek_binary_changes(?, NULL, ?, 'proto_version', '1', 'publication_names', ?)`, [
      state.slot,
      limit,
      state.publication,
    ]);
  } catch (err) {
    if (sqlState(err) === '55006' || sqlState(err) === '42704') return null;
    throw err;
  }
  const relations = new Map<number, Extract<PgoutputMessage, { type: 'relation' }>>();
  const txns = transactions(
    rows.map((r) => decodePgoutput(r.data)),
    relations,
  );
  const fresh = txns.filter((t) => t.endLsn > after.lsn);
  const pos = (t: WalTxn | undefined): Position | null => (t ? { lsn: t.endLsn, text: t.endText } : null);
  return { messages: rows.length, last: pos(txns[txns.length - 1]), lastFresh: pos(fresh[fresh.length - 1]), changes: fresh.length > 0 ? await walChanges(store, fresh, relations) : [] };
}

/**
 * Chains the changes with the conditional update of the recorded LSN from `prev` to `end`, in
 * one transaction (one unit of the ledger's group commit). -1 when the recorded LSN was not
 * `prev`: another sequencer got there first, nothing of ours was kept.
 */
async function appendWal(ledger: Ledger, changes: readonly OutboxRow[], prev: string, end: string): Promise<{ done: Promise<number> }> {
  const record = async (tx: Tx) => {
    const n = await tx.run('UPDATE capture_wal SET lsn = ?::pg_lsn WHERE id = 1 AND lsn = ?::pg_lsn', [end, prev]);
    if (n !== 1) throw new WalChanged();
  };
  const tags = changes.length > 0 ? await columnTags(ledger.store, [...new Set(changes.map((c) => c.relid))]) : null;
  // Enqueued before this returns (appendPrepared queues before its first await), so batches land
  // in the order they were read; a batch queued out of order would only roll back (WalChanged).
  const write = tags ? ledger.appendPrepared(outboxEvents(changes, tags), { inTransaction: record }) : ledger.store.writeTransaction(record);
  const done = write.then(
    () => changes.length,
    (err: unknown) => {
      if (err instanceof WalChanged) return -1;
      throw err;
    },
  );
  return { done };
}

/** Lets the slot forget what is chained and recorded up to `to` (never beyond the recorded LSN). */
async function advanceSlot(store: Store, slot: string, to: string): Promise<void> {
  try {
    await store.query('SELECT pg_replication_slot_advance(slot_name, ?::pg_lsn) FROM pg_replication_slots WHERE slot_name = ? AND confirmed_flush_lsn < ?::pg_lsn', [to, slot, to]);
  } catch (err) {
    // Busy or advanced meanwhile by another sequencer: the next read replays, and skips by LSN.
    if (sqlState(err) !== '55006' && sqlState(err) !== '55000' && sqlState(err) !== '22023') throw err;
  }
}

/**
 * Chains what the slot holds until it is empty (or `signal` aborts); returns the changes chained.
 * The next batch is read and converted while the previous one is being appended (it skips the
 * transactions in flight by LSN); the slot is advanced to a batch's end only once its chain
 * entries and recorded LSN have committed. Batches adapt: 2,000 messages, doubling while reads
 * come back full (up to maxChanges), halving when they come back nearly empty.
 */
export async function drainWal(ledger: Ledger, options: { maxChanges?: number; signal?: AbortSignal; onBatch?: (n: number) => void } = {}): Promise<number> {
  const store = ledger.store;
  const row = (await store.query<{ slot_name: string; publication: string; lsn: string }>('SELECT slot_name, publication, lsn::text AS lsn FROM capture_wal WHERE id = 1'))[0];
  if (!row) return 0;
  const state: WalState = { slot: row.slot_name, publication: row.publication };
  const max = options.maxChanges ?? 20_000;
  let limit = Math.min(max, 2_000);
  let committed: Position = { lsn: parseLsn(row.lsn), text: row.lsn };
  let inflight: { end: Position; messages: number; done: Promise<number> } | null = null;
  let total = 0;
  let lost = false;
  const land = async () => {
    const f = inflight!;
    inflight = null;
    const n = await f.done;
    if (n < 0) {
      lost = true;
      return;
    }
    committed = f.end;
    total += n;
    if (n > 0) options.onBatch?.(n);
    // Only now, with the chain entries and their LSN committed, may the slot forget them.
    await advanceSlot(store, state.slot, f.end.text);
  };
  while (!options.signal?.aborted && !lost) {
    const after: Position = inflight?.end ?? committed;
    const extra = inflight?.messages ?? 0;
    const read = await readWal(store, state, after, limit + extra);
    if (read === null) break;
    if (read.lastFresh === null) {
      if (inflight) {
        await land();
        continue;
      }
      // Everything the slot holds is at or below the recorded LSN (a replay after a crash
      // between commit and advance): let the slot skip it, then read on.
      if (read.last === null) break;
      await advanceSlot(store, state.slot, read.last.text);
      if (read.messages < limit) break;
      continue;
    }
    limit = read.messages - extra >= limit ? Math.min(max, limit * 2) : read.messages - extra < limit / 4 ? Math.max(Math.min(max, 200), limit >> 1) : limit;
    const { done } = await appendWal(ledger, read.changes, after.text, read.lastFresh.text);
    // Observed by land(); without this a failure while the previous batch lands would be unhandled.
    done.catch(() => {});
    if (inflight) await land();
    inflight = { end: read.lastFresh, messages: read.messages, done };
  }
  if (inflight) await land();
  return total;
}
