/**
 * `npm run bench -- capture`: single-row INSERT transactions into watched tables (sync, queued)
 * as a ratio of plain INSERTs into an unwatched twin table, at 1, 8 and 32 writers; sequencer
 * entries/s; backfill rows/s; sequencing latency (insert to chained) at a paced 5,000 rows/s while
 * runSequencer runs. Needs SEALTRAIL_BENCH_PG_URL (or SEALTRAIL_TEST_PG_URL), a server
 * where it may create a database.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { backfill, drainOutbox, installCapture, runSequencer, watchTable } from '../src/capture/capture.js';
import { openLedger } from '../src/ledger/ledger.js';
import type { Report } from './run.js';
import { round, timeAsync } from './util.js';

const SECONDS = Number(process.env.SEALTRAIL_BENCH_SECONDS ?? 3);
const PACED_RATE = 5_000;
const PACED_SECONDS = 5;

/** Writers inserting at a fixed total rate (each row at its scheduled time, or as soon as they can). */
async function pacedInserts(pool: pg.Pool, table: string, rate: number, seconds: number, writers: number): Promise<number> {
  const start = Date.now();
  const total = rate * seconds;
  let next = 0;
  await Promise.all(
    Array.from({ length: writers }, async (_, w) => {
      for (;;) {
        const i = next++;
        if (i >= total) return;
        const due = start + (i * 1000) / rate;
        const wait = due - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        await pool.query(`INSERT INTO ${table} (writer, body) VALUES ($1, $2)`, [w, JSON.stringify({ i })]);
      }
    }),
  );
  return total / ((Date.now() - start) / 1000);
}

async function insertRate(pool: pg.Pool, table: string, writers: number): Promise<number> {
  let count = 0;
  const deadline = Date.now() + SECONDS * 1000;
  const elapsed = await timeAsync(async () => {
    await Promise.all(
      Array.from({ length: writers }, async (_, w) => {
        while (Date.now() < deadline) {
          await pool.query(`INSERT INTO ${table} (writer, body) VALUES ($1, $2)`, [w, JSON.stringify({ w, n: count, note: 'bench' })]);
          count++;
        }
      }),
    );
  });
  return count / elapsed;
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
  try {
    await installCapture(ledger.store);
    for (const t of ['plain', 'synced', 'queued']) {
      await pool.query(`CREATE TABLE ${t} (id bigserial PRIMARY KEY, writer int NOT NULL, body jsonb NOT NULL, at timestamptz NOT NULL DEFAULT now())`);
    }
    await watchTable(ledger.store, 'synced', { mode: 'sync' });
    await watchTable(ledger.store, 'queued', { mode: 'queued' });
    for (const writers of [1, 8, 32]) {
      const plain = await insertRate(pool, 'plain', writers);
      const queued = await insertRate(pool, 'queued', writers);
      const synced = await insertRate(pool, 'synced', writers);
      report({ name: `inserts/${writers}`, writers, plain_per_s: Math.round(plain), queued_ratio: round(queued / plain), sync_ratio: round(synced / plain) });
      await drainOutbox(ledger.store);
    }
    await pool.query(`INSERT INTO queued (writer, body) SELECT 0, jsonb_build_object('n', g) FROM generate_series(1, 50000) g`);
    let chained = 0;
    const seqSeconds = await timeAsync(async () => {
      chained = await drainOutbox(ledger.store);
    });
    report({ name: 'sequencer', entries: chained, entries_per_s: Math.round(chained / seqSeconds) });
    await pool.query(`CREATE TABLE old_rows (id bigserial PRIMARY KEY, writer int NOT NULL, body jsonb NOT NULL, at timestamptz NOT NULL DEFAULT now())`);
    await pool.query(`INSERT INTO old_rows (writer, body) SELECT 0, jsonb_build_object('n', g) FROM generate_series(1, 50000) g`);
    await watchTable(ledger.store, 'old_rows');
    let rows = 0;
    const fillSeconds = await timeAsync(async () => {
      rows = (await backfill(ledger.store, ['old_rows']))[0]!.chained;
    });
    report({ name: 'backfill', rows, rows_per_s: Math.round(rows / fillSeconds) });

    // Latency: `at` is the insert's clock_timestamp() (just before its commit), appended_at the
    // chaining transaction's; the difference bounds the window a queued row spends unchained.
    await pool.query(`CREATE TABLE paced (id bigserial PRIMARY KEY, writer int NOT NULL, body jsonb NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp())`);
    await watchTable(ledger.store, 'paced', { mode: 'queued' });
    const stop = new AbortController();
    const sequencer = runSequencer(ledger.store, { signal: stop.signal });
    const achieved = await pacedInserts(pool, 'paced', PACED_RATE, PACED_SECONDS, 16);
    while (Number((await pool.query<{ n: string }>('SELECT count(*) AS n FROM capture_outbox')).rows[0]!.n) > 0) await new Promise((r) => setTimeout(r, 50));
    stop.abort();
    await sequencer;
    const lat = await pool.query<{ n: string; p50: number; p99: number; max: number }>(
      `SELECT count(*) AS n, percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS p50, percentile_cont(0.99) WITHIN GROUP (ORDER BY ms) AS p99, max(ms) AS max
       FROM (SELECT extract(epoch FROM appended_at - (payload::jsonb ->> 'at')::timestamptz) * 1000 AS ms FROM audit_chain WHERE event_kind = 'paced') x`,
    );
    const l = lat.rows[0]!;
    report({ name: 'latency', target_rows_per_s: PACED_RATE, achieved_rows_per_s: Math.round(achieved), rows: Number(l.n), p50_ms: round(l.p50, 1), p99_ms: round(l.p99, 1), max_ms: round(l.max, 1) });
  } finally {
    await pool.end();
    await ledger.close();
    await admin.query(`DROP DATABASE ${name} WITH (FORCE)`);
    await admin.end();
  }
}
