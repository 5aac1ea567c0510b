/**
 * The monitor against every kind of break: an old payload edit (whole-ledger re-verify, and the
 * rolling sweep within its stated bound), the head row, missing Merkle tree data, an exception
 * inside verification; one alert per distinct break; the trusted state is what was recomputed.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { runMonitorCycle, type MonitorOptions } from '../../src/anchor/monitor.js';
import { listAlerts } from '../../src/anchor/alerts.js';
import { encodeBase64 } from '../../src/core/base64.js';
import { installCapture, watchTable } from '../../src/capture/capture.js';
import { openLedger, type Ledger } from '../../src/ledger/ledger.js';
import { tamper } from '../../src/ledger/tamper-simulator.js';
import { BACKENDS, postgresUrl, tempDir } from '../helpers/databases.js';
import { appendEvents, seededLedger } from './helpers.js';

const HOUR = 3_600_000;
const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const c of cleanups) await c();
});

async function ledgerOf(url: string, count: number): Promise<Ledger> {
  const ledger = await seededLedger(url, count);
  cleanups.push(() => ledger.close());
  return ledger;
}

function monitorOptions(ledger: Ledger, extra: Partial<MonitorOptions> = {}): MonitorOptions {
  return { ledger, stateFile: join(tempDir(), 'monitor.json'), intervalMs: HOUR, ...extra };
}

function savedTrusted(stateFile: string): { size: number; root: string; chain_hash: string; frontier?: string[] } {
  return JSON.parse(readFileSync(stateFile, 'utf8')).trusted;
}

for (const backend of BACKENDS) {
  describe(`monitor breaks on ${backend.name}`, () => {
    it('stores the state it recomputed, not the head row, as its trusted state', async () => {
      const ledger = await ledgerOf(await backend.freshUrl(), 13);
      const options = monitorOptions(ledger);
      const clean = await runMonitorCycle(options);
      assert.equal(clean.ok, true);
      const report = await ledger.verify();
      const saved = savedTrusted(options.stateFile);
      assert.equal(saved.size, 13);
      assert.equal(saved.chain_hash, report.chainHash.toString('hex'));
      assert.equal(saved.root, encodeBase64(report.root!));
      assert.deepEqual(saved.frontier, report.frontier!.map((h) => encodeBase64(h)));
    });

    it('detects an edit of an old entry in the next cycle, and a second, different break with a second alert', async () => {
      const ledger = await ledgerOf(await backend.freshUrl(), 30);
      const options = monitorOptions(ledger);
      assert.equal((await runMonitorCycle(options)).ok, true);
      const trustedBefore = savedTrusted(options.stateFile);
      await appendEvents(ledger, 5, 'later');
      assert.equal((await runMonitorCycle(options)).ok, true);

      // Entry 3 was verified and trusted long ago: a plain payload edit must still be seen.
      await tamper(ledger.store, { type: 'edit_payload', seq: 3, payload: { n: 3, user: 'mallory' } });
      const first = await runMonitorCycle(options);
      assert.equal(first.ok, false);
      assert.equal(first.verified.from, 1, 'the whole ledger is re-read');
      assert.equal(first.alerts.length, 1);
      assert.equal(first.alerts[0]!.reason, 'event_hash_mismatch');
      assert.equal(first.alerts[0]!.seq, 3);
      assert.equal(first.alerts[0]!.eventPk, 'e3');
      const trustedAtBreak = savedTrusted(options.stateFile);
      assert.equal(trustedAtBreak.size, 35);

      // The same break seen again stays quiet, and the trusted state does not move past it.
      await appendEvents(ledger, 2, 'busy');
      const again = await runMonitorCycle(options);
      assert.equal(again.ok, false);
      assert.equal(again.alerts.length, 0);
      assert.deepEqual(savedTrusted(options.stateFile), trustedAtBreak);

      // A different break while the first is unresolved: a second alert.
      await tamper(ledger.store, { type: 'edit_payload', seq: 2, payload: { n: 2, user: 'eve' } });
      const second = await runMonitorCycle(options);
      assert.equal(second.ok, false);
      assert.equal(second.alerts.length, 1);
      assert.equal(second.alerts[0]!.seq, 2);
      assert.equal((await runMonitorCycle(options)).alerts.length, 0);
      const alerts = (await listAlerts(ledger)).filter((a) => a.kind === 'audit_chain_break');
      assert.deepEqual(
        alerts.map((a) => [a.reason, a.seq]),
        [
          ['event_hash_mismatch', 3],
          ['event_hash_mismatch', 2],
        ],
      );
      assert.ok(trustedBefore.size < trustedAtBreak.size);

      // Resolved (both payloads restored): clean again, the trusted state moves on; the same edit
      // made again later is a new break and alerts again.
      await tamper(ledger.store, { type: 'edit_payload', seq: 2, payload: { n: 2, user: 'u1' } });
      await tamper(ledger.store, { type: 'edit_payload', seq: 3, payload: { n: 3, user: 'u2' } });
      const resolved = await runMonitorCycle(options);
      assert.equal(resolved.ok, true, JSON.stringify(resolved.breaks));
      assert.ok(savedTrusted(options.stateFile).size > trustedAtBreak.size);
      await tamper(ledger.store, { type: 'edit_payload', seq: 3, payload: { n: 3, user: 'mallory' } });
      const recurred = await runMonitorCycle(options);
      assert.equal(recurred.alerts.length, 1);
      assert.equal(recurred.alerts[0]!.seq, 3);
    });

    it('raises an alert for a ledger_head row that disagrees with the entries', async () => {
      const ledger = await ledgerOf(await backend.freshUrl(), 9);
      const options = monitorOptions(ledger);
      assert.equal((await runMonitorCycle(options)).ok, true);
      await ledger.store.run('UPDATE ledger_head SET chain_hash = ? WHERE id = 1', [Buffer.alloc(32, 7)]);
      const broken = await runMonitorCycle(options);
      assert.equal(broken.ok, false);
      assert.equal(broken.alerts.length, 1);
      assert.equal(broken.alerts[0]!.kind, 'audit_chain_break');
      assert.equal(broken.alerts[0]!.severity, 'critical');
      assert.equal(savedTrusted(options.stateFile).size, 9, 'not advanced past the break');
      const again = await runMonitorCycle(options);
      assert.equal(again.ok, false);
      assert.equal(again.alerts.length, 0, 'one alert: the alert itself was not chained onto the forged head');
    });

    it('reports a bad head row with the verifier\'s reason, and a head broken after the verify and then by the verify is one alert', async () => {
      const ledger = await ledgerOf(await backend.freshUrl(), 9);
      const options = monitorOptions(ledger);
      assert.equal((await runMonitorCycle(options)).ok, true);
      // The head row is forged right after the cycle's verification (a real UPDATE on the real
      // database), so only the monitor's re-read of the head can see it in this cycle.
      const forgeAfterVerify = new Proxy(ledger, {
        get(target, prop) {
          if (prop === 'verify') {
            return async (...args: Parameters<Ledger['verify']>) => {
              const report = await target.verify(...args);
              await target.store.run('UPDATE ledger_head SET chain_hash = ? WHERE id = 1', [Buffer.alloc(32, 7)]);
              return report;
            };
          }
          const value = Reflect.get(target, prop, target) as unknown;
          return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
        },
      });
      const raced = await runMonitorCycle({ ...options, ledger: forgeAfterVerify });
      assert.equal(raced.ok, false);
      assert.deepEqual(
        raced.breaks.map((b) => [b.source, b.reason]),
        [['head', 'root_mismatch']],
      );
      assert.equal(raced.alerts.length, 1);
      const verified = await ledger.verify();
      assert.equal(verified.divergence?.reason, 'root_mismatch', 'the verifier names the same break the same way');
      const next = await runMonitorCycle(options);
      assert.deepEqual(
        next.breaks.map((b) => [b.source, b.reason]),
        [['ledger', 'root_mismatch']],
      );
      assert.equal(next.alerts.length, 0, 'the same break, found by the verifier this time, stays quiet');
      assert.equal((await listAlerts(ledger)).length, 1);
    });

    it('raises an alert for missing Merkle tree data and does not crash appending the alert', async () => {
      const ledger = await ledgerOf(await backend.freshUrl(), 10);
      const options = monitorOptions(ledger);
      assert.equal((await runMonitorCycle(options)).ok, true);
      // Size 10's frontier comes from the one partial tile; cut it to 8 leaf hashes (9..10 missing).
      await ledger.store.run('UPDATE merkle_tiles SET width = 8, hashes = substr(hashes, 1, 256) WHERE level = 0 AND idx = 0');
      const broken = await runMonitorCycle(options);
      assert.equal(broken.ok, false);
      assert.equal(broken.breaks.length, 1);
      assert.equal(broken.breaks[0]!.reason, 'tree_mismatch');
      assert.equal(broken.alerts.length, 1);
      assert.equal(broken.alerts[0]!.reason, 'tree_mismatch');
      const again = await runMonitorCycle(options);
      assert.equal(again.ok, false);
      assert.equal(again.alerts.length, 0, 'the same break stays quiet');
      assert.equal((await listAlerts(ledger)).length, 1);
    });

    it('turns an exception inside verification into an alert carrying the error code, never a crash', async () => {
      const ledger = await ledgerOf(await backend.freshUrl(), 4);
      const options = monitorOptions(ledger);
      assert.equal((await runMonitorCycle(options)).ok, true);
      await ledger.store.exec('ALTER TABLE audit_chain RENAME TO audit_chain_gone');
      try {
        const broken = await runMonitorCycle(options);
        assert.equal(broken.ok, false);
        assert.equal(broken.alerts.length, 1);
        assert.equal(broken.alerts[0]!.reason, 'verify_failed');
        assert.equal(typeof broken.alerts[0]!.details['code'], 'string');
        assert.ok(broken.alerts[0]!.details['unchained'], 'recorded although the ledger could not take the alert entry');
        assert.equal((await runMonitorCycle(options)).alerts.length, 0, 'the same failure stays quiet');
      } finally {
        await ledger.store.exec('ALTER TABLE audit_chain_gone RENAME TO audit_chain');
      }
    });

    it('sweep mode: verifies the tail from the trusted frontier plus a slice, and sees an old edit within ceil(size / slice) cycles', async () => {
      const size = 40;
      const slice = 10;
      const ledger = await ledgerOf(await backend.freshUrl(), size);
      const options = monitorOptions(ledger, { sweep: slice });
      const firstRun = await runMonitorCycle(options);
      assert.equal(firstRun.ok, true);
      assert.equal(firstRun.verified.checked, size, 'without a trusted state the first cycle reads everything');
      const sweep1 = await runMonitorCycle(options);
      assert.deepEqual(sweep1.swept, { from: 1, to: 10, checked: 10 });
      assert.equal(sweep1.verified.checked, 0, 'nothing appended since the trusted state');

      // Edited right after its slice was swept: the worst case.
      await tamper(ledger.store, { type: 'edit_payload', seq: 5, payload: { n: 5, user: 'mallory' } });
      await appendEvents(ledger, 3, 'tail');
      const bound = Math.ceil((size + 3) / slice);
      let detectedAt = 0;
      for (let cycle = 1; cycle <= bound; cycle++) {
        const r = await runMonitorCycle(options);
        if (cycle === 1) assert.deepEqual(r.verified, { from: 41, to: 43, checked: 3 }, 'the tail starts after the trusted state');
        if (!r.ok) {
          detectedAt = cycle;
          assert.equal(r.alerts.length, 1);
          assert.equal(r.alerts[0]!.reason, 'event_hash_mismatch');
          assert.equal(r.alerts[0]!.seq, 5);
          break;
        }
      }
      assert.equal(detectedAt, bound, 'seen exactly when the rotation comes back to it');
      // The sweep stays on the broken slice: the break is seen every cycle, alerted once.
      const again = await runMonitorCycle(options);
      assert.equal(again.ok, false);
      assert.deepEqual([again.swept?.from, again.swept?.to], [1, 10]);
      assert.equal(again.alerts.length, 0);
    });

    it('sweep mode: a state file of the previous layout (no frontier, one open_break) gets a whole-ledger cycle first, which records the frontier', async () => {
      const ledger = await ledgerOf(await backend.freshUrl(), 12);
      const options = monitorOptions(ledger, { sweep: 4 });
      const head = await ledger.head();
      mkdirSync(dirname(options.stateFile), { recursive: true });
      writeFileSync(
        options.stateFile,
        JSON.stringify({ version: 1, trusted: { size: 12, root: encodeBase64(head.root), chain_hash: head.chainHash.toString('hex') }, open_break: null, last_cycle_at: null }),
      );
      const first = await runMonitorCycle(options);
      assert.equal(first.ok, true);
      assert.equal(first.verified.from, 1);
      assert.equal(first.swept, null);
      assert.equal(savedTrusted(options.stateFile).frontier?.length, 2);
      const second = await runMonitorCycle(options);
      assert.deepEqual(second.swept, { from: 1, to: 4, checked: 4 });
    });

    it('sweep mode: a re-chained old entry is caught at once by the tail check against the trusted state', async () => {
      const ledger = await ledgerOf(await backend.freshUrl(), 20);
      const options = monitorOptions(ledger, { sweep: 5 });
      assert.equal((await runMonitorCycle(options)).ok, true);
      await tamper(ledger.store, { type: 'rechain', seq: 15, payload: { n: 15, user: 'mallory' } });
      const r = await runMonitorCycle(options);
      assert.equal(r.ok, false);
      assert.equal(r.alerts[0]?.reason, 'checkpoint_mismatch');
    });
  });
}

const SENATE_ALERTS: Record<string, string> = {
  sqlite: `CREATE TABLE senate_alerts (id INTEGER PRIMARY KEY AUTOINCREMENT, alert_type TEXT NOT NULL, severity TEXT NOT NULL,
    chain_seq INTEGER, event_pk TEXT, reason TEXT NOT NULL, details_json TEXT, created_at TEXT NOT NULL, acknowledged INTEGER NOT NULL DEFAULT 0)`,
  postgres: `CREATE TABLE senate_alerts (id BIGSERIAL PRIMARY KEY, alert_type TEXT NOT NULL, severity TEXT NOT NULL,
    chain_seq BIGINT, event_pk TEXT, reason TEXT NOT NULL, details_json JSONB, created_at TIMESTAMPTZ NOT NULL, acknowledged BOOLEAN NOT NULL DEFAULT false)`,
};

const SENATE_COLUMNS = {
  kind: 'alert_type',
  severity: 'severity',
  seq: 'chain_seq',
  event_pk: 'event_pk',
  reason: 'reason',
  details: 'details_json',
  detected_at: 'created_at',
} as const;

for (const backend of BACKENDS) {
  describe(`monitor alert table on ${backend.name}`, () => {
    it("inserts every alert into the operator's existing table with the configured columns, and fails the cycle loudly when it cannot", async () => {
      const ledger = await ledgerOf(await backend.freshUrl(), 10);
      await ledger.store.exec(SENATE_ALERTS[backend.name]!);
      const stateFile = join(tempDir(), 'monitor.json');
      const options = monitorOptions(ledger, { stateFile, alertTable: { table: 'senate_alerts', columns: { ...SENATE_COLUMNS } } });
      const senate = () =>
        ledger.store.query<{ alert_type: string; severity: string; chain_seq: unknown; event_pk: string; reason: string; details_json: unknown; created_at: unknown }>(
          'SELECT alert_type, severity, chain_seq, event_pk, reason, details_json, created_at FROM senate_alerts ORDER BY id',
        );
      assert.equal((await runMonitorCycle(options)).ok, true);
      assert.equal((await senate()).length, 0);

      await tamper(ledger.store, { type: 'edit_payload', seq: 4, payload: { n: 4, user: 'mallory' } });
      const broken = await runMonitorCycle(options);
      assert.equal(broken.alerts.length, 1);
      const rows = await senate();
      assert.equal(rows.length, 1);
      const row = rows[0]!;
      assert.equal(row.alert_type, 'audit_chain_break');
      assert.equal(row.severity, 'critical');
      assert.equal(Number(row.chain_seq), 4);
      assert.equal(row.event_pk, 'e4');
      assert.equal(row.reason, 'event_hash_mismatch');
      const details = typeof row.details_json === 'string' ? JSON.parse(row.details_json) : row.details_json;
      assert.equal(details.source, 'ledger');
      assert.equal(new Date(String(row.created_at instanceof Date ? row.created_at.toISOString() : row.created_at)).toISOString(), broken.alerts[0]!.detectedAt);
      await runMonitorCycle(options);
      assert.equal((await senate()).length, 1, 'the same break is inserted once');

      // A mapping onto a column that does not exist: the cycle fails with a coded error, the alert
      // itself is still recorded, and its insert waits for the next cycle.
      await tamper(ledger.store, { type: 'edit_payload', seq: 2, payload: { n: 2, user: 'eve' } });
      const wrong = { ...options, alertTable: { table: 'senate_alerts', columns: { ...SENATE_COLUMNS, seq: 'no_such_column' } } };
      await assert.rejects(runMonitorCycle(wrong), (err: unknown) => (err as { code?: string }).code === 'alert_table_failed');
      assert.equal((await senate()).length, 1);
      assert.deepEqual(
        (await listAlerts(ledger)).map((a) => a.seq),
        [4, 2],
      );
      await runMonitorCycle(options);
      const after = await senate();
      assert.equal(after.length, 2, 'delivered once the mapping is right');
      assert.equal(Number(after[1]!.chain_seq), 2);
      await runMonitorCycle(options);
      assert.equal((await senate()).length, 2);
    });

    it('refuses alert table and column names that are not plain identifiers, before writing anything', async () => {
      const ledger = await ledgerOf(await backend.freshUrl(), 3);
      for (const alertTable of [
        { table: 'senate_alerts; DROP TABLE audit_chain' },
        { table: 'a.b.c' },
        { table: 'senate_alerts', columns: { kind: 'alert_type"--' } },
        { table: 'senate_alerts', columns: { colour: 'x' } as never },
        { table: 'senate_alerts', columns: { kind: 'x', reason: 'x' } },
      ]) {
        await assert.rejects(runMonitorCycle(monitorOptions(ledger, { alertTable })), (err: unknown) => (err as { code?: string }).code === 'invalid_argument');
      }
      assert.equal((await ledger.head()).size, 3);
    });
  });
}

describe('monitor capture scan on postgres', () => {
  it('scans the watched tables every cycle: a row written with capture off, and dropping the watched table, each raise an alert within one cycle', async () => {
    const url = await postgresUrl();
    const ledger = await openLedger({ url });
    cleanups.push(() => ledger.close());
    await installCapture(ledger.store);
    await ledger.store.exec('CREATE TABLE provenance (id int PRIMARY KEY, v text)');
    await watchTable(ledger.store, 'provenance');
    await ledger.store.exec(`INSERT INTO provenance VALUES (1, 'a')`);
    const options = monitorOptions(ledger);
    const clean = await runMonitorCycle(options);
    assert.equal(clean.ok, true, JSON.stringify(clean.breaks));
    assert.ok(clean.capture, 'the scan ran');

    // Capture switched off, nothing written yet: every finding the scan has (capture_disabled) is
    // an alert of its own, and every DDL evidence event it lists a warning.
    await ledger.store.exec('ALTER TABLE provenance DISABLE TRIGGER sealtrail_capture');
    const disabled = await runMonitorCycle(options);
    assert.ok(disabled.capture);
    for (const f of disabled.capture.findings) {
      assert.ok(
        disabled.breaks.some((b) => b.source === 'capture' && b.eventKind === f.event_kind && b.reason.endsWith(f.type) && b.alertKey),
        `finding ${JSON.stringify(f)} has an alert`,
      );
    }
    const evidence = (disabled.capture as { ddlEvidence?: unknown[] }).ddlEvidence ?? [];
    assert.ok(disabled.warnings.length >= evidence.length);
    await ledger.store.exec(`INSERT INTO provenance VALUES (2, 'sneaky')`);
    const caught = await runMonitorCycle(options);
    assert.equal(caught.ok, false);
    const unchained = caught.alerts.find((a) => a.eventPk === '2');
    assert.ok(unchained, JSON.stringify(caught.breaks));
    assert.equal(unchained.kind, 'audit_chain_break');
    assert.equal(unchained.details['source'], 'capture');
    assert.equal((await runMonitorCycle(options)).alerts.filter((a) => a.severity === 'critical').length, 0, 'seen again: quiet');

    // The watched table dropped altogether: its chained rows are gone (today the scan itself fails
    // on it, which the monitor turns into a scan_failed alert rather than a crash).
    await ledger.store.exec('DROP TABLE provenance');
    const gone = await runMonitorCycle(options);
    assert.equal(gone.ok, false);
    assert.ok(
      gone.alerts.some((a) => a.details['source'] === 'capture' && a.severity === 'critical'),
      JSON.stringify(gone.breaks),
    );
  });
});
