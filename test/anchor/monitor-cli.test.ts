/**
 * The monitor's settings: monitor.sweep and monitor.alertTable in the config file, the matching
 * flags, and `sealtrail monitor --once` inserting into the operator's table end to end.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { resolveConfig } from '../../src/cli/config.js';
import { isSealtrailError } from '../../src/core/errors.js';
import { openLedger } from '../../src/ledger/ledger.js';
import { tamper } from '../../src/ledger/tamper-simulator.js';
import { tempDir } from '../helpers/databases.js';
import { sealtrail as run } from '../helpers/cli.js';
import { appendEvents } from './helpers.js';

/** The real CLI in a child process, in `cwd`, with PATH as its only environment. */
const sealtrail = (cwd: string, args: string[]) => run(args, { cwd });

function configIn(dir: string, monitor: unknown) {
  writeFileSync(join(dir, 'sealtrail.config.json'), JSON.stringify({ monitor }));
  return () => resolveConfig({ flags: {}, env: {}, cwd: dir });
}

describe('monitor settings', () => {
  it('reads monitor.sweep and monitor.alertTable from the config file', () => {
    const dir = tempDir();
    const columns = { kind: 'alert_type', severity: 'severity', seq: 'chain_seq', event_pk: 'event_pk', reason: 'reason', details: 'details_json', detected_at: 'created_at' };
    const config = configIn(dir, { sweep: 100000, alertTable: { table: 'ops.senate_alerts', columns } })();
    assert.equal(config.monitor.sweep, 100000);
    assert.deepEqual(config.monitor.alertTable, { table: 'ops.senate_alerts', columns });
  });

  it('refuses a bad sweep or alert table in the config file with config_invalid naming the key', () => {
    const dir = tempDir();
    for (const [monitor, pattern] of [
      [{ sweep: 0 }, /"monitor.sweep" must be a positive integer/],
      [{ sweep: '1000' }, /"monitor.sweep" must be a positive integer/],
      [{ alertTable: 'senate_alerts' }, /"monitor.alertTable" must be an object/],
      [{ alertTable: { table: 'x; DROP TABLE audit_chain' } }, /"monitor.alertTable" alert table .* must be a name/],
      [{ alertTable: { table: 't', columns: { kind: 'a b' } } }, /"monitor.alertTable" alert table column for kind/],
      [{ alertTable: { table: 't', colour: 1 } }, /unknown key "colour"/],
    ] as const) {
      assert.throws(configIn(dir, monitor), (err: unknown) => isSealtrailError(err, 'config_invalid') && pattern.test(err.message), JSON.stringify(monitor));
    }
  });

  it('`monitor --once --alert-table … --alert-column …` inserts the alert for an old edit into the operator table; a missing column exits 2 with alert_table_failed', async () => {
    const dir = tempDir();
    const db = join(dir, 'ledger.db');
    const state = join(dir, 'state.json');
    const ledger = await openLedger({ url: db });
    try {
      await appendEvents(ledger, 12, 'e');
      await ledger.store.exec('CREATE TABLE senate_alerts (id INTEGER PRIMARY KEY, alert_type TEXT, chain_seq INTEGER, event_pk TEXT, reason TEXT)');
      const flags = ['--alert-table', 'senate_alerts', '--alert-column', 'kind=alert_type', 'seq=chain_seq', 'event_pk=event_pk', 'reason=reason'];
      const clean = await sealtrail(dir, ['monitor', '--db', db, '--once', '--state', state, ...flags]);
      assert.equal(clean.status, 0, clean.stderr);
      assert.match(clean.stdout, /^ok: verified seq 1\.\.12/);

      await tamper(ledger.store, { type: 'edit_payload', seq: 2, payload: { n: 2, user: 'mallory' } });
      const broke = await sealtrail(dir, ['monitor', '--db', db, '--once', '--state', state, ...flags, '--json']);
      assert.equal(broke.status, 1, broke.stderr);
      const report = JSON.parse(broke.stdout);
      assert.equal(report.breaks.length, 1);
      assert.equal(report.breaks[0].reason, 'event_hash_mismatch');
      assert.deepEqual(await ledger.store.query('SELECT alert_type, chain_seq, event_pk, reason FROM senate_alerts'), [
        { alert_type: 'audit_chain_break', chain_seq: 2, event_pk: 'e2', reason: 'event_hash_mismatch' },
      ]);

      await tamper(ledger.store, { type: 'edit_payload', seq: 1, payload: { n: 1, user: 'eve' } });
      const failed = await sealtrail(dir, ['monitor', '--db', db, '--once', '--state', state, '--alert-table', 'senate_alerts', '--alert-column', 'seq=no_such_column']);
      assert.equal(failed.status, 2);
      assert.match(failed.stderr, /\[alert_table_failed\]/);
      assert.match(failed.stdout, /BREAK/, 'the cycle report is still printed');
    } finally {
      await ledger.close();
    }
  });
});
