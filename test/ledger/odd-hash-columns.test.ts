/**
 * A tampered SQLite row may hold a hash of any type or length (SQLite enforces neither once the
 * CHECK constraints are ignored): verify reports it at its seq, with the first check it fails,
 * never crashes, whether the row starts a segment or not.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { openLedger } from '../../src/ledger/ledger.js';
import { tempDir } from '../helpers/databases.js';

const CASES: Array<[string, string, string]> = [
  ['a 31-byte event_hash', 'UPDATE audit_chain SET event_hash = substr(event_hash, 1, 31) WHERE seq = ?', 'event_hash_mismatch'],
  ['an event_hash stored as text', 'UPDATE audit_chain SET event_hash = CAST(event_hash AS TEXT) WHERE seq = ?', 'event_hash_mismatch'],
  ['a byte moved from event_hash to prev_hash', "UPDATE audit_chain SET event_hash = substr(event_hash, 1, 31), prev_hash = substr(event_hash, 32, 1) || prev_hash WHERE seq = ?", 'event_hash_mismatch'],
  ['a 33-byte prev_hash', "UPDATE audit_chain SET prev_hash = CAST(prev_hash || x'00' AS BLOB) WHERE seq = ?", 'prev_hash_mismatch'],
  ['a prev_hash stored as text', 'UPDATE audit_chain SET prev_hash = CAST(prev_hash AS TEXT) WHERE seq = ?', 'prev_hash_mismatch'],
  ['a 31-byte chain_hash', 'UPDATE audit_chain SET chain_hash = substr(chain_hash, 1, 31) WHERE seq = ?', 'chain_hash_mismatch'],
];

describe('hash columns of the wrong type or length on sqlite', () => {
  it('are reported at their seq, in-process and at a segment start in workers', async () => {
    const dir = tempDir();
    const base = join(dir, 'base.db');
    const ledger = await openLedger({ url: base });
    await ledger.appendBatch(Array.from({ length: 40 }, (_, i) => ({ kind: 'k', pk: `p${i + 1}`, payload: { i } })));
    await ledger.close();
    let n = 0;
    for (const [name, sql, reason] of CASES) {
      // seq 17 is the first row of a segment with segmentLog2 4.
      for (const seq of [7, 17]) {
        const url = join(dir, `t${n++}.db`);
        copyFileSync(base, url);
        const db = new Database(url);
        db.pragma('ignore_check_constraints = ON');
        db.prepare(sql).run(seq);
        db.close();
        const tampered = await openLedger({ url, migrate: false });
        try {
          for (const options of [{ workers: 1 }, { workers: 2, segmentLog2: 4 }]) {
            const report = await tampered.verify(options);
            assert.deepEqual({ ok: report.ok, seq: report.divergence?.seq, reason: report.divergence?.reason }, { ok: false, seq, reason }, `${name} at ${seq}, ${JSON.stringify(options)}`);
          }
        } finally {
          await tampered.close();
        }
      }
    }
  });
});
