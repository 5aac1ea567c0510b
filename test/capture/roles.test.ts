import { test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { openLedger, type Ledger } from '../../src/ledger/ledger.js';
import { isSealtrailError } from '../../src/core/errors.js';
import { randomBytes } from 'node:crypto';
import { installCapture, runSequencer, scanCapture, watchTable, READ_ONLY_ROLE, SEALTRAIL_TABLES, SEQUENCER_LOCK_KEY } from '../../src/capture/capture.js';
import { installAnchoring, raiseAlert } from '../../src/anchor/index.js';
import { TaskAuditService } from '../../src/tasks/task-audit-service.js';
import { TaskArtifactService } from '../../src/tasks/task-artifact-service.js';
import { taskScanTargets } from '../../src/tasks/scan-targets.js';
import { LEDGER_LOCK_KEY } from '../../src/store/postgres/postgres-store.js';
import { runCli } from '../../src/cli/program.js';
import { postgresUrl } from '../helpers/databases.js';

interface Fixture {
  url: string;
  ledger: Ledger;
  sql: (text: string, params?: unknown[]) => Promise<pg.QueryResult>;
  /** A URL that logs in as the read-only role. */
  roUrl: string;
  close: () => Promise<void>;
}

async function fixture(): Promise<Fixture> {
  const url = await postgresUrl();
  const ledger = await openLedger({ url });
  await installCapture(ledger.store);
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  await pool.query(`ALTER ROLE ${READ_ONLY_ROLE} PASSWORD 'ro-test'`);
  const u = new URL(url);
  u.username = READ_ONLY_ROLE;
  u.password = 'ro-test';
  return {
    url,
    ledger,
    roUrl: u.toString(),
    sql: (text, params) => pool.query(text, params),
    close: async () => {
      await pool.end();
      await ledger.close();
    },
  };
}

function sqlstate(code: string) {
  return (err: unknown) => (err as { code?: string }).code === code;
}

test('the read-only role cannot stall writers: the old advisory locks stall nothing, the head row lock is refused', async () => {
  const f = await fixture();
  const ro = new pg.Client({ connectionString: f.roUrl });
  await ro.connect();
  const stop = new AbortController();
  try {
    await f.sql('CREATE TABLE sync_t (id int PRIMARY KEY)');
    await f.sql('CREATE TABLE queued_t (id int PRIMARY KEY)');
    await watchTable(f.ledger.store, 'sync_t');
    await watchTable(f.ledger.store, 'queued_t', { mode: 'queued' });

    // Any role that can connect can take advisory locks, the ones writers used to serialise on included.
    await ro.query('SELECT pg_advisory_lock($1), pg_advisory_lock($2)', [LEDGER_LOCK_KEY.toString(), SEQUENCER_LOCK_KEY.toString()]);
    // What writers serialise on now needs UPDATE on ledger_head.
    await ro.query('BEGIN');
    await assert.rejects(ro.query('SELECT 1 FROM ledger_head WHERE id = 1 FOR UPDATE'), sqlstate('42501'));
    await ro.query('ROLLBACK');
    await ro.query('BEGIN');
    await assert.rejects(ro.query('SELECT 1 FROM ledger_head WHERE id = 1 FOR KEY SHARE'), sqlstate('42501'));
    await ro.query('ROLLBACK');
    await ro.query('BEGIN');
    await assert.rejects(ro.query('LOCK TABLE ledger_head IN SHARE MODE'), sqlstate('42501'));
    await ro.query('ROLLBACK');
    // The advisory locks are still held by the read-only session, and every writer gets through.
    const held = await f.sql(`SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid = $1`, [
      (await ro.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid,
    ]);
    assert.equal(held.rows[0].n, 2);

    await f.ledger.append('deploy', 'd1', { ok: true });
    await f.sql('INSERT INTO sync_t VALUES (1)');
    await f.sql('INSERT INTO queued_t VALUES (1), (2)');
    // The sequencer leads although the read-only role holds its leader lock.
    const chained = new Promise<number>((resolve) => {
      void runSequencer(f.ledger.store, { signal: stop.signal, onBatch: resolve });
    });
    assert.equal(await chained, 2);
    stop.abort();
    const kinds = (await f.sql(`SELECT event_kind, event_pk FROM audit_chain WHERE event_kind IN ('deploy', 'sync_t', 'queued_t') ORDER BY seq`)).rows;
    assert.deepEqual(
      kinds.map((r: { event_kind: string; event_pk: string }) => `${r.event_kind}/${r.event_pk}`),
      ['deploy/d1', 'sync_t/1', 'queued_t/1', 'queued_t/2'],
    );
    assert.equal((await f.ledger.verify()).ok, true);
  } finally {
    stop.abort();
    await ro.end();
    await f.close();
  }
});

test('a writer waits for another writer on the head row, and both land in one unforked chain', async () => {
  const f = await fixture();
  const other = new pg.Client({ connectionString: f.url });
  await other.connect();
  try {
    await f.sql('CREATE TABLE w_t (id int PRIMARY KEY)');
    await watchTable(f.ledger.store, 'w_t');
    await other.query('BEGIN');
    await other.query('INSERT INTO w_t VALUES (1)');
    const blocked = f.ledger.append('deploy', 'after', {});
    // The append waits on the head row the open transaction locked.
    for (;;) {
      const waiting = await f.sql(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()`);
      if (waiting.rows[0].n > 0) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    await other.query('COMMIT');
    await blocked;
    const order = (await f.sql(`SELECT event_kind FROM audit_chain WHERE event_kind IN ('deploy', 'w_t') ORDER BY seq`)).rows.map((r: { event_kind: string }) => r.event_kind);
    assert.deepEqual(order, ['w_t', 'deploy']);
    assert.equal((await f.ledger.verify()).ok, true);
  } finally {
    await other.end();
    await f.close();
  }
});

test('a read-only append is refused with permission_denied', async () => {
  const f = await fixture();
  try {
    const ro = await openLedger({ url: f.roUrl, migrate: false });
    try {
      await assert.rejects(ro.append('x', 'y', {}), (e) => isSealtrailError(e, 'permission_denied'));
    } finally {
      await ro.close();
    }
  } finally {
    await f.close();
  }
});

test('SEALTRAIL_TABLES names every table any component migration creates', async () => {
  const { readdirSync, readFileSync } = await import('node:fs');
  const created = new Set<string>(['sealtrail_migrations']);
  for (const component of ['ledger', 'capture', 'anchor', 'tasks']) {
    const dir = new URL(`../../src/${component}/migrations/postgres/`, import.meta.url);
    for (const file of readdirSync(dir)) {
      for (const m of readFileSync(new URL(file, dir), 'utf8').matchAll(/^CREATE TABLE (?:IF NOT EXISTS )?(\w+)/gim)) created.add(m[1]!);
    }
  }
  assert.deepEqual([...SEALTRAIL_TABLES].sort(), [...created].sort());
});

test('a read-only role of any name verifies and scans every component, and can write none of their tables', async () => {
  const url = await postgresUrl();
  const role = `sealtrail_t_ro_${randomBytes(4).toString('hex')}`;
  const ledger = await openLedger({ url });
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  try {
    await installAnchoring(ledger.store);
    const report = await installCapture(ledger.store, { readOnlyRole: role });
    assert.equal(report.readOnlyRole, true);
    assert.equal(report.readOnlyRoleName, role);
    await admin.query('CREATE TABLE app_events (id int PRIMARY KEY, note text)');
    await watchTable(ledger.store, 'app_events');
    await admin.query(`INSERT INTO app_events VALUES (1, 'a'), (2, 'b')`);
    // The task tables are created only now, after the role was set up: their grants follow them.
    const tasks = new TaskAuditService(ledger);
    await tasks.recordOperation({ taskId: 't1', repoId: 'r1', operation: 'write' });
    await new TaskArtifactService(ledger).createRef({ taskId: 't1', repoId: 'r1', refType: 'branch', refValue: 'main' });
    await raiseAlert(ledger, { kind: 'sink_stale', severity: 'warning', seq: null, reason: 'test' });
    await admin.query(`ALTER ROLE ${role} PASSWORD 'ro-test'`);
    const u = new URL(url);
    u.username = role;
    u.password = 'ro-test';

    const ro = await openLedger({ url: u.toString(), migrate: false });
    try {
      assert.equal((await ro.verify()).ok, true);
      const scan = await scanCapture(ro.store, (q) => taskScanTargets(q));
      assert.equal(scan.ok, true, JSON.stringify(scan.findings));
      assert.deepEqual(
        scan.tables.map((t) => [t.kind, t.rows]).sort(),
        [
          ['app_events', 2],
          ['task_artifact_ref', 1],
          ['task_audits', 1],
        ],
      );
      // Tables retired by later steps (the tree's per-node rows and the tile conversion marker) are gone.
      const present = (await admin.query<{ t: string }>('SELECT t FROM unnest($1::text[]) AS u(t) WHERE to_regclass(t) IS NOT NULL', [[...SEALTRAIL_TABLES]])).rows.map((r) => r.t);
      assert.deepEqual(SEALTRAIL_TABLES.filter((t) => !present.includes(t)), ['merkle_nodes', 'merkle_tiles_conversion']);
      for (const table of [...present, 'app_events']) {
        const column = (await admin.query<{ c: string }>(`SELECT attname::text AS c FROM pg_attribute WHERE attrelid = $1::regclass AND attnum = 1`, [table])).rows[0]!.c;
        // Every table exists, and the role can read it.
        await ro.store.query(`SELECT count(*) FROM ${table}`);
        for (const stmt of [
          `INSERT INTO ${table} DEFAULT VALUES`,
          `UPDATE ${table} SET ${column} = ${column} WHERE false`,
          `DELETE FROM ${table} WHERE false`,
          `TRUNCATE ${table}`,
        ]) {
          await assert.rejects(ro.store.query(stmt), (e) => isSealtrailError(e, 'permission_denied'), stmt);
        }
      }
    } finally {
      await ro.close();
    }
  } finally {
    await admin.query(`DROP OWNED BY ${role}`);
    await admin.end();
    await ledger.close();
    const root = new pg.Client({ connectionString: url });
    await root.connect();
    await root.query(`DROP ROLE IF EXISTS ${role}`).catch(() => {});
    await root.end();
  }
});

test('the read-only role name is validated', async () => {
  const f = await fixture();
  try {
    for (const bad of ['', 'Robert', 'ro; DROP TABLE audit_chain', 'pg_monitor', 'a'.repeat(64), '1ro']) {
      await assert.rejects(installCapture(f.ledger.store, { readOnlyRole: bad }), (e) => isSealtrailError(e, 'invalid_argument'), bad);
    }
  } finally {
    await f.close();
  }
});

test('under session_replication_role = replica the guards still refuse, for the owner and a superuser', async () => {
  const f = await fixture();
  const client = new pg.Client({ connectionString: f.url });
  await client.connect();
  try {
    await f.sql('CREATE TABLE rep_t (id int PRIMARY KEY)');
    await watchTable(f.ledger.store, 'rep_t');
    await f.sql('INSERT INTO rep_t VALUES (1)');
    await client.query('SET session_replication_role = replica');
    for (const stmt of [
      `UPDATE audit_chain SET payload = NULL`,
      `DELETE FROM audit_chain`,
      `TRUNCATE audit_chain CASCADE`,
      `UPDATE merkle_tiles SET hashes = hashes`,
      `DELETE FROM ledger_head`,
      `UPDATE checkpoints SET note = note`,
      `TRUNCATE capture_tables`,
      `TRUNCATE rep_t`,
    ]) {
      await assert.rejects(client.query(stmt), /append-only/, stmt);
    }
    // And the capture trigger still chains.
    await client.query('INSERT INTO rep_t VALUES (2)');
    const rows = (await f.sql(`SELECT event_pk FROM audit_chain WHERE event_kind = 'rep_t' ORDER BY seq`)).rows.map((r: { event_pk: string }) => r.event_pk);
    assert.deepEqual(rows, ['1', '2']);
    const scan = await scanCapture(f.ledger.store);
    assert.equal(scan.ok, true, JSON.stringify(scan.findings));
  } finally {
    await client.end();
    await f.close();
  }
});

test('watch refuses sealtrail\'s own tables with table_reserved', async () => {
  const f = await fixture();
  try {
    for (const table of ['capture_outbox', 'audit_chain', 'public.ledger_head', 'sealtrail_migrations']) {
      await assert.rejects(watchTable(f.ledger.store, table, { mode: 'queued' }), (e) => isSealtrailError(e, 'table_reserved'), table);
    }
    // A table of the same name in another schema is the application's own.
    await f.sql('CREATE SCHEMA app');
    await f.sql('CREATE TABLE app.checkpoints (id int PRIMARY KEY)');
    assert.equal((await watchTable(f.ledger.store, 'app.checkpoints')).table, 'app.checkpoints');
  } finally {
    await f.close();
  }
});

async function cli(args: string[], env: Record<string, string> = {}): Promise<{ status: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const status = await runCli(args, { stdout: { write: (t: string) => (stdout += t) }, stderr: { write: (t: string) => (stderr += t) }, env });
  return { status, stdout, stderr };
}

test('sealtrail init --audit-log --read-only-role creates a watched audit_log and the named role', async () => {
  const url = await postgresUrl();
  const role = `scidex_t_ro_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: url });
  try {
    const out = await cli(['init', '--db', url, '--json', '--audit-log', '--read-only-role', role]);
    assert.equal(out.status, 0, out.stderr);
    const report = JSON.parse(out.stdout) as { capture: { read_only_role: boolean; read_only_role_name: string }; audit_log: { table: string; mode: string } };
    assert.deepEqual(report.capture, { ddl_evidence: true, read_only_role: true, read_only_role_name: role });
    assert.equal(report.audit_log.table, 'audit_log');
    await admin.connect();
    await admin.query(`INSERT INTO audit_log (actor, action, target, details) VALUES ('alice', 'grant', 'db:prod', '{"why": "oncall"}')`);
    const chained = await admin.query(`SELECT event_pk, payload FROM audit_chain WHERE event_kind = 'audit_log'`);
    assert.equal(chained.rows.length, 1);
    assert.equal(JSON.parse(chained.rows[0].payload).actor, 'alice');
    const grants = await admin.query(`SELECT has_table_privilege($1, 'audit_log', 'SELECT') AS log, has_table_privilege($1, 'audit_chain', 'SELECT') AS chain`, [role]);
    assert.deepEqual(grants.rows[0], { log: true, chain: true });
    // From the environment too; and a name that is not a plain identifier is refused.
    const again = await cli(['init', '--db', url, '--json'], { SEALTRAIL_READ_ONLY_ROLE: 'Bad Name' });
    assert.equal(again.status, 2);
    assert.match(again.stderr, /SEALTRAIL_READ_ONLY_ROLE.*\[config_invalid\]/);
  } finally {
    await admin.query(`DROP OWNED BY ${role}`).catch(() => {});
    await admin.query(`DROP ROLE IF EXISTS ${role}`).catch(() => {});
    await admin.end().catch(() => {});
  }
});

test('sealtrail watch --if-exists watches what exists and lists what does not; own tables are refused', async () => {
  const f = await fixture();
  try {
    await f.sql('CREATE TABLE present_a (id int PRIMARY KEY)');
    await f.sql('CREATE TABLE present_b (id int PRIMARY KEY)');
    const out = await cli(['watch', '--db', f.url, '--json', '--if-exists', 'present_a', 'later_table', 'present_b']);
    assert.equal(out.status, 0, out.stderr);
    const report = JSON.parse(out.stdout) as { watched: Array<{ table: string }>; missing: string[]; failed: unknown[] };
    assert.deepEqual(report.watched.map((w) => w.table), ['present_a', 'present_b']);
    assert.deepEqual(report.missing, ['later_table']);
    assert.deepEqual(report.failed, []);
    // Without --if-exists a missing table fails the command.
    assert.equal((await cli(['watch', '--db', f.url, '--json', 'later_table'])).status, 2);
    const own = await cli(['watch', '--db', f.url, '--json', '--if-exists', '--mode', 'queued', 'capture_outbox']);
    assert.equal(own.status, 2);
    assert.equal((JSON.parse(own.stdout) as { failed: Array<{ error: { code: string } }> }).failed[0]!.error.code, 'table_reserved');
  } finally {
    await f.close();
  }
});
