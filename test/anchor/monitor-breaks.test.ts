/**
 * The monitor against every kind of break: an old payload edit (whole-ledger re-verify, and the
 * rolling sweep within its stated bound), the head row, missing Merkle tree data, an exception
 * inside verification; one alert per distinct break; the trusted state is what was recomputed.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runMonitorCycle, type MonitorOptions } from '../../src/anchor/monitor.js';
import { listAlerts } from '../../src/anchor/alerts.js';
import { encodeBase64 } from '../../src/core/base64.js';
import type { Ledger } from '../../src/ledger/ledger.js';
import { tamper } from '../../src/ledger/tamper-simulator.js';
import { BACKENDS, tempDir } from '../helpers/databases.js';
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

    it('raises an alert for missing Merkle tree data and does not crash appending the alert', async () => {
      const ledger = await ledgerOf(await backend.freshUrl(), 10);
      const options = monitorOptions(ledger);
      assert.equal((await runMonitorCycle(options)).ok, true);
      // Size 10's frontier: the perfect subtree over seq 1..8 (level 3) and over 9..10 (level 1).
      await ledger.store.run('DELETE FROM merkle_nodes WHERE level = 3 AND idx = 0');
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
