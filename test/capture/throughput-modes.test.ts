import { test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { openLedger } from '../../src/ledger/ledger.js';
import { installCapture, runSequencer, scanCapture, watchTable } from '../../src/capture/capture.js';
import { postgresUrl } from '../helpers/databases.js';

test('sync capture chains a multi-row INSERT with one chaining call per statement, with the keys and hashes the row trigger gave', async () => {
  const url = await postgresUrl();
  const ledger = await openLedger({ url });
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  try {
    await installCapture(ledger.store);
    await pool.query('CREATE TABLE per_stmt (id int PRIMARY KEY, n int, body text)');
    await pool.query('CREATE TABLE per_row (id int PRIMARY KEY, n int, body text)');
    await watchTable(ledger.store, 'per_stmt', { kind: 'k_stmt' });
    // As sync watches were made before capture step 6 (scan still accepts this shape).
    await watchTable(ledger.store, 'per_row', { kind: 'k_row', deletes: true });
    const shape = await pool.query(`SELECT tgrelid::regclass::text AS t, tgtype & 1 = 1 AS per_row, tgnewtable::text AS new_table FROM pg_trigger WHERE tgname = 'sealtrail_capture' ORDER BY 1`);
    assert.deepEqual(shape.rows, [
      { t: 'per_row', per_row: true, new_table: null },
      { t: 'per_stmt', per_row: false, new_table: 'sealtrail_new' },
    ]);
    for (const t of ['per_stmt', 'per_row']) {
      await pool.query(`INSERT INTO ${t} SELECT g, g * 7, 'row ' || g FROM generate_series(1, 100) g`);
      await pool.query(`INSERT INTO ${t} VALUES (101, NULL, 'single')`);
    }
    // One sealtrail_chain call stamps all its entries with one appended_at; one per row differs per row.
    const calls = await pool.query(`SELECT event_kind, count(*)::int AS entries, count(DISTINCT appended_at)::int AS calls FROM audit_chain WHERE event_kind IN ('k_stmt', 'k_row') GROUP BY 1 ORDER BY 1`);
    assert.deepEqual(calls.rows, [
      { event_kind: 'k_row', entries: 101, calls: 101 },
      { event_kind: 'k_stmt', entries: 101, calls: 2 },
    ]);
    const same = await pool.query(
      `SELECT count(*)::int AS n FROM audit_chain a JOIN audit_chain b ON a.event_pk = b.event_pk AND a.event_hash = b.event_hash
       WHERE a.event_kind = 'k_stmt' AND b.event_kind = 'k_row'`,
    );
    assert.equal(same.rows[0].n, 101);
    const order = await pool.query(`SELECT array_agg(event_pk::int ORDER BY seq) AS pks FROM audit_chain WHERE event_kind = 'k_stmt'`);
    assert.deepEqual(order.rows[0].pks, Array.from({ length: 101 }, (_, i) => i + 1), 'in the order the statement inserted them');
    const scan = await scanCapture(ledger.store);
    assert.equal(scan.ok, true, JSON.stringify(scan.findings));
    // The statement-level shape is held to exactly: another transition table name, or none, is altered.
    const reasons = async () => (await scanCapture(ledger.store)).findings.filter((x) => x.type === 'capture_disabled').map((x) => `${x.event_kind} ${x.reason}`);
    for (const attack of [
      `CREATE OR REPLACE TRIGGER sealtrail_capture AFTER INSERT ON per_stmt REFERENCING NEW TABLE AS elsewhere FOR EACH STATEMENT EXECUTE FUNCTION audit_chain_append('k_stmt', 'sync', 'id')`,
      `CREATE OR REPLACE TRIGGER sealtrail_capture AFTER INSERT ON per_stmt FOR EACH STATEMENT EXECUTE FUNCTION audit_chain_append('k_stmt', 'sync', 'id')`,
    ]) {
      await pool.query(attack);
      await pool.query('ALTER TABLE per_stmt ENABLE ALWAYS TRIGGER sealtrail_capture');
      assert.deepEqual(await reasons(), ['k_stmt trigger_altered'], attack);
    }
    await watchTable(ledger.store, 'per_stmt', { kind: 'k_stmt' });
    assert.deepEqual(await reasons(), [], 're-watching restores the statement-level trigger');
  } finally {
    await pool.end();
    await ledger.close();
  }
});

test('the queued sequencer sleeps on LISTEN and a writer wakes it: rows are chained long before the fallback poll', async () => {
  const url = await postgresUrl();
  const ledger = await openLedger({ url });
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  const stop = new AbortController();
  let sequencer: Promise<number> | null = null;
  try {
    await installCapture(ledger.store);
    await pool.query('CREATE TABLE q (id int PRIMARY KEY)');
    await watchTable(ledger.store, 'q', { mode: 'queued' });
    let batches = 0;
    // A fallback poll far longer than the test: only a notification can wake it in time.
    sequencer = runSequencer(ledger.store, { signal: stop.signal, pollMs: 600_000, onBatch: () => batches++ });
    const sleeping = async () => (await pool.query('SELECT sleeping FROM capture_wakeup')).rows[0].sleeping as boolean;
    const waitFor = async (what: string, ok: () => Promise<boolean>) => {
      const start = Date.now();
      while (!(await ok())) {
        if (Date.now() - start > 60_000) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    };
    const chained = async () => Number((await pool.query(`SELECT count(*) AS n FROM audit_chain WHERE event_kind = 'q'`)).rows[0].n);
    for (let i = 1; i <= 3; i++) {
      await waitFor('the sequencer to sleep', sleeping);
      await pool.query('INSERT INTO q VALUES ($1)', [i]);
      await waitFor(`row ${i} to be chained`, async () => (await chained()) === i);
    }
    assert.equal(batches, 3);
    stop.abort();
    await sequencer;
    sequencer = null;
    assert.equal(await sleeping(), false, 'a stopped sequencer leaves the flag clear');
  } finally {
    stop.abort();
    await sequencer;
    await pool.end();
    await ledger.close();
  }
});
