/**
 * `npm run bench -- capture`: capture as a user runs it. pgbench-style single-row INSERT
 * transactions from 8 and 32 writer connections into a table watched in sync, queued and wal
 * mode, each as a ratio of the same load into an unwatched twin table on the same server, plain
 * and watched runs alternating. `sealtrail sequence` runs throughout, as its own process (the
 * CLI), so the sequencer competes with the writers as in production; after each watched run the
 * bench waits until every row is chained and reports how long that took (catch-up), and the p50 /
 * p99 insert-to-chained latency (`at` is the insert's clock_timestamp(), just before its commit;
 * appended_at the chaining transaction's). Sync mode also with 100-row INSERT statements. Then
 * sequencer entries/s (queued outbox, and wal slot) and backfill rows/s. Needs
 * SEALTRAIL_BENCH_PG_URL (or SEALTRAIL_TEST_PG_URL), a server at wal_level = logical where it
 * may create a database. A mode the code under test lacks (wal, before it existed) is reported
 * as unsupported.
 */
import { randomBytes } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { backfill, drainOutbox, installCapture, watchTable, SEQUENCER_LOCK_KEY } from '../src/capture/capture.js';
import { openLedger } from '../src/ledger/ledger.js';
import type { Report } from './run.js';
import { round, timeAsync } from './util.js';

const SECONDS = Number(process.env.SEALTRAIL_BENCH_SECONDS ?? 3);
const ROUNDS = Number(process.env.SEALTRAIL_BENCH_ROUNDS ?? 2);
const CLI = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
const TABLE = '(id bigserial PRIMARY KEY, writer int NOT NULL, body jsonb NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp())';

/** Rows per second from `writers` connections, each inserting `rows` rows per statement (one statement per transaction). */
async function insertRate(pool: pg.Pool, table: string, writers: number, rows = 1): Promise<{ rate: number; rows: number }> {
  let count = 0;
  const deadline = Date.now() + SECONDS * 1000;
  const sql =
    rows === 1
      ? `INSERT INTO ${table} (writer, body) VALUES ($1, $2)`
      : `INSERT INTO ${table} (writer, body) SELECT $1, jsonb_build_object('w', $1::int, 'n', g, 'note', 'bench') FROM generate_series(1, ${rows}) g`;
  const elapsed = await timeAsync(async () => {
    await Promise.all(
      Array.from({ length: writers }, async (_, w) => {
        const client = await pool.connect();
        try {
          while (Date.now() < deadline) {
            await client.query(sql, rows === 1 ? [w, JSON.stringify({ w, n: count, note: 'bench' })] : [w]);
            count += rows;
          }
        } finally {
          client.release();
        }
      }),
    );
  });
  return { rate: count / elapsed, rows: count };
}

async function count(pool: pg.Pool, sql: string, params: unknown[] = []): Promise<number> {
  return Number((await pool.query<{ n: string }>(sql, params)).rows[0]!.n);
}

/** Waits until every row of `table` is chained; returns the seconds that took after the writers stopped. */
async function caughtUp(pool: pg.Pool, table: string): Promise<number> {
  const start = Date.now();
  const rows = await count(pool, `SELECT count(*) AS n FROM ${table}`);
  while ((await count(pool, 'SELECT count(*) AS n FROM audit_chain WHERE event_kind = $1', [table])) < rows) {
    if (Date.now() - start > 600_000) throw new Error(`${table}: rows still unchained after 10 minutes; is the sequencer running?`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return (Date.now() - start) / 1000;
}

async function latency(pool: pg.Pool, table: string, sinceId: number): Promise<{ p50: number; p99: number; max: number }> {
  const l = (
    await pool.query<{ p50: number; p99: number; max: number }>(
      `SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS p50, percentile_cont(0.99) WITHIN GROUP (ORDER BY ms) AS p99, max(ms) AS max
       FROM (SELECT extract(epoch FROM a.appended_at - t.at) * 1000 AS ms FROM ${table} t
             JOIN audit_chain a ON a.event_kind = $1 AND a.event_pk = t.id::text WHERE t.id > $2) x`,
      [table, sinceId],
    )
  ).rows[0]!;
  return { p50: round(l.p50, 1), p99: round(l.p99, 1), max: round(l.max, 1) };
}

function startSequencer(url: string): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'sequence', '--db', url], { stdio: ['ignore', 'ignore', 'ignore'] });
  child.on('exit', (code, signal) => {
    if (!stopping.has(child)) console.error(`bench: the sequencer exited early (${code ?? signal})`);
  });
  return child;
}

