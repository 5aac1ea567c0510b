import { test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { openLedger } from '../../src/ledger/ledger.js';
import { drainOutbox, installCapture, runSequencer, scanCapture, watchTable } from '../../src/capture/capture.js';
import { postgresUrl } from '../helpers/databases.js';

const WRITERS = 32;
const ROWS_PER_WRITER = 150;

test('32 concurrent writers on three watched tables (sync and queued): every row chained exactly once', async () => {
  const url = await postgresUrl();
  const ledger = await openLedger({ url });
  const pool = new pg.Pool({ connectionString: url, max: WRITERS });
  try {
    await installCapture(ledger.store);
    await pool.query(`CREATE TABLE task_events (id bigserial PRIMARY KEY, writer int NOT NULL, n int NOT NULL, body jsonb NOT NULL)`);
    await pool.query(`CREATE TABLE artifact_provenance (writer int, n int, digest bytea NOT NULL, at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (writer, n))`);
    await pool.query(`CREATE TABLE alerts (alert_id uuid PRIMARY KEY DEFAULT gen_random_uuid(), level text NOT NULL, amount numeric NOT NULL)`);
    await watchTable(ledger.store, 'task_events', { mode: 'sync' });
    await watchTable(ledger.store, 'artifact_provenance', { mode: 'queued' });
    await watchTable(ledger.store, 'alerts', { mode: 'queued' });

    const stop = new AbortController();
    const sequencer = runSequencer(ledger.store, { signal: stop.signal, pollMs: 20 });
    await Promise.all(
      Array.from({ length: WRITERS }, async (_, writer) => {
        for (let n = 0; n < ROWS_PER_WRITER; n++) {
          switch (n % 3) {
            case 0:
              await pool.query('INSERT INTO task_events (writer, n, body) VALUES ($1, $2, $3)', [writer, n, JSON.stringify({ writer, n, text: 'é"\n' })]);
              break;
            case 1:
              await pool.query(`INSERT INTO artifact_provenance (writer, n, digest) VALUES ($1, $2, sha256($3::bytea))`, [writer, n, Buffer.from(`${writer}/${n}`)]);
              break;
            default:
              await pool.query('INSERT INTO alerts (level, amount) VALUES ($1, $2)', ['warn', `${writer}.${n}00000000000000000001`]);
          }
        }
      }),
    );
    stop.abort();
    await sequencer;
    await drainOutbox(ledger.store);

    const total = WRITERS * ROWS_PER_WRITER;
    const counts = await pool.query(
      `SELECT event_kind, count(*)::int AS n, count(DISTINCT event_pk)::int AS d FROM audit_chain
       WHERE event_kind IN ('task_events', 'artifact_provenance', 'alerts') GROUP BY event_kind ORDER BY event_kind`,
    );
    assert.deepEqual(counts.rows, [
      { event_kind: 'alerts', n: total / 3, d: total / 3 },
      { event_kind: 'artifact_provenance', n: total / 3, d: total / 3 },
      { event_kind: 'task_events', n: total / 3, d: total / 3 },
    ]);
    const verify = await ledger.verify();
    assert.equal(verify.ok, true, JSON.stringify(verify.divergence));
    const scan = await scanCapture(ledger.store);
    assert.equal(scan.ok, true, JSON.stringify(scan.findings.slice(0, 5)));
  } finally {
    await pool.end();
    await ledger.close();
  }
});
