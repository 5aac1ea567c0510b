/**
 * PostgreSQL capture: database triggers chain every row inserted into a watched table, either
 * inside the writer's transaction (sync) or through an outbox that a single sequencer chains after
 * commit (queued). The trigger, the canonical row form in SQL and the chaining function live in
 * migrations/postgres/; this module installs them, watches tables, runs the sequencer, backfills
 * rows that predate watching and builds the scan targets that find edited, deleted and unchained rows.
 * Watch, unwatch and install chain their configuration (capture-state.ts), and the scan holds the
 * catalog and the registry to what the chain says, not the other way round.
 */
import type pg from 'pg';
import { canonicalHash } from '../core/canonical-json.js';
import { SealtrailError } from '../core/errors.js';
import { parseVersionKey, VERSION_INFIX } from '../core/row-key.js';
import { compareFindings, scanTargets, type ScanFinding, type ScanReport, type ScanTarget } from '../ledger/scan.js';
import { loadMigrations, migrate } from '../store/migrate.js';
import { mapPgError, PostgresStore } from '../store/postgres/postgres-store.js';
import type { Queryable, Store } from '../store/store.js';
import { Appender } from '../ledger/appender.js';
import type { PreparedEvent } from '../ledger/prepare-event.js';
import { canonicalRowAndPk, type RowColumn } from './canonical-row.js';
import {
  CAPTURE_TRIGGER,
  DDL_EVENT_TRIGGERS,
  INSTALL_EVENT,
  TRUNCATE_GUARD,
  UNWATCH_EVENT,
  WATCH_EVENT,
  captureFindings,
  captureHistory,
  chainCaptureEvent,
  ddlEvidenceSince,
  expectedFunctions,
  functionFindings,
  registryRows,
  watchedRelid,
  type CaptureHistory,
  type ChainedWatch,
} from './capture-state.js';

export type CaptureMode = 'sync' | 'queued';

/** The read-only verifier role `sealtrail init` creates on PostgreSQL, unless told another name. */
export const READ_ONLY_ROLE = 'sealtrail_audit_ro';

/**
 * Every table sealtrail creates, by component (test/capture/roles.test.ts checks this against the
 * migrations): the read-only role may read them all, and none of them can be watched.
 */
export const SEALTRAIL_TABLES = [
  'audit_chain',
  'merkle_nodes',
  'ledger_head',
  'checkpoints',
  'sealtrail_migrations',
  'capture_tables',
  'capture_outbox',
  'audit_alerts',
  'anchor_sinks',
  'audit_alert_deliveries',
  'task_audits',
  'task_artifact_ref',
] as const;

/** A role name PostgreSQL takes unquoted: lower-case letters, digits and underscores, at most 63 bytes, not `pg_…`. */
export function isRoleName(role: unknown): role is string {
  return typeof role === 'string' && /^[a-z_][a-z0-9_]{0,62}$/.test(role) && !role.startsWith('pg_');
}

export function assertRoleName(role: string): string {
  if (!isRoleName(role)) {
    throw new SealtrailError('invalid_argument', `the read-only role must be a plain PostgreSQL identifier (a-z, 0-9, _; at most 63; not pg_…), not ${JSON.stringify(role)}`, {
      details: { role },
    });
  }
  return role;
}
/** Session advisory lock held by the active sequencer (the leader). */
export const SEQUENCER_LOCK_KEY = 7_304_041_771_292_002n;

const CAPTURE_MIGRATIONS = new URL('./migrations/', import.meta.url);

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

export interface WatchOptions {
  mode?: CaptureMode;
  pk?: string[];
  kind?: string;
  /** Chain every UPDATE of a row as a new version of it. */
  updates?: boolean;
  /** Chain every DELETE of a row as its final version. */
  deletes?: boolean;
}

export interface InstallReport {
  /** Capture migrations applied by this call (0 when already installed). */
  applied: number;
  /** The DDL event triggers exist (creating them needs a superuser). */
  ddlEvidence: boolean;
  /** The read-only role exists with its grants (creating it needs CREATEROLE). */
  readOnlyRole: boolean;
  /** The read-only role's name. */
  readOnlyRoleName: string;
}

export interface InstallOptions {
  /** The read-only role to create and grant (default `sealtrail_audit_ro`). */
  readOnlyRole?: string;
}

