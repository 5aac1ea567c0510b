import { test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { openLedger } from '../../src/ledger/ledger.js';
import { canonicalHash } from '../../src/core/canonical-json.js';
import { drainOutbox, installCapture, listWatched, scanCapture, watchTable, type CaptureMode } from '../../src/capture/capture.js';
import { postgresUrl } from '../helpers/databases.js';

for (const mode of ['sync', 'queued'] as CaptureMode[]) {
  test(`${mode}: opted-in UPDATEs and DELETEs are chained as row versions, and scan expects the latest version`, async () => {
    const url = await postgresUrl();
    const ledger = await openLedger({ url });
    const pool = new pg.Pool({ connectionString: url, max: 2 });
    const sql = (text: string) => pool.query(text);
    const settle = async () => {
      if (mode === 'queued') await drainOutbox(ledger.store);
    };
    try {
      await installCapture(ledger.store);
      await sql('CREATE TABLE alerts (id int PRIMARY KEY, msg text)');
      await sql('CREATE TABLE notes (id int PRIMARY KEY, msg text)');
      const w = await watchTable(ledger.store, 'alerts', { mode, updates: true, deletes: true });
      assert.deepEqual([w.updates, w.deletes], [true, true]);
      await watchTable(ledger.store, 'notes', { mode, updates: true }); // updates only
      assert.deepEqual((await listWatched(ledger.store)).map((x) => [x.table, x.updates, x.deletes]), [['alerts', true, true], ['notes', true, false]]);

      await sql(`INSERT INTO alerts SELECT g, 'alert ' || g FROM generate_series(1, 6) g`);
      await sql(`INSERT INTO notes VALUES (1, 'a'), (2, 'b')`);
      await sql(`UPDATE alerts SET msg = 'v2' WHERE id = 1`);
      await sql(`UPDATE alerts SET msg = 'v3' WHERE id = 1`);
      await sql(`DELETE FROM alerts WHERE id = 2`);
      await sql(`UPDATE alerts SET id = 60 WHERE id = 6`); // a key change: delete of 6, version of 60
      await sql(`UPDATE notes SET msg = 'b2' WHERE id = 2`);
      await settle();

      const chain = await pool.query<{ seq: string; event_pk: string; payload: string; event_hash: Buffer }>(
        `SELECT seq, event_pk, payload, event_hash FROM audit_chain WHERE event_kind = 'alerts' ORDER BY seq`,
      );
      const seqs = chain.rows.map((r) => Number(r.seq));
      const pks = chain.rows.map((r) => r.event_pk);
      assert.deepEqual(pks.slice(0, 6), ['1', '2', '3', '4', '5', '6']);
      assert.deepEqual(pks.slice(6), [`1#update@${seqs[6]}`, `1#update@${seqs[7]}`, `2#delete@${seqs[8]}`, `6#delete@${seqs[9]}`, `60#update@${seqs[10]}`]);
      assert.equal(JSON.parse(chain.rows[7]!.payload).msg, 'v3', 'an update chains the new content');
      assert.equal(JSON.parse(chain.rows[8]!.payload).msg, 'alert 2', 'a delete chains the content that was deleted');
      for (const r of chain.rows) assert.ok(canonicalHash(r.payload).equals(r.event_hash));

      let scan = await scanCapture(ledger.store);
      assert.equal(scan.ok, true, JSON.stringify(scan.findings));
      assert.deepEqual(scan.tables.find((t) => t.kind === 'alerts'), { kind: 'alerts', rows: 11, chained: 11 });
      assert.equal((await ledger.verify()).ok, true);

      // Changes made with capture switched off are still found, against the latest version.
      const admin = new pg.Client({ connectionString: url });
      await admin.connect();
      await admin.query(`ALTER TABLE alerts DISABLE TRIGGER sealtrail_capture`);
      await admin.query(`UPDATE alerts SET msg = 'forged' WHERE id = 1`);
      await admin.query(`DELETE FROM alerts WHERE id = 3`);
      await admin.query(`INSERT INTO alerts VALUES (2, 'resurrected')`);
      await admin.query(`DELETE FROM notes WHERE id = 1`); // deletes are not captured on notes
      await admin.query(`ALTER TABLE alerts ENABLE ALWAYS TRIGGER sealtrail_capture`);
      await admin.end();
      scan = await scanCapture(ledger.store);
      const seqOf = (pk: string) => Number(chain.rows.find((r) => r.event_pk === pk)!.seq);
      assert.deepEqual(
        scan.findings.filter((f) => f.event_kind === 'alerts').map((f) => [f.type, f.event_pk, f.seq]),
        [
          ['deleted', '3', seqOf('3')],
          ['edited', `1#update@${seqs[7]}`, seqs[7]],
          ['edited', `2#delete@${seqs[8]}`, seqs[8]],
        ],
      );
      const notes = scan.findings.filter((f) => f.event_kind === 'notes').map((f) => [f.type, f.event_pk]);
      assert.deepEqual(notes, [['deleted', '1']]);
    } finally {
      await pool.end();
      await ledger.close();
    }
  });
}
