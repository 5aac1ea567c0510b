/** Capture's view of the catalog: which tables exist, their keys and column tags, and which are sealtrail's own. */
import { SealtrailError } from '../core/errors.js';
import { DEFAULT_MAX_PAYLOAD_BYTES } from '../ledger/prepare-event.js';
import { Ledger } from '../ledger/ledger.js';
import type { Queryable, Store } from '../store/store.js';
import { type RowColumn } from './canonical-row.js';
import { quoteIdent } from './sql-quoting.js';

export type CaptureMode = 'sync' | 'queued' | 'wal';

/**
 * Every table sealtrail creates, by component (test/capture/roles.test.ts checks this against the
 * migrations): the read-only role may read them all, and none of them can be watched. Two are
 * retired later (merkle_nodes by capture migration 005, merkle_tiles_conversion by the tile
 * conversion); grants skip tables that do not exist.
 */
export const SEALTRAIL_TABLES = [
  'audit_chain',
  'merkle_nodes',
  'merkle_tiles',
  'merkle_tiles_conversion',
  'ledger_head',
  'checkpoints',
  'sealtrail_migrations',
  'capture_tables',
  'capture_wal',
  'capture_wakeup',
  'capture_outbox',
  'audit_alerts',
  'anchor_sinks',
  'audit_alert_deliveries',
  'task_audits',
  'task_artifact_ref',
] as const;

export const CAPTURE_MIGRATIONS = new URL('./migrations/', import.meta.url);

export interface WatchedTable {
  /** The table as PostgreSQL names it (schema-qualified when not on the search path). */
  table: string;
  kind: string;
  mode: CaptureMode;
  pkColumns: string[];
  /** UPDATEs are chained as their own events (`<pk>#update@<seq>`). */
  updates: boolean;
  /** DELETEs are chained as their own events (`<pk>#delete@<seq>`). */
  deletes: boolean;
}

export function requirePostgres(store: Store): Store {
  if (!store.capabilities.triggerCapture) {
    throw new SealtrailError('unsupported_backend', 'PostgreSQL capture needs a postgres:// database; SQLite has no triggers that can chain rows', {
      details: { dialect: store.dialect },
    });
  }
  return store;
}

/**
 * The ledger capture appends through. Given a Ledger, its own group commit (shared with the
 * process's other appends); given a bare Store (the older calling form), a Ledger over it that
 * capture never closes (the caller owns the store). Only a PostgreSQL one will do.
 */
export function captureLedger(target: Ledger | Store): Ledger {
  if (target instanceof Ledger) {
    requirePostgres(target.store);
    return target;
  }
  return new Ledger(requirePostgres(target), DEFAULT_MAX_PAYLOAD_BYTES);
}

export async function currentSchema(q: Queryable): Promise<string> {
  return (await q.query<{ s: string }>('SELECT current_schema() AS s'))[0]!.s;
}

export interface ResolvedTable {
  relid: number;
  name: string;
  schema: string;
  relname: string;
}

export async function resolveTable(q: Queryable, table: string): Promise<ResolvedTable> {
  if (typeof table !== 'string' || table.trim() === '') throw new SealtrailError('invalid_argument', 'a table name is required');
  let rows: Array<{ relid: number | null; name: string | null; kind: string | null; schema: string; relname: string }>;
  try {
    rows = await q.query(
      `SELECT c.oid::int8 AS relid, c.oid::regclass::text AS name, c.relkind::text AS kind, n.nspname::text AS schema, c.relname::text AS relname
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass(?)`,
      [table],
    );
  } catch (err) {
    throw new SealtrailError('table_not_found', `table ${JSON.stringify(table)} does not exist`, { cause: err, details: { table } });
  }
  const row = rows[0];
  if (!row || row.relid === null || !(row.kind === 'r' || row.kind === 'p')) {
    throw new SealtrailError('table_not_found', `table ${JSON.stringify(table)} does not exist`, { details: { table } });
  }
  return { relid: Number(row.relid), name: row.name!, schema: row.schema, relname: row.relname };
}

/** sealtrail's own tables are never watched: chaining the outbox's own inserts recurses without end. */
export async function refuseOwnTable(q: Queryable, t: ResolvedTable): Promise<void> {
  if (!(SEALTRAIL_TABLES as readonly string[]).includes(t.relname)) return;
  const ours = await q.query(`SELECT 1 FROM pg_class WHERE oid = to_regclass(?) AND relnamespace = (SELECT relnamespace FROM pg_class WHERE oid = to_regclass('capture_tables'))`, [
    quoteIdent(t.schema) + '.' + quoteIdent(t.relname),
  ]);
  if (ours.length > 0) {
    throw new SealtrailError('table_reserved', `${t.name} is one of sealtrail's own tables; it is guarded and chained already and cannot be watched`, { details: { table: t.name } });
  }
}

export async function primaryKey(q: Queryable, relid: number): Promise<string[]> {
  const rows = await q.query<{ name: string }>(
    `SELECT a.attname::text AS name FROM pg_index i
     CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
     JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
     WHERE i.indrelid = ?::oid AND i.indisprimary ORDER BY k.ord`,
    [relid],
  );
  return rows.map((r) => r.name);
}

export async function columnsOf(q: Queryable, relid: number): Promise<RowColumn[]> {
  return q.query<{ name: string; tag: string }>('SELECT name, tag FROM sealtrail_column_tags(?::oid) ORDER BY num', [relid]);
}
