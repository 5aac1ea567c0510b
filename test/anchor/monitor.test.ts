/**
 * The monitor: trusted state kept outside the database and resumed after a restart, one alert per
 * distinct break (row + ledger entry + webhook), sink checks, stale-sink warnings, checkpoints when due.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runMonitorCycle, type MonitorOptions } from '../../src/anchor/monitor.js';
import { listAlerts } from '../../src/anchor/alerts.js';
import { openLedger } from '../../src/ledger/ledger.js';
import { tamper } from '../../src/ledger/tamper-simulator.js';
import { BACKENDS, tempDir } from '../helpers/databases.js';
import { FAST_RETRY, appendEvents, logKeys, seededLedger, startRecorder } from './helpers.js';

const HOUR = 3_600_000;
const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const c of cleanups) await c();
});

for (const backend of BACKENDS) {
  describe(`monitor on ${backend.name}`, () => {
    it('resumes from its saved trusted state after a restart and catches a re-chain a table-only verify misses', async () => {
      const url = await backend.freshUrl();
      const stateFile = join(tempDir(), 'state', 'monitor.json');
      const recorder = await startRecorder();
      cleanups.push(() => recorder.close());
      let ledger = await seededLedger(url, 10);
      const options = (l: typeof ledger): MonitorOptions => ({ ledger: l, stateFile, intervalMs: HOUR, webhook: recorder.url, retry: FAST_RETRY });
      const clean = await runMonitorCycle(options(ledger));
      assert.equal(clean.ok, true);
      assert.equal(clean.verified.checked, 10);
      const saved = JSON.parse(readFileSync(stateFile, 'utf8'));
      assert.equal(saved.trusted.size, 10);
      await appendEvents(ledger, 2, 'more');
      await ledger.close();

      // "Restart": a new ledger handle and monitor run reading the same state file.
      ledger = await openLedger({ url });
      cleanups.push(() => ledger.close());
      const resumed = await runMonitorCycle(options(ledger));
      assert.equal(resumed.ok, true);
      assert.deepEqual(resumed.verified, { from: 1, to: 12, checked: 12 }, 're-verifies the whole ledger against the saved trusted state');

      await tamper(ledger.store, { type: 'rechain', seq: 4, payload: { n: 4, user: 'mallory' } });
      assert.equal((await ledger.verify()).ok, true);
      const broken = await runMonitorCycle(options(ledger));
      assert.equal(broken.ok, false);
      assert.equal(broken.divergence?.reason, 'checkpoint_mismatch');
      assert.equal(broken.alerts.length, 1);
      const alert = broken.alerts[0]!;
      assert.equal(alert.kind, 'audit_chain_break');
      assert.equal(alert.severity, 'critical');
      assert.equal(alert.seq, 12);
      assert.equal(alert.reason, 'checkpoint_mismatch');
      assert.ok(alert.eventKind && alert.eventPk);

      // Later cycles, and a restarted monitor, see the same break: no new alert, no new webhook call.
      for (let i = 0; i < 2; i++) assert.equal((await runMonitorCycle(options(ledger))).alerts.length, 0);
      const again = await runMonitorCycle(options(ledger));
      assert.equal(again.ok, false);
      assert.equal((await listAlerts(ledger)).length, 1);
      assert.equal(recorder.posts.length, 1);
      assert.equal((recorder.posts[0] as { kind: string }).kind, 'audit_chain_break');
      const chained = [];
      for await (const e of ledger.entries()) if (e.kind === 'audit_alert') chained.push(e);
      assert.equal(chained.length, 1, 'the alert is an entry in the ledger too');
    });

    it('raises exactly one alert for a truncation even as alerts are appended after it', async () => {
      const url = await backend.freshUrl();
      const stateFile = join(tempDir(), 'monitor.json');
      const ledger = await seededLedger(url, 8);
      cleanups.push(() => ledger.close());
      const options: MonitorOptions = { ledger, stateFile, intervalMs: HOUR };
      assert.equal((await runMonitorCycle(options)).ok, true);
      await tamper(ledger.store, { type: 'truncate_tail', keep: 5, rewindHead: true });
      const first = await runMonitorCycle(options);
      assert.equal(first.divergence?.reason, 'truncated');
      assert.equal(first.alerts[0]?.seq, 6);
      for (let i = 0; i < 4; i++) {
        const next = await runMonitorCycle(options);
        assert.equal(next.ok, false);
        assert.equal(next.alerts.length, 0);
      }
      assert.equal((await listAlerts(ledger)).length, 1);
    });

    it('checks sinks, issues checkpoints when due, and warns once about a stale sink', async () => {
      const url = await backend.freshUrl();
      const keys = logKeys();
      const stateFile = join(tempDir(), 'monitor.json');
      const sink = `file:${join(tempDir(), 'c.jsonl')}`;
      const ledger = await seededLedger(url, 4);
      cleanups.push(() => ledger.close());
      let now = new Date();
      const options: MonitorOptions = {
        ledger,
        stateFile,
        intervalMs: HOUR,
        sinks: [sink],
        signers: [keys.signer],
        sinkMaxAgeMs: 2 * HOUR,
        now: () => now,
      };
      const first = await runMonitorCycle(options);
      assert.equal(first.ok, true);
      assert.equal(first.checkpoint?.size, 4);
      assert.equal(first.alerts.length, 0);
      const notDue = await runMonitorCycle(options);
      assert.equal(notDue.checkpoint, null, 'a checkpoint is issued once per interval');

      // Three hours later without a checkpoint (signing key gone): the sink is stale, warned once.
      now = new Date(now.getTime() + 3 * HOUR);
      const unsigned = { ...options, signers: [], vkeys: [keys.verifierKey] };
      const stale = await runMonitorCycle(unsigned);
      assert.equal(stale.ok, true);
      assert.equal(stale.alerts.length, 1);
      assert.equal(stale.alerts[0]!.kind, 'sink_stale');
      assert.equal(stale.alerts[0]!.severity, 'warning');
      assert.equal((await runMonitorCycle(unsigned)).alerts.length, 0);

      // Signing again: a fresh checkpoint clears the staleness.
      const resumed = await runMonitorCycle(options);
      assert.equal(resumed.checkpoint?.size, 5, 'covers the stale-sink alert entry');
      assert.equal(resumed.sinks?.ok, true);

      // A truncation is caught through the sink even by a monitor with no trusted state.
      await tamper(ledger.store, { type: 'truncate_tail', keep: 3, rewindHead: true });
      const fresh = await runMonitorCycle({ ...options, stateFile: join(tempDir(), 'fresh.json') });
      assert.equal(fresh.ok, false);
      assert.equal(fresh.divergence, null);
      assert.equal(fresh.alerts[0]?.reason, 'truncated');
      assert.equal(fresh.alerts[0]?.seq, 4);
    });
  });
}
