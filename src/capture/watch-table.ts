/**
 * Watching and unwatching tables: the capture trigger, the truncate guard, the registry row and the
 * chained watch event that scan holds them to, all in one transaction.
 */
import { compareCodePoints } from '../core/compare-code-points.js';
import { SealtrailError } from '../core/errors.js';
import type { Queryable, Store } from '../store/store.js';
import { CAPTURE_TRIGGER, TRUNCATE_GUARD, UNWATCH_EVENT, WATCH_EVENT, captureHistory, chainCaptureEvent, registryRows, watchedRelid, type ChainedWatch } from './capture-state.js';
import { requirePostgres, resolveTable, refuseOwnTable, primaryKey, columnsOf, type CaptureMode, type WatchedTable, type ResolvedTable } from './resolve-table.js';
import { quoteLiteral, pgArray } from './sql-quoting.js';
import { ensureWalSlot, publishTable, unpublishTable } from './sequence-wal.js';

export interface WatchOptions {
  mode?: CaptureMode;
  pk?: string[];
  kind?: string;
  /** Chain every UPDATE of a row as a new version of it. */
  updates?: boolean;
  /** Chain every DELETE of a row as its final version. */
  deletes?: boolean;
}

export function watchBody(w: WatchedTable, t: { relid: number; schema: string; relname: string }): Record<string, unknown> {
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

/** The roles granted SELECT on the ledger's bookkeeping (the read-only role, whatever its name). */
async function readerRoles(q: Queryable): Promise<string[]> {
  const rows = await q.query<{ role: string }>(
    `SELECT DISTINCT g.grantee::regrole::text AS role FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) g
     WHERE c.oid = to_regclass('sealtrail_migrations') AND g.privilege_type = 'SELECT' AND g.grantee <> c.relowner AND g.grantee <> 0 ORDER BY 1`,
  );
  return rows.map((r) => r.role);
}

/**
 * Starts capturing a table (idempotent). The primary key is found from the catalog; a table
 * without one needs `pk`. The event kind defaults to the table name.
 */
export async function watchTable(store: Store, table: string, options: WatchOptions = {}): Promise<WatchedTable> {
  const pgStore = requirePostgres(store);
  const mode = options.mode ?? 'sync';
  if (mode !== 'sync' && mode !== 'queued' && mode !== 'wal') throw new SealtrailError('invalid_argument', `mode must be sync, queued or wal, not ${JSON.stringify(mode)}`);
  // Before the watch transaction: a logical slot can only be created in one that has written nothing.
  const wal = mode === 'wal' ? await ensureWalSlot(pgStore).catch(capture(store)) : null;
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
    const triggers = (await tx.query<{ name: string }>(`SELECT tgname::text AS name FROM pg_trigger WHERE tgrelid = ?::oid AND tgname IN (?, ?) AND tgenabled = 'A'`, [resolved.relid, CAPTURE_TRIGGER, TRUNCATE_GUARD])).map((t) => t.name);
    const triggerOk = wal
      ? triggers.length === 1 && triggers[0] === TRUNCATE_GUARD && (await published(tx, wal.publication, resolved.relid))
      : triggers.length === 2 && (mode !== 'sync' || updates || deletes || (await statementLevel(tx, resolved.relid)));
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
    if (wal) {
      // No trigger: the sequencer reads the table's committed changes from the slot.
      await tx.exec(`DROP TRIGGER IF EXISTS ${CAPTURE_TRIGGER} ON ${resolved.name}`);
      await publishTable(tx, wal, resolved.relid, resolved.name);
    } else {
      if (prior?.mode === 'wal') await unpublishTable(tx, resolved.relid, resolved.name);
      const args = [kind, mode, ...pkColumns].map(quoteLiteral).join(', ');
      const events = ['INSERT', ...(updates ? ['UPDATE'] : []), ...(deletes ? ['DELETE'] : [])].join(' OR ');
      // sync, inserts only: once per statement, over its transition table, so a multi-row INSERT
      // takes the ledger lock once. PostgreSQL allows transition tables only on single-event
      // triggers, so with UPDATE or DELETE chained (and in queued mode) the trigger is per row.
      const level = mode === 'sync' && !updates && !deletes ? 'REFERENCING NEW TABLE AS sealtrail_new FOR EACH STATEMENT' : 'FOR EACH ROW';
      await tx.exec(`DROP TRIGGER IF EXISTS ${CAPTURE_TRIGGER} ON ${resolved.name}`);
      await tx.exec(`CREATE TRIGGER ${CAPTURE_TRIGGER} AFTER ${events} ON ${resolved.name} ${level} EXECUTE FUNCTION audit_chain_append(${args})`);
      // ALWAYS: session_replication_role = replica does not switch capture off.
      await tx.exec(`ALTER TABLE ${resolved.name} ENABLE ALWAYS TRIGGER ${CAPTURE_TRIGGER}`);
    }
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
  }).catch(capture(store));
}

function capture(store: Store): (err: unknown) => never {
  return (err: unknown) => {
    if (err instanceof SealtrailError && err.code === 'schema_missing') {
      throw new SealtrailError('schema_missing', `capture is not installed at ${store.location}; run \`sealtrail init\``, { cause: err });
    }
    throw err;
  };
}

/** The table is in the publication, whole (no row filter, no column list), REPLICA IDENTITY FULL. */
async function published(q: Queryable, publication: string, relid: number): Promise<boolean> {
  const rows = await q.query(
    `SELECT 1 FROM pg_publication_rel r JOIN pg_publication p ON p.oid = r.prpubid JOIN pg_class c ON c.oid = r.prrelid
     WHERE p.pubname = ? AND r.prrelid = ?::oid AND r.prqual IS NULL AND r.prattrs IS NULL AND c.relreplident = 'f'`,
    [publication, relid],
  );
  return rows.length === 1;
}

/** The capture trigger is the statement-level one sync mode now creates for inserts (not a row trigger of an earlier watch). */
async function statementLevel(q: Queryable, relid: number): Promise<boolean> {
  return (await q.query(`SELECT 1 FROM pg_trigger WHERE tgrelid = ?::oid AND tgname = ? AND tgtype & 1 = 0 AND tgnewtable IS NOT NULL`, [relid, CAPTURE_TRIGGER])).length === 1;
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
    for (const kind of [...kinds].sort(compareCodePoints)) {
      await chainCaptureEvent(tx, UNWATCH_EVENT, { kind, table: r.name, schema: r.schema, name: r.relname, relid: r.relid });
    }
    await tx.exec(`DROP TRIGGER IF EXISTS ${CAPTURE_TRIGGER} ON ${r.name}`);
    await tx.exec(`DROP TRIGGER IF EXISTS ${TRUNCATE_GUARD} ON ${r.name}`);
    await unpublishTable(tx, r.relid, r.name);
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
  return out.sort((a, b) => compareCodePoints(a.kind, b.kind));
}
