/**
 * The verify-and-alert loop. Each cycle:
 *   1. verifies the entries since the last trusted state (kept in a file outside the database)
 *      plus those appended within the previous window, against that trusted state;
 *   2. verifies every sink against the ledger;
 *   3. on any divergence raises ONE critical `audit_chain_break` alert for the break (row in
 *      audit_alerts + ledger entry) and POSTs it to the webhook; later cycles that still see the
 *      same unresolved break stay quiet; the trusted state is not advanced past a break;
 *   4. otherwise advances the trusted state, warns about sinks without a fresh checkpoint, and
 *      issues a checkpoint when one is due (publishing anything a sink missed on every cycle).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { encodeBase64 } from '../core/base64.js';
import type { NoteSigner } from '../core/note.js';
import type { Ledger } from '../ledger/ledger.js';
import type { Divergence } from '../ledger/verifier.js';
import { isoFromMicros } from '../store/timestamps.js';
import { raiseAlert, type Alert, type AlertInput } from './alerts.js';
import { readMonitorState, trustedFromState, writeMonitorState } from './monitor-state.js';
import { issueCheckpoint, publishPending, type PublishReport } from './publish.js';
import { httpRequest, redactSpec, withRetry, type RetryOptions } from './retry.js';
import { installAnchoring, isoColumn } from './schema.js';
import { verifyAgainstSinks, type SinkFinding, type SinkVerifyReport } from './verify-sinks.js';

export interface MonitorOptions {
  ledger: Ledger;
  stateFile: string;
  /** How often cycles run and checkpoints are due, in ms. */
  intervalMs: number;
  /** Entries appended within this many ms are re-verified every cycle. */
  windowMs: number;
  sinks?: readonly string[];
  /** Trusted log verifier keys for sink records (default: the signers' keys). */
  vkeys?: readonly string[];
  /** Witness cosigner keys (`--witness-vkey`); a witness sink without one is a failed sink and a finding. */
  witnessKeys?: readonly string[];
  /** When given, the monitor issues checkpoints when due. */
  signers?: NoteSigner[];
  origin?: string;
  /** Alerts are POSTed here as JSON. */
  webhook?: string;
  /** Warn when a sink's newest checkpoint is older than this. */
  sinkMaxAgeMs?: number;
  retry?: RetryOptions;
  now?: () => Date;
}

export interface CycleReport {
  ok: boolean;
  verified: { from: number; to: number; checked: number };
  divergence: Divergence | null;
  sinks: SinkVerifyReport | null;
  checkpoint: { size: number; id: number } | null;
  publish: PublishReport | null;
  /** Alerts this cycle newly raised (a break already alerted is not raised again). */
  alerts: Alert[];
  /** Webhook deliveries that failed after retries. */
  webhookErrors: string[];
}

export async function runMonitorCycle(options: MonitorOptions): Promise<CycleReport> {
  const { ledger } = options;
  const now = options.now?.() ?? new Date();
  await installAnchoring(ledger.store);
  const state = readMonitorState(options.stateFile);
  const trusted = trustedFromState(state);
  const head = await ledger.head();
  const windowStart = await firstSeqSince(ledger, new Date(now.getTime() - options.windowMs));
  const from = Math.max(1, Math.min(trusted ? trusted.size + 1 : 1, windowStart ?? Number.MAX_SAFE_INTEGER));
  const verify = await ledger.verify({ from, to: head.size, ...(trusted ? { trusted } : {}) });

  const sinks = options.sinks ?? [];
  const vkeys = options.vkeys && options.vkeys.length > 0 ? options.vkeys : (options.signers ?? []).map((s) => s.verifierKey);
  const sinkReport = sinks.length > 0 && vkeys.length > 0 ? await verifyAgainstSinks(ledger, { sinks, vkeys, witnessKeys: options.witnessKeys ?? [], allowNeverPublished: true, retry: options.retry }) : null;

  const report: CycleReport = {
    ok: true,
    verified: { from: verify.from, to: verify.to, checked: verify.checked },
    divergence: verify.divergence,
    sinks: sinkReport,
    checkpoint: null,
    publish: null,
    alerts: [],
    webhookErrors: [],
  };
  const breakFound = chainBreak(verify.divergence, sinkReport?.findings ?? []);

  if (breakFound) {
    report.ok = false;
    if (!state.open_break) {
      const { alert, created } = await raiseAlert(ledger, breakFound, now);
      if (created) report.alerts.push(alert);
      state.open_break = { alert_key: alert.key, seq: alert.seq, reason: alert.reason, detected_at: alert.detectedAt };
    }
  } else {
    state.open_break = null;
    state.trusted = { size: head.size, root: encodeBase64(head.root), chain_hash: head.chainHash.toString('hex') };
    if (options.signers && options.signers.length > 0 && (await checkpointDue(ledger, options.intervalMs, now))) {
      const issued = await issueCheckpoint(ledger, options.signers, { sinks, vkeys, witnessKeys: options.witnessKeys ?? [], retry: options.retry, ...(options.origin ? { origin: options.origin } : {}) });
      report.checkpoint = { size: issued.checkpoint.size, id: issued.checkpoint.id };
      report.publish = issued.publish;
    } else if (sinks.length > 0) {
      report.publish = await publishPending(ledger, sinks, { vkeys, witnessKeys: options.witnessKeys ?? [], retry: options.retry });
    }
    if (report.publish) {
      report.alerts.push(...report.publish.alerts);
      if (report.publish.results.some((r) => r.status === 'conflict')) {
        report.ok = false;
        const first = report.publish.alerts[0];
        if (first) state.open_break = { alert_key: first.key, seq: first.seq, reason: first.reason, detected_at: first.detectedAt };
      }
    }
    if (options.sinkMaxAgeMs !== undefined) {
      for (const input of await staleSinks(ledger, sinks, sinkReport, options.sinkMaxAgeMs, now)) {
        const { alert, created } = await raiseAlert(ledger, input, now);
        if (created) report.alerts.push(alert);
      }
    }
  }

  state.last_cycle_at = now.toISOString();
  writeMonitorState(options.stateFile, state);
  if (options.webhook) {
    for (const alert of report.alerts) {
      try {
        await postAlert(options.webhook, alert, options.retry);
      } catch (err) {
        report.webhookErrors.push((err as Error).message);
      }
    }
  }
  return report;
}

