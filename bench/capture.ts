/**
 * `npm run bench -- capture`: single-row INSERT transactions into watched tables (sync, queued)
 * as a ratio of plain INSERTs into an unwatched twin table, at 1, 8 and 32 writers; sequencer
 * entries/s; backfill rows/s. Needs SEALTRAIL_BENCH_PG_URL (or SEALTRAIL_TEST_PG_URL), a server
 * where it may create a database.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { backfill, drainOutbox, installCapture, watchTable } from '../src/capture/capture.js';
import { openLedger } from '../src/ledger/ledger.js';
import type { Report } from './run.js';
import { round, timeAsync } from './util.js';

const SECONDS = Number(process.env.SEALTRAIL_BENCH_SECONDS ?? 3);

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
  } finally {
    await pool.end();
    await ledger.close();
    await admin.query(`DROP DATABASE ${name} WITH (FORCE)`);
    await admin.end();
  }
}
