/** Installing capture: its migrations, the DDL event triggers and the read-only role with its grants. */
import { SealtrailError } from '../core/errors.js';
import { loadMigrations, migrate } from '../store/migrate.js';
import type { Store } from '../store/store.js';
import { DDL_EVENT_TRIGGERS, INSTALL_EVENT, WATCH_EVENT, captureHistory, chainCaptureEvent, registryRows } from './capture-state.js';
import { requirePostgres, CAPTURE_MIGRATIONS, currentSchema, SEALTRAIL_TABLES, type CaptureMode } from './resolve-table.js';
import { listWatched, watchBody } from './watch-table.js';
import { quoteIdent, pgArray } from './sql-quoting.js';

/** The read-only verifier role `sealtrail init` creates on PostgreSQL, unless told another name. */
export const READ_ONLY_ROLE = 'sealtrail_audit_ro';

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

export interface InstallReport {
  /** Capture migrations applied by this call (0 when already installed). */
  applied: number;
  /** The DDL event triggers exist (creating them needs a superuser). */
  ddlEvidence: boolean;
  /** The read-only role exists with its grants (creating it needs CREATEROLE). */
  readOnlyRole: boolean;
  /** The read-only role's name. */
  readOnlyRoleName: string;
  /**
   * What `watch --mode wal` needs from the server: `wal_level = logical` (a restart to change) and
   * a role with REPLICATION (or a superuser) to create the slot and for `sealtrail sequence`.
   */
  wal: { ready: boolean; walLevel: string; replication: boolean };
}

export interface InstallOptions {
  /** The read-only role to create and grant (default `sealtrail_audit_ro`). */
  readOnlyRole?: string;
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
  const w = (
    await pgStore.query<{ level: string; repl: boolean }>(`SELECT current_setting('wal_level') AS level, (rolreplication OR rolsuper) AS repl FROM pg_roles WHERE rolname = current_user`)
  )[0]!;
  return { applied, ddlEvidence, readOnlyRole, readOnlyRoleName: role, wal: { ready: w.level === 'logical' && w.repl, walLevel: w.level, replication: w.repl } };
}

/**
 * Ledgers from before watches were chained: every registry row with no chained watch event for
 * its kind gets one now (`backfilled: true`), recording the registry as it stands at this install.
 */
async function recordUnchainedWatches(store: Store): Promise<void> {
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

/**
 * Creates the read-only role (LOGIN, no password) and grants it SELECT on every sealtrail table
 * that exists and on the watched tables. Tables a component creates later are granted by the
 * migration that creates them (store/migrate.ts grants each new table to the roles that may read
 * `sealtrail_migrations`), and `watch` grants each table it watches.
 */
async function ensureReadOnlyRole(store: Store, role: string): Promise<boolean> {
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