/** Waits until the sequencer process leads (holds the sequencer's advisory lock). */
async function sequencerLeading(pool: pg.Pool): Promise<void> {
  const start = Date.now();
  const key = SEQUENCER_LOCK_KEY;
  while (
    (await count(pool, `SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = $1::int8::oid AND objid = $2::int8::oid AND objsubid = 1`, [
      (key >> 32n).toString(),
      (key & 0xffff_ffffn).toString(),
    ])) === 0
  ) {
    if (Date.now() - start > 120_000) throw new Error('the sequencer did not start');
    await new Promise((r) => setTimeout(r, 50));
  }
}

const stopping = new WeakSet<ChildProcess>();

async function stopSequencer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  stopping.add(child);
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

export default async function run(report: Report): Promise<void> {
  const base = process.env.SEALTRAIL_BENCH_PG_URL ?? process.env.SEALTRAIL_TEST_PG_URL;
  if (!base) throw new Error('set SEALTRAIL_BENCH_PG_URL to a PostgreSQL server URL');
  const name = `sealtrail_bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const u = new URL(base);
  u.pathname = `/${name}`;
  const url = u.toString();
  const ledger = await openLedger({ url });
  const pool = new pg.Pool({ connectionString: url, max: 40 });
  let sequencer: ChildProcess | null = null;
  try {
    await installCapture(ledger.store);
    const modes: Array<'sync' | 'queued' | 'wal'> = [];
    for (const mode of ['sync', 'queued', 'wal'] as const) {
      await pool.query(`CREATE TABLE ${mode}_t ${TABLE}`);
      try {
        await watchTable(ledger.store, `${mode}_t`, { mode });
        modes.push(mode);
      } catch (err) {
        report({ name: `mode/${mode}`, unsupported: (err as Error).message });
      }
    }
    await pool.query(`CREATE TABLE plain ${TABLE}`);
    sequencer = startSequencer(url);
    await sequencerLeading(pool);

    for (const writers of [8, 32]) {
      for (const mode of modes) {
        const table = `${mode}_t`;
        let plain = 0;
        let watched = 0;
        let catchUp = 0;
        const firstId = await count(pool, `SELECT coalesce(max(id), 0) AS n FROM ${table}`);
        for (let r = 0; r < ROUNDS; r++) {
          plain += (await insertRate(pool, 'plain', writers)).rate;
          watched += (await insertRate(pool, table, writers)).rate;
          catchUp = Math.max(catchUp, await caughtUp(pool, table));
        }
        const lat = await latency(pool, table, firstId);
        report({
          name: `inserts/${mode}/${writers}`,
          writers,
          plain_per_s: Math.round(plain / ROUNDS),
          watched_per_s: Math.round(watched / ROUNDS),
          ratio: round(watched / plain),
          catch_up_s: round(catchUp, 2),
          p50_ms: lat.p50,
          p99_ms: lat.p99,
          max_ms: lat.max,
        });
      }
    }
    if (modes.includes('sync')) {
      let plain = 0;
      let synced = 0;
      for (let r = 0; r < ROUNDS; r++) {
        plain += (await insertRate(pool, 'plain', 8, 100)).rate;
        synced += (await insertRate(pool, 'sync_t', 8, 100)).rate;
      }
      report({ name: 'inserts/sync/8/100-row-statements', writers: 8, rows_per_statement: 100, plain_per_s: Math.round(plain / ROUNDS), ratio: round(synced / plain) });
    }
    await stopSequencer(sequencer);
    sequencer = null;

    // Sequencer throughput: 50,000 rows waiting, drained by one process.
    for (const mode of modes.filter((m) => m !== 'sync')) {
      await pool.query(`INSERT INTO ${mode}_t (writer, body) SELECT 0, jsonb_build_object('n', g) FROM generate_series(1, 50000) g`);
      let chained = 0;
      const seconds = await timeAsync(async () => {
        chained = await drainOutbox(ledger.store);
      });
      report({ name: `sequencer/${mode}`, entries: chained, entries_per_s: Math.round(chained / seconds) });
    }
    await pool.query(`CREATE TABLE old_rows ${TABLE}`);
    await pool.query(`INSERT INTO old_rows (writer, body) SELECT 0, jsonb_build_object('n', g) FROM generate_series(1, 50000) g`);
    await watchTable(ledger.store, 'old_rows');
    let rows = 0;
    const fillSeconds = await timeAsync(async () => {
      rows = (await backfill(ledger.store, ['old_rows']))[0]!.chained;
    });
    report({ name: 'backfill', rows, rows_per_s: Math.round(rows / fillSeconds) });
  } finally {
    if (sequencer) await stopSequencer(sequencer);
    await pool.end();
    await ledger.close();
    await admin.query(`DROP DATABASE ${name} WITH (FORCE)`);
    await admin.end();
  }
}
