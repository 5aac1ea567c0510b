/**
 * Queued capture chains each row's versions in the order they happened, whatever races the
 * sequencer has with itself (a batch read while the previous one is being written) or with a
 * drain running beside it (a batch one of them rolls back): a row's delete is never chained
 * before its insert or update, so scan never mistakes an intact table for a tampered one.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { openLedger } from '../../src/ledger/ledger.js';
import { drainOutbox, installCapture, runSequencer, scanCapture, watchTable } from '../../src/capture/capture.js';
import { parseVersionKey } from '../../src/core/row-key.js';
import { postgresUrl } from '../helpers/databases.js';

describe('queued capture: version order (PostgreSQL)', () => {
  it('small batches, a sequencer and concurrent drains: every row chains insert, updates, delete in order', async () => {
    const url = await postgresUrl();
    const ledger = await openLedger({ url });
    const pool = new pg.Pool({ connectionString: url, max: 4 });
    const stop = new AbortController();
    let sequencer: Promise<number> | null = null;
    try {
      await installCapture(ledger.store);
      await pool.query('CREATE TABLE churn (id int PRIMARY KEY, v int NOT NULL)');
      await watchTable(ledger.store, 'churn', { mode: 'queued', updates: true, deletes: true });
      sequencer = runSequencer(ledger.store, { signal: stop.signal, pollMs: 1, batchSize: 7 });
      const drains: Array<Promise<number>> = [];
      for (let round = 0; round < 8; round++) {
        const lo = round * 40 + 1;
        await pool.query(`INSERT INTO churn SELECT g, 0 FROM generate_series(${lo}, ${lo + 39}) g`);
        drains.push(drainOutbox(ledger.store, { batchSize: 5 }));
        await pool.query(`UPDATE churn SET v = v + 1 WHERE id % 3 = 0`);
        drains.push(drainOutbox(ledger.store, { batchSize: 11 }));
        await pool.query(`DELETE FROM churn WHERE id % 5 = 0`);
        const report = await scanCapture(ledger.store);
        assert.equal(report.ok, true, JSON.stringify(report.findings));
      }
      await Promise.all(drains);
      await drainOutbox(ledger.store);
      const rows = (await pool.query<{ seq: string; event_pk: string }>(`SELECT seq, event_pk FROM audit_chain WHERE event_kind = 'churn' ORDER BY seq`)).rows;
      const ops = new Map<string, string[]>();
      for (const r of rows) {
        const v = parseVersionKey(r.event_pk, Number(r.seq));
        const key = v ? v.rowPk : r.event_pk;
        ops.set(key, [...(ops.get(key) ?? []), v ? v.op : 'insert']);
      }
      for (const [key, list] of ops) {
        // insert, then any updates, then at most one delete (ids are never re-inserted here).
        assert.equal(list[0], 'insert', `${key}: ${list.join(',')}`);
        const del = list.indexOf('delete');
        assert.ok(del === -1 || del === list.length - 1, `${key}: ${list.join(',')}`);
        assert.ok(list.slice(1, del === -1 ? undefined : del).every((op) => op === 'update'), `${key}: ${list.join(',')}`);
      }
      const drained = await scanCapture(ledger.store);
      assert.equal(drained.ok, true, JSON.stringify(drained.findings));
      assert.equal((await ledger.verify()).ok, true);
    } finally {
      stop.abort();
      if (sequencer) await sequencer;
      await pool.end();
      await ledger.close();
    }
  });
});
