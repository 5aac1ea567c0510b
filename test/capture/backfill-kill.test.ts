import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { openLedger } from '../../src/ledger/ledger.js';
import { backfill, installCapture, scanCapture, watchTable } from '../../src/capture/capture.js';
import { postgresUrl } from '../helpers/databases.js';

const CHILD = fileURLToPath(new URL('./fixtures/backfill-child.ts', import.meta.url));
const ROWS = 20_000;

test('backfill killed with SIGKILL mid-way resumes: every pre-existing row chained exactly once, verify and scan clean', async () => {
  const url = await postgresUrl();
  const ledger = await openLedger({ url });
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  try {
    await installCapture(ledger.store);
    await pool.query('CREATE TABLE legacy (tenant text, n int, body jsonb, at timestamptz DEFAULT now(), PRIMARY KEY (tenant, n))');
    await pool.query(`INSERT INTO legacy SELECT 't' || (g % 5), g, jsonb_build_object('g', g), now() FROM generate_series(1, ${ROWS}) g`);
    await watchTable(ledger.store, 'legacy');
    const chainedCount = async () => Number((await pool.query(`SELECT count(*) AS n FROM audit_chain WHERE event_kind = 'legacy'`)).rows[0].n);

    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, url, 'legacy'], { stdio: 'ignore' });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
    const start = Date.now();
    while ((await chainedCount()) < 1_000) {
      if (Date.now() - start > 30_000) throw new Error('the child backfill made no progress');
      await new Promise((r) => setTimeout(r, 10));
    }
    child.kill('SIGKILL');
    assert.equal(await exited, 'SIGKILL');
    const partial = await chainedCount();
    assert.ok(partial > 0 && partial < ROWS, `killed mid-way (${partial} of ${ROWS} chained)`);
    assert.equal((await ledger.verify()).ok, true, 'the chain is consistent after the kill');

    const [resumed] = await backfill(ledger.store, ['legacy'], { batchSize: 2_000 });
    assert.equal(resumed!.chained, ROWS - partial);
    const dup = await pool.query(`SELECT count(*)::int AS n, count(DISTINCT event_pk)::int AS d FROM audit_chain WHERE event_kind = 'legacy'`);
    assert.deepEqual(dup.rows[0], { n: ROWS, d: ROWS });
    assert.equal((await ledger.verify()).ok, true);
    const scan = await scanCapture(ledger.store);
    assert.equal(scan.ok, true, JSON.stringify(scan.findings.slice(0, 5)));
  } finally {
    await pool.end();
    await ledger.close();
  }
});