function requirePostgres(store: Store): PostgresStore {
  if (!(store instanceof PostgresStore)) {
    throw new SealtrailError('unsupported_backend', 'PostgreSQL capture needs a postgres:// database; SQLite has no triggers that can chain rows', {
      details: { dialect: store.dialect },
    });
  }
  return store;
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

function quoteLiteral(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

/**
 * Installs capture (idempotent): the capture schema, then the DDL event triggers and the
 * read-only role where this connection's privileges allow. `sealtrail init` calls it on PostgreSQL.
 */
export async function installCapture(store: Store, options: InstallOptions = {}): Promise<InstallReport> {
  const pgStore = requirePostgres(store);
  const role = assertRoleName(options.readOnlyRole ?? READ_ONLY_ROLE);
  const applied = await migrate(pgStore, 'capture', loadMigrations(CAPTURE_MIGRATIONS, 'postgres'));
  const superuser = (await pgStore.query<{ s: boolean }>('SELECT rolsuper AS s FROM pg_roles WHERE rolname = current_user'))[0]?.s === true;
  let ddlEvidence = false;
  if (superuser) {
    await pgStore.writeTransaction(async (tx) => {
      let created = false;
      for (const { name, event } of DDL_EVENT_TRIGGERS) {
        const exists = await tx.query('SELECT 1 FROM pg_event_trigger WHERE evtname = ?', [name]);
        if (exists.length === 0) {
          await tx.exec(`CREATE EVENT TRIGGER ${name} ON ${event} EXECUTE FUNCTION sealtrail_ddl_evidence()`);
          // Fires under session_replication_role = replica too.
          await tx.exec(`ALTER EVENT TRIGGER ${name} ENABLE ALWAYS`);
          created = true;
        }
      }
      // From this event on, scan expects the event triggers to be there and enabled.
      if (created || !(await captureHistory(tx)).ddlEvidence) await chainCaptureEvent(tx, INSTALL_EVENT, { event_triggers: DDL_EVENT_TRIGGERS });
    });
    ddlEvidence = true;
  } else {
    ddlEvidence = (await pgStore.query('SELECT 1 FROM pg_event_trigger WHERE evtname = ?', ['sealtrail_ddl_end'])).length > 0;
  }
  await recordUnchainedWatches(pgStore);
  const readOnlyRole = await ensureReadOnlyRole(pgStore, role);
  return { applied, ddlEvidence, readOnlyRole, readOnlyRoleName: role };
}

/**
 * Ledgers from before watches were chained: every registry row with no chained watch event for
 * its kind gets one now (`backfilled: true`), recording the registry as it stands at this install.
 */
async function recordUnchainedWatches(store: PostgresStore): Promise<void> {
  await store.writeTransaction(async (tx) => {
    const history = await captureHistory(tx);
    for (const row of await registryRows(tx)) {
      if (row.name === null || row.schema === null || history.watched.has(row.event_kind)) continue;
      const table = (await tx.query<{ t: string }>('SELECT ?::oid::regclass::text AS t', [Number(row.relid)]))[0]!.t;
      await chainCaptureEvent(tx, WATCH_EVENT, {
        ...watchBody({ table, kind: row.event_kind, mode: row.mode as CaptureMode, pkColumns: row.pk_columns, updates: row.updates, deletes: row.deletes }, { relid: Number(row.relid), schema: row.schema, relname: row.name }),
        backfilled: true,
      });
    }
  });
}

function watchBody(w: WatchedTable, t: { relid: number; schema: string; relname: string }): Record<string, unknown> {
  return { kind: w.kind, table: w.table, schema: t.schema, name: t.relname, relid: t.relid, mode: w.mode, pk_columns: w.pkColumns, updates: w.updates, deletes: w.deletes };
}

function sameWatch(c: ChainedWatch | undefined, w: WatchedTable, t: ResolvedTable): boolean {
  return (
    c !== undefined &&
    c.schema === t.schema &&
    c.name === t.relname &&
    c.mode === w.mode &&
    c.updates === w.updates &&
    c.deletes === w.deletes &&
    c.pkColumns.join('\u0000') === w.pkColumns.join('\u0000')
  );
}

/**
 * Creates the read-only role (LOGIN, no password) and grants it SELECT on every sealtrail table
 * that exists and on the watched tables. Tables a component creates later are granted by the
 * migration that creates them (store/migrate.ts grants each new table to the roles that may read
 * `sealtrail_migrations`), and `watch` grants each table it watches.
 */
async function ensureReadOnlyRole(store: PostgresStore, role: string): Promise<boolean> {
  try {
    // Roles are cluster-wide: another database may be creating it at this very moment.
    await store.exec(`DO $$ BEGIN
      IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${role}') THEN
        BEGIN CREATE ROLE ${role} LOGIN NOINHERIT;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END;
      END IF; END $$`);
    await store.writeTransaction(async (tx) => {
      await tx.exec(`GRANT USAGE ON SCHEMA ${quoteIdent(await currentSchema(tx))} TO ${role}`);
      const present = await tx.query<{ t: string }>('SELECT t FROM unnest(?::text[]) AS u(t) WHERE to_regclass(t) IS NOT NULL ORDER BY t', [pgArray(SEALTRAIL_TABLES)]);
      await tx.exec(`GRANT SELECT ON ${present.map((r) => r.t).join(', ')} TO ${role}`);
      for (const w of await listWatched(store, tx)) await tx.exec(`GRANT SELECT ON ${w.table} TO ${role}`);
    });
    return true;
  } catch (err) {
    if (err instanceof SealtrailError && err.code === 'permission_denied') return false;
    throw err;
  }
}

async function currentSchema(q: Queryable): Promise<string> {
  return (await q.query<{ s: string }>('SELECT current_schema() AS s'))[0]!.s;
}

/** The roles granted SELECT on the ledger's bookkeeping (the read-only role, whatever its name). */
async function readerRoles(q: Queryable): Promise<string[]> {
  const rows = await q.query<{ role: string }>(
    `SELECT DISTINCT g.grantee::regrole::text AS role FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) g
     WHERE c.oid = to_regclass('sealtrail_migrations') AND g.privilege_type = 'SELECT' AND g.grantee <> c.relowner AND g.grantee <> 0 ORDER BY 1`,
  );
  return rows.map((r) => r.role);
}

interface ResolvedTable {
  relid: number;
  name: string;
  schema: string;
  relname: string;
}

async function resolveTable(q: Queryable, table: string): Promise<ResolvedTable> {
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
async function refuseOwnTable(q: Queryable, t: ResolvedTable): Promise<void> {
  if (!(SEALTRAIL_TABLES as readonly string[]).includes(t.relname)) return;
  const ours = await q.query(`SELECT 1 FROM pg_class WHERE oid = to_regclass(?) AND relnamespace = (SELECT relnamespace FROM pg_class WHERE oid = to_regclass('capture_tables'))`, [
    quoteIdent(t.schema) + '.' + quoteIdent(t.relname),
  ]);
  if (ours.length > 0) {
    throw new SealtrailError('table_reserved', `${t.name} is one of sealtrail's own tables; it is guarded and chained already and cannot be watched`, { details: { table: t.name } });
  }
}

async function primaryKey(q: Queryable, relid: number): Promise<string[]> {
  const rows = await q.query<{ name: string }>(
    `SELECT a.attname::text AS name FROM pg_index i
     CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
     JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
     WHERE i.indrelid = ?::oid AND i.indisprimary ORDER BY k.ord`,
    [relid],
  );
  return rows.map((r) => r.name);
}

async function columnsOf(q: Queryable, relid: number): Promise<RowColumn[]> {
  return q.query<{ name: string; tag: string }>('SELECT name, tag FROM sealtrail_column_tags(?::oid) ORDER BY num', [relid]);
}

/**
 * Starts capturing a table (idempotent). The primary key is found from the catalog; a table
 * without one needs `pk`. The event kind defaults to the table name.
 */
export async function watchTable(store: Store, table: string, options: WatchOptions = {}): Promise<WatchedTable> {
  const pgStore = requirePostgres(store);
  const mode = options.mode ?? 'sync';
  if (mode !== 'sync' && mode !== 'queued') throw new SealtrailError('invalid_argument', `mode must be sync or queued, not ${JSON.stringify(mode)}`);
  return pgStore.writeTransaction(async (tx) => {
    const resolved = await resolveTable(tx, table);
    await refuseOwnTable(tx, resolved);
    const columns = await columnsOf(tx, resolved.relid);
    let pkColumns = options.pk?.map((c) => c.trim()).filter((c) => c !== '') ?? [];
    if (pkColumns.length === 0) pkColumns = await primaryKey(tx, resolved.relid);
    if (pkColumns.length === 0) {
      throw new SealtrailError('primary_key_missing', `table ${resolved.name} has no primary key; name its key columns with --pk col[,col]`, {
        details: { table: resolved.name },
      });
    }
    for (const c of pkColumns) {
      if (!columns.some((col) => col.name === c)) {
        throw new SealtrailError('invalid_argument', `table ${resolved.name} has no column ${JSON.stringify(c)}`, { details: { table: resolved.name, column: c } });
      }
    }
    const kind = options.kind ?? resolved.name;
    const updates = options.updates === true;
    const deletes = options.deletes === true;
    const result: WatchedTable = { table: resolved.name, kind, mode, pkColumns, updates, deletes };
    const existing = await tx.query<{ mode: string; pk_columns: string[]; event_kind: string; updates: boolean; deletes: boolean }>(
      'SELECT mode, pk_columns, event_kind, updates, deletes FROM capture_tables WHERE relid = ?::oid',
      [resolved.relid],
    );
    const prior = existing[0];
    const triggerOk =
      (await tx.query(`SELECT 1 FROM pg_trigger WHERE tgrelid = ?::oid AND tgname IN (?, ?) AND tgenabled = 'A'`, [resolved.relid, CAPTURE_TRIGGER, TRUNCATE_GUARD])).length === 2;
    const history = await captureHistory(tx);
    if (
      sameWatch(history.watched.get(kind), result, resolved) &&
      prior &&
      prior.mode === mode &&
      prior.event_kind === kind &&
      prior.pk_columns.join('\u0000') === pkColumns.join('\u0000') &&
      prior.updates === updates &&
      prior.deletes === deletes &&
      triggerOk
    ) {
      return result;
    }
    await tx.run(
      `INSERT INTO capture_tables (relid, table_name, event_kind, mode, pk_columns, updates, deletes) VALUES (?::oid, ?, ?, ?, ?::text[], ?, ?)
       ON CONFLICT (relid) DO UPDATE SET table_name = EXCLUDED.table_name, event_kind = EXCLUDED.event_kind, mode = EXCLUDED.mode,
         pk_columns = EXCLUDED.pk_columns, updates = EXCLUDED.updates, deletes = EXCLUDED.deletes`,
      [resolved.relid, resolved.name, kind, mode, pgArray(pkColumns), updates, deletes],
    );
    // Re-watched under another kind: the old kind is no longer captured, and the chain says so.
    if (prior && prior.event_kind !== kind && history.watched.has(prior.event_kind)) {
      await chainCaptureEvent(tx, UNWATCH_EVENT, { kind: prior.event_kind, table: resolved.name, schema: resolved.schema, name: resolved.relname, relid: resolved.relid });
    }
    // What the scan will hold this table's capture to, chained with the registry change.
    await chainCaptureEvent(tx, WATCH_EVENT, watchBody(result, resolved));
    const args = [kind, mode, ...pkColumns].map(quoteLiteral).join(', ');
    const events = ['INSERT', ...(updates ? ['UPDATE'] : []), ...(deletes ? ['DELETE'] : [])].join(' OR ');
    await tx.exec(`CREATE OR REPLACE TRIGGER ${CAPTURE_TRIGGER} AFTER ${events} ON ${resolved.name} FOR EACH ROW EXECUTE FUNCTION audit_chain_append(${args})`);
    // ALWAYS: session_replication_role = replica does not switch capture off.
    await tx.exec(`ALTER TABLE ${resolved.name} ENABLE ALWAYS TRIGGER ${CAPTURE_TRIGGER}`);
    await tx.exec(`CREATE OR REPLACE TRIGGER ${TRUNCATE_GUARD} BEFORE TRUNCATE ON ${resolved.name} FOR EACH STATEMENT EXECUTE FUNCTION sealtrail_guard()`);
    await tx.exec(`ALTER TABLE ${resolved.name} ENABLE ALWAYS TRIGGER ${TRUNCATE_GUARD}`);
    for (const role of await readerRoles(tx)) {
      try {
        await tx.savepoint(() => tx.exec(`GRANT SELECT ON ${resolved.name} TO ${role}`));
      } catch (err) {
        if (!(err instanceof SealtrailError && err.code === 'permission_denied')) throw err;
      }
    }
    return result;
  }).catch((err: unknown) => {
    if (err instanceof SealtrailError && err.code === 'schema_missing') {
      throw new SealtrailError('schema_missing', `capture is not installed at ${store.location}; run \`sealtrail init\``, { cause: err });
    }
    throw err;
  });
}

/**
 * Creates (if missing) a general-purpose `audit_log` table for applications that have none, and
 * watches it (sync, idempotent): `sealtrail init --audit-log`. An existing `audit_log` is watched as it is.
 */
export async function createAuditLog(store: Store, options: { mode?: CaptureMode } = {}): Promise<WatchedTable> {
  const pgStore = requirePostgres(store);
  await pgStore.exec(`CREATE TABLE IF NOT EXISTS audit_log (
    id         BIGSERIAL   PRIMARY KEY,
    actor      TEXT,
    action     TEXT,
    target     TEXT,
    details    JSONB,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
  )`);
  return watchTable(store, 'audit_log', { mode: options.mode ?? 'sync' });
}

/** Watches several tables; a failing table is reported and the others are still watched. */
export async function watchTables(
  store: Store,
  tables: readonly string[],
  options: Omit<WatchOptions, 'kind'> = {},
): Promise<{ watched: WatchedTable[]; failed: Array<{ table: string; error: SealtrailError }> }> {
  const watched: WatchedTable[] = [];
  const failed: Array<{ table: string; error: SealtrailError }> = [];
  for (const table of tables) {
    try {
      watched.push(await watchTable(store, table, options));
    } catch (err) {
      if (!(err instanceof SealtrailError) || !['table_not_found', 'primary_key_missing', 'table_reserved', 'invalid_argument'].includes(err.code)) throw err;
      failed.push({ table, error: err });
    }
  }
  return { watched, failed };
}

/**
 * Stops capturing a table: chains a `sealtrail.capture.unwatch` event per kind it was watched
 * under, drops its triggers (itself chained as DDL evidence) and its registry row, in one
 * transaction. A watched table that no longer exists can be unwatched by the name it was watched as.
 */
export async function unwatchTable(store: Store, table: string): Promise<boolean> {
  const pgStore = requirePostgres(store);
  return pgStore.writeTransaction(async (tx) => {
    const history = await captureHistory(tx);
    let resolved: ResolvedTable | null = null;
    try {
      resolved = await tx.savepoint(() => resolveTable(tx, table));
    } catch (err) {
      if (!(err instanceof SealtrailError && err.code === 'table_not_found')) throw err;
      const gone = [...history.watched.values()].filter((w) => w.table === table || `${w.schema}.${w.name}` === table);
      let unwatched = 0;
      for (const w of gone) {
        if ((await watchedRelid(tx, w)) !== null) continue;
        await chainCaptureEvent(tx, UNWATCH_EVENT, { kind: w.kind, table: w.table, schema: w.schema, name: w.name, relid: null });
        await tx.run('DELETE FROM capture_tables WHERE event_kind = ?', [w.kind]);
        unwatched++;
      }
      if (unwatched === 0) throw err;
      return true;
    }
    const r = resolved;
    const kinds = new Set((await tx.query<{ k: string }>('SELECT event_kind AS k FROM capture_tables WHERE relid = ?::oid', [r.relid])).map((x) => x.k));
    for (const w of history.watched.values()) if (w.schema === r.schema && w.name === r.relname) kinds.add(w.kind);
    for (const kind of [...kinds].sort()) {
      await chainCaptureEvent(tx, UNWATCH_EVENT, { kind, table: r.name, schema: r.schema, name: r.relname, relid: r.relid });
    }
    await tx.exec(`DROP TRIGGER IF EXISTS ${CAPTURE_TRIGGER} ON ${r.name}`);
    await tx.exec(`DROP TRIGGER IF EXISTS ${TRUNCATE_GUARD} ON ${r.name}`);
    await tx.run('DELETE FROM capture_tables WHERE relid = ?::oid', [r.relid]);
    return kinds.size > 0;
  });
}

/**
 * The watched tables that exist, as the chained watch events say (a registry row no chained
 * watch accounts for is listed too, as `scan` still scans it), ordered by kind.
 */
export async function listWatched(store: Store, q: Queryable = store): Promise<WatchedTable[]> {
  requirePostgres(store);
  const history = await captureHistory(q);
  const out: WatchedTable[] = [];
  for (const w of history.watched.values()) {
    const relid = await watchedRelid(q, w);
    if (relid === null) continue;
    const table = (await q.query<{ t: string }>('SELECT ?::oid::regclass::text AS t', [relid]))[0]!.t;
    out.push({ table, kind: w.kind, mode: w.mode, pkColumns: w.pkColumns, updates: w.updates, deletes: w.deletes });
  }
  for (const r of await registryRows(q)) {
    if (r.name === null || history.watched.has(r.event_kind)) continue;
    const table = (await q.query<{ t: string }>('SELECT ?::oid::regclass::text AS t', [Number(r.relid)]))[0]!.t;
    out.push({ table, kind: r.event_kind, mode: r.mode as CaptureMode, pkColumns: r.pk_columns, updates: r.updates, deletes: r.deletes });
  }
  return out.sort((a, b) => (a.kind < b.kind ? -1 : a.kind > b.kind ? 1 : 0));
}

// ---------------------------------------------------------------------------------------------
// Sequencer

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

function ownMembers(rowJson: string): RowColumn[] {
  return Object.keys(JSON.parse(rowJson) as object).map((name) => ({ name, tag: 'json' }));
}

function captureEvent(kind: string, columns: readonly RowColumn[], rowJson: string, pkColumns: readonly string[], version?: string): PreparedEvent {
  const { payload, pk } = canonicalRowAndPk(columns.length > 0 ? columns : ownMembers(rowJson), rowJson, pkColumns);
  const event: PreparedEvent = { kind, pk, canonical: payload, eventHash: canonicalHash(payload), onConflict: 'version' };
  if (version !== undefined) event.version = version;
  return event;
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
  while (!signal?.aborted) {
    const rows = await readOutbox(store, batchSize, inflight);
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

/** Chains queued events until the outbox is empty; returns how many were chained. Safe to run beside a sequencer. */
export async function drainOutbox(store: Store, options: { batchSize?: number } = {}): Promise<number> {
  const pgStore = requirePostgres(store);
  return sequenceOutbox(pgStore, new Appender(pgStore), options.batchSize ?? 10_000);
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

// ---------------------------------------------------------------------------------------------
// Backfill

export interface BackfillResult {
  table: string;
  kind: string;
  /** Rows read. */
  rows: number;
  /** Rows newly chained (rows already chained with the same content are skipped). */
  chained: number;
}

/**
 * Chains rows that existed before the table was watched, in primary-key order, one committed
 * batch at a time: a re-run (or a run after a kill) adds only what is still missing.
 */
export async function backfill(
  store: Store,
  tables?: readonly string[],
  options: { batchSize?: number; onProgress?: (table: string, done: number, total: number) => void } = {},
): Promise<BackfillResult[]> {
  const pgStore = requirePostgres(store);
  const batchSize = options.batchSize ?? 5_000;
  const watched = await listWatched(pgStore);
  const selected: WatchedTable[] = [];
  for (const t of tables ?? watched.map((w) => w.table)) {
    const resolved = await resolveTable(pgStore, t);
    const w = watched.find((x) => x.table === resolved.name);
    if (!w) throw new SealtrailError('invalid_argument', `table ${resolved.name} is not watched; run \`sealtrail watch ${resolved.name}\` first`, { details: { table: resolved.name } });
    selected.push(w);
  }
  const results: BackfillResult[] = [];
  for (const w of selected) results.push(await backfillTable(pgStore, w, batchSize, options.onProgress));
  return results;
}

async function backfillTable(
  store: PostgresStore,
  w: WatchedTable,
  batchSize: number,
  onProgress?: (table: string, done: number, total: number) => void,
): Promise<BackfillResult> {
  const { relid } = await resolveTable(store, w.table);
  const types = await store.query<{ name: string; type: string }>(
    'SELECT attname::text AS name, format_type(atttypid, atttypmod) AS type FROM pg_attribute WHERE attrelid = ?::oid AND attnum > 0 AND NOT attisdropped',
    [relid],
  );
  const pkTypes = w.pkColumns.map((c) => types.find((t) => t.name === c)!.type);
  const columns = await columnsOf(store, relid);
  const total = Number((await store.query<{ n: number }>(`SELECT count(*) AS n FROM ${w.table}`))[0]?.n ?? 0);
  const pkList = w.pkColumns.map((c) => `t.${quoteIdent(c)}`).join(', ');
  const pkText = w.pkColumns.map((c, i) => `t.${quoteIdent(c)}::text AS k${i}`).join(', ');
  const after = `WHERE ROW(${pkList}) > ROW(${pkTypes.map((t) => `?::${t}`).join(', ')})`;
  const read = (last: string[] | null) =>
    store.query<Record<string, string>>(`SELECT to_jsonb(t.*)::text AS j, ${pkText} FROM ${w.table} t ${last ? after : ''} ORDER BY ${pkList} LIMIT ${batchSize}`, last ?? []);
  const appender = new Appender(store);
  let rows = 0;
  let chained = 0;
  // Canonical forms and hashes are computed here; each batch is one committed group-commit
  // transaction, so a killed run resumes where it stopped and a re-run finds every row chained.
  // The next batch is read while the current one is being appended.
  let batch = await read(null);
  while (batch.length > 0) {
    const lastRow = batch[batch.length - 1]!;
    const next = batch.length < batchSize ? Promise.resolve([]) : read(w.pkColumns.map((_, i) => lastRow[`k${i}`]!));
    // A failed read must not go unobserved while the append is still running.
    next.catch(() => {});
    const { entries } = await appender.enqueue(batch.map((r) => captureEvent(w.kind, columns, r.j!, w.pkColumns)));
    rows += batch.length;
    chained += entries.filter((e) => !e.existing).length;
    onProgress?.(w.table, rows, total);
    batch = await next;
  }
  return { table: w.table, kind: w.kind, rows, chained };
}

/** A PostgreSQL array literal of text (node-postgres would also accept a JS array; the Store API takes scalars). */
function pgArray(items: readonly string[]): string {
  return `{${items.map((s) => `"${s.replace(/["\\]/g, '\\$&')}"`).join(',')}}`;
}

// ---------------------------------------------------------------------------------------------
// Scan

interface ChainedVersion {
  seq: number;
  pk: string;
  op: 'insert' | 'update' | 'delete';
  eventHash: Buffer;
}

/**
 * Every chained version of each row key that has more than its insert: with UPDATE/DELETE capture
 * the latest version is what the row must look like now (or that it is gone).
 */
async function chainedVersions(q: Queryable, kind: string): Promise<Map<string, ChainedVersion[]>> {
  const byPk = new Map<string, ChainedVersion[]>();
  const rows = await q.query<{ seq: number; event_pk: string; event_hash: Buffer }>(
    `SELECT seq, event_pk, event_hash FROM audit_chain WHERE event_kind = ? AND event_pk ~ '@[0-9]+$' ORDER BY seq`,
    [kind],
  );
  const reinserts: Array<{ base: string; v: ChainedVersion }> = [];
  for (const r of rows) {
    const parsed = parseVersionKey(r.event_pk, Number(r.seq));
    if (!parsed) continue;
    const base = parsed.rowPk;
    const v: ChainedVersion = { seq: Number(r.seq), pk: r.event_pk, op: parsed.op === 'reinsert' ? 'insert' : parsed.op, eventHash: r.event_hash };
    if (v.op === 'insert') reinserts.push({ base, v });
    else byPk.set(base, [...(byPk.get(base) ?? []), v]);
  }
  // pk@seq is a version only as the re-insert of a key whose delete was chained; otherwise it
  // stays what it was (a conflicting payload, reported by the scan as it always was).
  for (const { base, v } of reinserts) {
    const list = byPk.get(base);
    const before = list?.filter((x) => x.seq < v.seq).at(-1);
    if (list && before?.op === 'delete') {
      list.push(v);
      list.sort((x, y) => x.seq - y.seq);
    }
  }
  if (byPk.size > 0) {
    const bases = await q.query<{ seq: number; event_pk: string; event_hash: Buffer }>(
      'SELECT seq, event_pk, event_hash FROM audit_chain WHERE event_kind = ? AND event_pk = ANY (?::text[])',
      [kind, pgArray([...byPk.keys()])],
    );
    for (const r of bases) byPk.get(r.event_pk)!.unshift({ seq: Number(r.seq), pk: r.event_pk, op: 'insert', eventHash: r.event_hash });
  }
  return byPk;
}

/**
 * Scan targets for every watched table: each row recomputed in TypeScript (canonical row form,
 * event_hash). Rows whose identical event is still waiting in the outbox (queued mode, not yet
 * sequenced) are not reported. With UPDATE/DELETE capture the latest chained version of a key is
 * the expected row: an update whose version was chained is not an edit, a delete whose version
 * was chained is not a deletion; earlier versions are accounted for by the latest one, so the
 * table's `rows` count includes them. `q` lets the scan run inside one snapshot.
 */
export async function captureScanTargets(
  store: Store,
  q: Queryable & { cursorBatches?: CursorReader } = store,
  history?: CaptureHistory,
): Promise<ScanTarget[]> {
  requirePostgres(store);
  const targets: ScanTarget[] = [];
  for (const w of await scannedTables(q, history ?? (await captureHistory(q)))) {
    if (w.relid === null) {
      // The table is gone: every row chained under its kind is unaccounted for.
      targets.push({ kind: w.kind, rows: async function* () {} });
      continue;
    }
    const relid = w.relid;
    const columns = await columnsOf(q, relid);
    // Queued events not yet chained: key -> the row contents they carry (null: a pending delete).
    const pending = new Map<string, Array<Buffer | null>>();
    const outbox = await q.query<{ op: string; row_data: string | null; old_data: string | null }>(
      'SELECT op, row_data::text AS row_data, old_data::text AS old_data FROM capture_outbox WHERE event_kind = ? ORDER BY id',
      [w.kind],
    );
    for (const r of outbox) {
      if (r.old_data !== null) {
        const old = canonicalRowAndPk(columns, r.old_data, w.pkColumns);
        if (r.op === 'delete' || r.row_data === null || canonicalRowAndPk(columns, r.row_data, w.pkColumns).pk !== old.pk) {
          pending.set(old.pk, [...(pending.get(old.pk) ?? []), null]);
        }
      }
      if (r.row_data !== null) {
        const now = canonicalRowAndPk(columns, r.row_data, w.pkColumns);
        pending.set(now.pk, [...(pending.get(now.pk) ?? []), canonicalHash(now.payload)]);
      }
    }
    const versions = await chainedVersions(q, w.kind);
    const baseHash = new Map<string, ChainedVersion>();
    const pendingChained = [...pending.keys()].filter((pk) => !versions.has(pk));
    if (pendingChained.length > 0) {
      for (const r of await q.query<{ seq: number; event_pk: string; event_hash: Buffer }>(
        'SELECT seq, event_pk, event_hash FROM audit_chain WHERE event_kind = ? AND event_pk = ANY (?::text[])',
        [w.kind, pgArray(pendingChained)],
      )) {
        baseHash.set(r.event_pk, { seq: Number(r.seq), pk: r.event_pk, op: 'insert', eventHash: r.event_hash });
      }
    }
    const chainedOf = (pk: string): ChainedVersion[] => versions.get(pk) ?? (baseHash.has(pk) ? [baseHash.get(pk)!] : []);
    // A row that no longer hashes to any sha256 output: "edited" at the version it contradicts.
    const NEVER = Buffer.alloc(32);
    targets.push({
      kind: w.kind,
      rows: async function* () {
        const read = q.cursorBatches ?? pagedReader(q);
        const seen = new Set<string>();
        for await (const batch of read(`SELECT to_jsonb(t.*)::text AS j FROM ${w.table} t`)) {
          for (const r of batch) {
            const { payload, pk } = canonicalRowAndPk(columns, r.j as string, w.pkColumns);
            const eventHash = canonicalHash(payload);
            const queued = pending.get(pk);
            const list = versions.get(pk);
            if (queued?.some((h) => h !== null && h.equals(eventHash))) {
              // Its latest content is on its way into the chain; what is chained so far stands.
              if (list || baseHash.has(pk)) seen.add(pk);
              for (const v of chainedOf(pk)) yield { pk: v.pk, eventHash: v.eventHash };
              continue;
            }
            if (!list) {
              if (baseHash.has(pk)) seen.add(pk);
              yield { pk, eventHash };
              continue;
            }
            seen.add(pk);
            const latest = list[list.length - 1]!;
            for (const v of list.slice(0, -1)) yield { pk: v.pk, eventHash: v.eventHash };
            yield { pk: latest.pk, eventHash: latest.op === 'delete' ? NEVER : eventHash };
          }
        }
        // Keys without a row: fine when their delete is chained (or queued); otherwise the latest
        // version is left unaccounted for, so it is reported as deleted.
        for (const pk of new Set([...versions.keys(), ...baseHash.keys()])) {
          if (seen.has(pk)) continue;
          const list = chainedOf(pk);
          const gone = list[list.length - 1]?.op === 'delete' || pending.get(pk)?.includes(null) === true;
          for (const v of gone ? list : list.slice(0, -1)) yield { pk: v.pk, eventHash: v.eventHash };
        }
      },
    });
  }
  return targets;
}

type CursorReader = (sql: string) => AsyncIterable<Array<Record<string, unknown>>>;

interface ScannedTable {
  kind: string;
  /** A SQL name for the table (schema-qualified, quoted). */
  table: string;
  relid: number | null;
  pkColumns: string[];
}

/**
 * The tables to scan: every table the chain says is watched (a dropped one with no rows), plus
 * registry rows no chained watch accounts for (reported as `capture_unrecorded`, still scanned).
 */
async function scannedTables(q: Queryable, history: CaptureHistory): Promise<ScannedTable[]> {
  const tables: ScannedTable[] = [];
  for (const w of history.watched.values()) {
    tables.push({ kind: w.kind, table: `${quoteIdent(w.schema)}.${quoteIdent(w.name)}`, relid: await watchedRelid(q, w), pkColumns: w.pkColumns });
  }
  for (const row of await registryRows(q)) {
    if (row.name === null || row.schema === null || history.watched.has(row.event_kind)) continue;
    tables.push({ kind: row.event_kind, table: `${quoteIdent(row.schema)}.${quoteIdent(row.name)}`, relid: Number(row.relid), pkColumns: row.pk_columns });
  }
  return tables.sort((a, b) => (a.kind < b.kind ? -1 : a.kind > b.kind ? 1 : 0));
}

/** The capture functions as the capture migrations applied to this database define them. */
async function appliedFunctions(q: Queryable): Promise<Map<string, string>> {
  const applied = await q.query<{ version: number | string; sha256: string }>(`SELECT version, sha256 FROM sealtrail_migrations WHERE component = 'capture'`);
  const steps = loadMigrations(CAPTURE_MIGRATIONS, 'postgres');
  // A step whose text differs from the applied one is migration_changed, reported by init; a
  // database not yet upgraded is held to the steps it has.
  const sql = steps.filter((m) => applied.some((a) => Number(a.version) === m.version && a.sha256 === m.sha256)).map((m) => m.sql);
  return expectedFunctions(sql);
}

export interface ScanOptions {
  /**
   * Report DDL evidence chained after this seq only (the last trusted state; default 0: all).
   * Capture state (`capture_disabled` …) and rows are always checked in full.
   */
  since?: number;
}

function pagedReader(q: Queryable): CursorReader {
  return async function* (sql: string) {
    yield await q.query(sql);
  };
}

/**
 * Scans every watched table (plus `extraTargets`, e.g. the task tables) in one REPEATABLE READ
 * snapshot, so rows committed during the scan cannot look unchained.
 */
export async function scanCapture(
  store: Store,
  extraTargets: (q: Store) => ScanTarget[] | Promise<ScanTarget[]> = () => [],
  options: ScanOptions = {},
): Promise<ScanReport> {
  const since = options.since ?? 0;
  if (!Number.isSafeInteger(since) || since < 0) {
    throw new SealtrailError('invalid_argument', `since must be a seq (a non-negative integer), not ${JSON.stringify(since)}`, { details: { since } });
  }
  if (store.dialect !== 'postgres') return { ...(await scanTargets(store, await extraTargets(store))), since };
  return store.transaction(async (tx) => {
    await tx.exec('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY');
    let cursors = 0;
    const view = Object.create(store) as Store & { cursorBatches: CursorReader };
    view.query = (sql, params) => tx.query(sql, params);
    view.run = (sql, params) => tx.run(sql, params);
    view.cursorBatches = async function* (sql: string) {
      const name = `sealtrail_scan_${++cursors}`;
      await tx.exec(`DECLARE ${name} NO SCROLL CURSOR FOR ${sql}`);
      try {
        for (;;) {
          const rows = await tx.query(`FETCH 5000 FROM ${name}`);
          if (rows.length === 0) return;
          yield rows;
        }
      } finally {
        await tx.exec(`CLOSE ${name}`);
      }
    };
    const history = await captureHistory(view);
    const state = [...(await captureFindings(view, history)), ...(await functionFindings(view, await appliedFunctions(view)))];
    const { evidence, mismatched } = await ddlEvidenceSince(view, history, since);
    const targets = [...(await captureScanTargets(store, view, history)), ...(await extraTargets(view))];
    const report = await scanTargets(view, targets);
    const bySeq = new Map<number | null, ScanFinding>();
    for (const f of [...history.mismatched, ...mismatched]) bySeq.set(f.seq, f);
    report.findings = [...report.findings, ...state, ...bySeq.values()].sort(compareFindings);
    report.ddlEvidence = evidence;
    report.since = since;
    report.ok = report.findings.length === 0 && evidence.every((e) => e.by_sealtrail && !e.weakens_capture);
    return report;
  });
}
