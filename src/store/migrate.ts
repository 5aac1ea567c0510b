/**
 * Versioned migrations, one transaction per step. Each component (ledger, tasks, capture, …)
 * keeps numbered `.sql` files per dialect; the table `sealtrail_migrations` records every applied
 * step with the SHA-256 of its text. A second run is a no-op; a database ahead of the code, or a
 * step whose text changed after it was applied, is refused.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isSealtrailError, SealtrailError } from '../core/errors.js';
import type { Dialect, Store, Tx } from './store.js';

export interface Migration {
  version: number;
  name: string;
  sql: string;
  sha256: string;
}

const BOOKKEEPING: Record<Dialect, string> = {
  sqlite: `CREATE TABLE IF NOT EXISTS sealtrail_migrations (
    component TEXT NOT NULL, version INTEGER NOT NULL, name TEXT NOT NULL,
    sha256 TEXT NOT NULL, applied_at TEXT NOT NULL, PRIMARY KEY (component, version))`,
  postgres: `CREATE TABLE IF NOT EXISTS sealtrail_migrations (
    component TEXT NOT NULL, version INT NOT NULL, name TEXT NOT NULL,
    sha256 TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL, PRIMARY KEY (component, version))`,
};

/** Reads `NNN-name.sql` files from `<dir>/<dialect>/` (dir given as a file URL or path). */
export function loadMigrations(dir: string | URL, dialect: Dialect): Migration[] {
  const base = join(typeof dir === 'string' ? dir : fileURLToPath(dir), dialect);
  if (!existsSync(base)) return [];
  return readdirSync(base)
    .filter((f) => /^\d{3}-[a-z0-9-]+\.sql$/.test(f))
    .sort()
    .map((file, i) => {
      const version = Number(file.slice(0, 3));
      if (version !== i + 1) throw new SealtrailError('internal', `migration ${file} is out of sequence`);
      const sql = readFileSync(join(base, file), 'utf8');
      return { version, name: file.slice(4, -4), sql, sha256: createHash('sha256').update(sql).digest('hex') };
    });
}

interface AppliedRow extends Record<string, unknown> {
  version: number | string;
  name: string;
  sha256: string;
}

/** Applies the pending migrations of one component; returns how many were applied. */
export async function migrate(store: Store, component: string, migrations: readonly Migration[]): Promise<number> {
  await ensureBookkeeping(store);
  const latest = migrations.length;
  let applied = 0;
  for (const step of migrations) {
    const done = await store.writeTransaction(async (tx) => {
      const rows = await tx.query<AppliedRow>(
        'SELECT version, name, sha256 FROM sealtrail_migrations WHERE component = ? ORDER BY version',
        [component],
      );
      checkApplied(component, rows, migrations, latest);
      if (rows.some((r) => Number(r.version) === step.version)) return false;
      await tx.exec(step.sql);
      if (store.dialect === 'postgres') await grantToReaders(tx, step.sql);
      await tx.run('INSERT INTO sealtrail_migrations (component, version, name, sha256, applied_at) VALUES (?, ?, ?, ?, ?)', [
        component,
        step.version,
        step.name,
        step.sha256,
        new Date().toISOString(),
      ]);
      return true;
    });
    if (done) applied++;
  }
  if (migrations.length === 0) {
    const rows = await store.query<AppliedRow>('SELECT version, name, sha256 FROM sealtrail_migrations WHERE component = ?', [component]);
    checkApplied(component, rows, migrations, latest);
  }
  return applied;
}

/**
 * Read grants follow every component's tables, whenever and by whichever component they are
 * created (the task tables, say, on the first task recorded): a role that was granted SELECT on
 * `sealtrail_migrations` (the read-only role `sealtrail init` sets up) gets SELECT on each table
 * a step creates, in the step's own transaction.
 */
async function grantToReaders(tx: Tx, sql: string): Promise<void> {
  const created = [...sql.matchAll(/^CREATE TABLE (?:IF NOT EXISTS )?(\w+)/gim)].map((m) => m[1]!);
  if (created.length === 0) return;
  const readers = await tx.query<{ role: string }>(
    `SELECT DISTINCT g.grantee::regrole::text AS role FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) g
     WHERE c.oid = to_regclass('sealtrail_migrations') AND g.privilege_type = 'SELECT' AND g.grantee <> c.relowner AND g.grantee <> 0`,
  );
  for (const { role } of readers) await tx.exec(`GRANT SELECT ON ${created.join(', ')} TO ${role}`);
}

/** Fails unless every migration of the component is applied (for read-only openers). */
export async function assertMigrated(store: Store, component: string, migrations: readonly Migration[]): Promise<void> {
  let rows: AppliedRow[];
  try {
    rows = await store.query<AppliedRow>('SELECT version, name, sha256 FROM sealtrail_migrations WHERE component = ? ORDER BY version', [
      component,
    ]);
  } catch (err) {
    // No bookkeeping table yet means nothing is installed; anything else (unreachable, denied) is real.
    if (!isSealtrailError(err, 'schema_missing')) throw err;
    rows = [];
  }
  checkApplied(component, rows, migrations, migrations.length);
  if (rows.length < migrations.length) {
    throw new SealtrailError('schema_missing', `the ${component} schema is not installed at ${store.location}; run \`sealtrail init\``, {
      details: { component, applied: rows.length, expected: migrations.length },
    });
  }
}

function checkApplied(component: string, rows: AppliedRow[], migrations: readonly Migration[], latest: number): void {
  for (const row of rows) {
    const version = Number(row.version);
    if (version > latest) {
      throw new SealtrailError(
        'schema_ahead',
        `the database's ${component} schema is at version ${version} but this sealtrail knows only up to ${latest}; upgrade sealtrail`,
        { details: { component, database: version, code: latest } },
      );
    }
    const step = migrations[version - 1];
    if (step && step.sha256 !== row.sha256) {
      throw new SealtrailError('migration_changed', `${component} migration ${version} (${row.name}) differs from the one applied to this database`, {
        details: { component, version },
      });
    }
  }
}

async function ensureBookkeeping(store: Store): Promise<void> {
  // Under the ledger lock: two processes initialising one PostgreSQL database at once must not race.
  await store.writeTransaction((tx) => tx.exec(BOOKKEEPING[store.dialect]));
}