/** Runs cycles every interval until the signal aborts; with `once`, a single cycle. */
export async function runMonitor(
  options: MonitorOptions & { once?: boolean; signal?: AbortSignal; onCycle?: (report: CycleReport) => void },
): Promise<CycleReport> {
  for (;;) {
    const report = await runMonitorCycle(options);
    options.onCycle?.(report);
    if (options.once || options.signal?.aborted) return report;
    try {
      await sleep(options.intervalMs, undefined, { signal: options.signal });
    } catch {
      return report;
    }
  }
}

/** The break to alert about: the ledger's own divergence first, else the first sink finding. */
function chainBreak(divergence: Divergence | null, findings: SinkFinding[]): AlertInput | null {
  if (divergence) {
    return {
      kind: 'audit_chain_break',
      severity: 'critical',
      seq: divergence.seq,
      eventKind: divergence.kind,
      eventPk: divergence.pk,
      reason: divergence.reason,
      details: { source: 'ledger', sink_findings: findings },
    };
  }
  const first = findings[0];
  if (!first) return null;
  return {
    kind: 'audit_chain_break',
    severity: 'critical',
    seq: first.seq,
    reason: first.reason,
    details: { source: 'sinks', sink_findings: findings },
  };
}

async function firstSeqSince(ledger: Ledger, since: Date): Promise<number | null> {
  const rows = await ledger.store.query<{ s: number | null }>('SELECT min(seq) AS s FROM audit_chain WHERE appended_at >= ?', [
    isoFromMicros(BigInt(since.getTime()) * 1000n),
  ]);
  return rows[0]?.s === null || rows[0]?.s === undefined ? null : Number(rows[0].s);
}

async function checkpointDue(ledger: Ledger, intervalMs: number, now: Date): Promise<boolean> {
  const rows = await ledger.store.query<{ created_at: unknown }>('SELECT created_at FROM checkpoints ORDER BY id DESC LIMIT 1');
  const last = isoColumn(rows[0]?.created_at);
  return last === null || now.getTime() - Date.parse(last) >= intervalMs;
}

/** Sinks whose newest checkpoint (read back, else last acknowledged publish) is older than maxAge. */
async function staleSinks(ledger: Ledger, sinks: readonly string[], report: SinkVerifyReport | null, maxAgeMs: number, now: Date): Promise<AlertInput[]> {
  const out: AlertInput[] = [];
  for (const spec of sinks) {
    const name = redactSpec(spec);
    const summary = report?.sinks.find((s) => s.sink === name);
    let at = summary?.latestAppendedAt ?? null;
    let size = summary?.latestSize ?? null;
    // What this run just published counts too (the read-back happened before publishing).
    const rows = await ledger.store.query<{ last_published_at: unknown; size: number | null }>(
      'SELECT s.last_published_at, c.size FROM anchor_sinks s LEFT JOIN checkpoints c ON c.id = s.last_checkpoint_id WHERE s.sink = ?',
      [spec],
    );
    const published = isoColumn(rows[0]?.last_published_at);
    if (published !== null && (at === null || Date.parse(published) > Date.parse(at))) {
      at = published;
      size = rows[0]?.size === null || rows[0]?.size === undefined ? null : Number(rows[0].size);
    }
    if (at !== null && now.getTime() - Date.parse(at) <= maxAgeMs) continue;
    out.push({
      kind: 'sink_stale',
      severity: 'warning',
      seq: size,
      reason: 'sink_stale',
      scope: `${name}@${at ?? 'never'}`,
      details: { sink: name, last_checkpoint_at: at, last_size: size, max_age_ms: maxAgeMs },
    });
  }
  return out;
}

async function postAlert(url: string, alert: Alert, retry: RetryOptions | undefined): Promise<void> {
  const body = JSON.stringify({
    kind: alert.kind,
    severity: alert.severity,
    seq: alert.seq,
    event_kind: alert.eventKind,
    event_pk: alert.eventPk,
    reason: alert.reason,
    details: alert.details,
    detected_at: alert.detectedAt,
    alert_key: alert.key,
  });
  await withRetry(async () => {
    const res = await httpRequest(url, { method: 'POST', body, headers: { 'content-type': 'application/json' } }, retry);
    if (res.status < 200 || res.status > 299) throw new Error(`webhook ${redactSpec(url)} answered ${res.status}`);
  }, retry);
}
