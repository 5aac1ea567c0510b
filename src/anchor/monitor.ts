/**
 * The verify-and-alert loop. Each cycle:
 *   1. re-verifies the WHOLE ledger (every leaf, link and the tree) against the trusted state kept
 *      in a file outside the database, or, in rolling-sweep mode, the tail since the trusted state
 *      (started from the trusted frontier, not the database's) plus the next slice of old entries;
 *      then re-reads the head row (and, in sweep mode, the stored Merkle frontier) against what it
 *      recomputed;
 *   2. verifies every sink against the ledger;
 *   3. on PostgreSQL, scans the watched tables against the chain (capture);
 *   4. raises ONE alert per distinct break (row in audit_alerts + ledger entry, webhook, and the
 *      operator's own alert table when configured); a break seen again stays quiet, a different
 *      one alerts even while the first is unresolved; the trusted state is not advanced past a
 *      break. An exception in any check is itself a break (`verify_failed`, `sink_verify_failed`,
 *      `scan_failed`), never a crash of the loop;
 *   5. otherwise stores what it recomputed (size, chain hash, root, frontier; never the database's
 *      head) as the next trusted state, warns about sinks without a fresh checkpoint, and issues a
 *      checkpoint when one is due (publishing anything a sink missed on every cycle).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { encodeBase64 } from '../core/base64.js';
import { isSealtrailError, SealtrailError } from '../core/errors.js';
import { perfectSubtrees } from '../core/merkle.js';
import type { NoteSigner } from '../core/note.js';
import { scanCapture } from '../capture/capture.js';
import { redact } from '../core/redact.js';
import type { Ledger } from '../ledger/ledger.js';
import type { ScanReport } from '../ledger/scan.js';
import type { TrustedState } from '../ledger/trusted-state.js';
import type { Divergence, VerifyOptions, VerifyReport } from '../ledger/verifier.js';
import { nodeKeyString } from '../store/store.js';
import { isoFromMicros } from '../core/timestamps.js';
import { deliverAlerts, queueDeliveries, raiseAlert, validateAlertTable, type Alert, type AlertInput, type AlertTable } from './alerts.js';
import { readMonitorState, trustedFromState, writeMonitorState, type MonitorState, type OpenBreak } from './monitor-state.js';
import { issueCheckpoint, publishPending, type PublishReport } from './publish.js';
import { httpRequest, withRetry, type RetryOptions } from './retry.js';
import { installAnchoring, isoColumn } from './schema.js';
import { sinkKey } from './sinks/sink-key.js';
import { verifyAgainstSinks, type SinkVerifyReport } from './verify-sinks.js';

export interface MonitorOptions {
  ledger: Ledger;
  stateFile: string;
  /** How often cycles run and checkpoints are due, in ms. */
  intervalMs: number;
  /**
   * Rolling sweep for very large ledgers: instead of re-verifying the whole ledger, each cycle
   * verifies the tail since the trusted state plus this many old entries, in rotation. An edit of
   * an old entry then stays unseen for at most ceil(size / sweep) cycles.
   */
  sweep?: number;
  /** Sweep mode only: entries appended within this many ms are re-verified every cycle as well. */
  windowMs?: number;
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
  /** Every alert is additionally inserted into this existing table of the operator's. */
  alertTable?: AlertTable;
  /** Warn when a sink's newest checkpoint is older than this. */
  sinkMaxAgeMs?: number;
  /** PostgreSQL: scan the watched tables against the chain every cycle (default true). */
  captureScan?: boolean;
  /** Verifier tuning (worker threads, segment size). */
  verifyTuning?: Pick<VerifyOptions, 'workers' | 'segmentLog2'>;
  retry?: RetryOptions;
  now?: () => Date;
}

/** Where a break was found. */
export type BreakSource = 'ledger' | 'head' | 'tree' | 'sweep' | 'sinks' | 'capture';

/** One distinct break found by a cycle. */
export interface CycleBreak {
  source: BreakSource;
  reason: string;
  seq: number | null;
  eventKind: string | null;
  eventPk: string | null;
  message: string;
  /** The alert for it (new this cycle, or raised by an earlier cycle); null if it could not be recorded. */
  alertKey: string | null;
}

export interface CycleReport {
  ok: boolean;
  mode: 'full' | 'sweep';
  /** What the ledger verification covered (the tail since the trusted state in sweep mode). */
  verified: { from: number; to: number; checked: number };
  /** Sweep mode: the slice of old entries verified this cycle. */
  swept: { from: number; to: number; checked: number } | null;
  divergence: Divergence | null;
  /** Every distinct break this cycle saw (alerted once each, across cycles). */
  breaks: CycleBreak[];
  sinks: SinkVerifyReport | null;
  /** PostgreSQL capture scan (null when not run). */
  capture: ScanReport | null;
  /** Things worth a look that are no break (DDL evidence on watched tables, stale sinks). */
  warnings: string[];
  checkpoint: { size: number; id: number } | null;
  publish: PublishReport | null;
  /** Alerts this cycle newly raised (a break already alerted is not raised again). */
  alerts: Alert[];
  /** Webhook deliveries that failed after retries. */
  webhookErrors: string[];
  /** Inserting alerts into the operator's table failed (the cycle then throws alert_table_failed). */
  alertTableError: string | null;
}

interface FoundBreak extends AlertInput {
  source: BreakSource;
  message: string;
}

export async function runMonitorCycle(options: MonitorOptions): Promise<CycleReport> {
  const { ledger } = options;
  const now = options.now?.() ?? new Date();
  const alertTable = options.alertTable ? validateAlertTable(options.alertTable) : undefined;
  if (options.sweep !== undefined && (!Number.isSafeInteger(options.sweep) || options.sweep <= 0)) {
    throw new SealtrailError('invalid_argument', `sweep must be a positive number of entries per cycle, got ${options.sweep}`);
  }
  await installAnchoring(ledger.store);
  const state = readMonitorState(options.stateFile);
  const trusted = trustedFromState(state);
  // The tail starts from the trusted frontier; a state file without one (written by an older
  // version) gets a whole-ledger cycle first, which records it.
  const sweeping = options.sweep !== undefined && trusted?.frontier !== undefined;
  const report: CycleReport = {
    ok: true,
    mode: options.sweep !== undefined ? 'sweep' : 'full',
    verified: { from: 1, to: 0, checked: 0 },
    swept: null,
    divergence: null,
    breaks: [],
    sinks: null,
    capture: null,
    warnings: [],
    checkpoint: null,
    publish: null,
    alerts: [],
    webhookErrors: [],
    alertTableError: null,
  };
  const found: FoundBreak[] = [];
  const warnings: AlertInput[] = [];
  // Part of every break's identity: the trusted size stays put while anything is broken.
  const epoch = `trusted:${trusted?.size ?? 0}`;

  // 1. The ledger, recomputed from its leaves.
  let verified: VerifyReport | null = null;
  try {
    verified = await ledger.verify({ ...options.verifyTuning, ...(trusted ? { trusted } : {}), ...(sweeping ? { skipPrefix: true } : { from: 1 }) });
    report.verified = { from: verified.from, to: verified.to, checked: verified.checked };
    report.divergence = verified.divergence;
    if (verified.divergence) found.push(ledgerBreak(verified.divergence, 'ledger'));
    else if (verified.root === null) throw new SealtrailError('integrity_failure', 'the verifier could not rebuild the Merkle tree, so there is no root to trust');
    else found.push(...(await headAndTree(ledger, verified, sweeping)));
  } catch (err) {
    found.push(failure('ledger', 'verify_failed', err));
  }
  if (sweeping && trusted) {
    try {
      found.push(...(await sweepOld(ledger, options, state, trusted, now, report)));
    } catch (err) {
      found.push(failure('sweep', 'verify_failed', err));
    }
  }

  // 2. The sinks.
  const sinks = options.sinks ?? [];
  const vkeys = options.vkeys && options.vkeys.length > 0 ? options.vkeys : (options.signers ?? []).map((s) => s.verifierKey);
  if (sinks.length > 0 && vkeys.length > 0) {
    try {
      // allowNeverPublished: a sink added to the configuration is published to right after this check.
      report.sinks = await verifyAgainstSinks(ledger, { sinks, vkeys, witnessKeys: options.witnessKeys ?? [], allowNeverPublished: true, retry: options.retry });
      for (const f of report.sinks.findings) {
        found.push({
          ...critical('sinks', f.reason, f.seq, f.message),
          scope: `sinks:${f.sink}`,
          identity: String(f.size ?? f.seq ?? 'none'),
          details: { source: 'sinks', sink: f.sink, size: f.size, message: f.message },
        });
      }
    } catch (err) {
      found.push(failure('sinks', 'sink_verify_failed', err));
    }
  }

  // 3. Capture (PostgreSQL): every watched table against the chain.
  if (options.captureScan !== false && ledger.store.dialect === 'postgres') {
    try {
      if (state.capture_seen || (await captureInstalled(ledger))) {
        state.capture_seen = true;
        report.capture = await scanCapture(ledger.store);
        found.push(...captureBreaks(report.capture));
        warnings.push(...ddlWarnings(report.capture));
      }
    } catch (err) {
      found.push(failure('capture', 'scan_failed', err));
    }
  }

  // 4. One alert per distinct break.
  // An alert entry appended on top of a head row that disagrees with the entries would chain onto
  // the forged head and become a second, consequential break: such alerts are recorded unchained.
  const headBroken =
    found.some((b) => b.source === 'head') ||
    (verified?.divergence != null && verified.divergence.seq >= verified.headSize && HEAD_REASONS.has(verified.divergence.reason));
  const raise = async (input: AlertInput): Promise<Alert | null> => {
    const { alert, created } = await raiseAlert(ledger, input, now, {
      ...(alertTable ? { alertTable } : {}),
      ...(headBroken ? { unchained: 'not appended to the ledger: its head row disagrees with the entries' } : {}),
    });
    if (created) report.alerts.push(alert);
    return alert;
  };
  let raiseError: unknown = null;
  const openBreaks: OpenBreak[] = [];
  for (const b of dedupe(found)) {
    let alert: Alert | null = null;
    try {
      // The trusted size is part of every break's identity: it stays put while anything is broken,
      // and moves on once a clean cycle was seen, so a break that recurs after that alerts again.
      alert = await raise({ ...b, identity: `${epoch}|${b.identity ?? String(b.seq)}` });
    } catch (err) {
      raiseError ??= err;
    }
    report.breaks.push({ source: b.source, reason: b.reason, seq: b.seq, eventKind: b.eventKind ?? null, eventPk: b.eventPk ?? null, message: b.message, alertKey: alert?.key ?? null });
    if (alert) openBreaks.push({ alert_key: alert.key, seq: alert.seq, reason: alert.reason, source: b.source, detected_at: alert.detectedAt });
  }
  for (const w of warnings) {
    report.warnings.push(w.reason === 'ddl_evidence' ? `DDL evidence at seq ${w.seq ?? '?'}: ${String(w.details?.['summary'] ?? '')}` : w.reason);
    try {
      await raise(w);
    } catch (err) {
      raiseError ??= err;
    }
  }
  state.open_breaks = openBreaks;

  if (found.length > 0 || !verified || verified.root === null) {
    report.ok = false;
  } else {
    // 5. Clean: what this cycle recomputed becomes the trusted state.
    state.trusted = {
      size: verified.size,
      root: encodeBase64(verified.root),
      chain_hash: verified.chainHash.toString('hex'),
      ...(verified.frontier ? { frontier: verified.frontier.map((h) => encodeBase64(h)) } : {}),
    };
    try {
      await checkpointAndPublish(ledger, options, sinks, now, report, state);
      if (options.sinkMaxAgeMs !== undefined) {
        for (const input of await staleSinks(ledger, sinks, report.sinks, options.sinkMaxAgeMs, now)) {
          report.warnings.push(`sink ${String(input.details?.['sink'])} has no checkpoint newer than ${options.sinkMaxAgeMs} ms`);
          await raise(input);
        }
      }
    } catch (err) {
      // The trusted state above still gets saved; the failure is reported after the cycle's work.
      raiseError ??= err;
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
  if (alertTable) {
    try {
      // Alerts raised by publishing were not queued for the table when they were recorded.
      await queueDeliveries(ledger, alertTable, report.alerts.map((a) => a.key));
      await deliverAlerts(ledger, alertTable);
    } catch (err) {
      report.alertTableError = (err as Error).message;
      report.ok = false;
      throw Object.assign(isSealtrailError(err) ? err : new SealtrailError('alert_table_failed', (err as Error).message, { cause: err }), { report });
    }
  }
  if (raiseError) throw Object.assign(raiseError as Error, { report });
  return report;
}

/** Issues a checkpoint when one is due (with signing keys), else publishes what sinks missed. */
async function checkpointAndPublish(ledger: Ledger, options: MonitorOptions, sinks: readonly string[], now: Date, report: CycleReport, state: MonitorState): Promise<void> {
  if (options.signers && options.signers.length > 0 && (await checkpointDue(ledger, options.intervalMs, now))) {
    const issued = await issueCheckpoint(ledger, options.signers, {
      sinks,
      vkeys: options.vkeys ?? [],
      witnessKeys: options.witnessKeys ?? [],
      retry: options.retry,
      ...(options.origin ? { origin: options.origin } : {}),
    });
    report.checkpoint = { size: issued.checkpoint.size, id: issued.checkpoint.id };
    report.publish = issued.publish;
  } else if (sinks.length > 0) {
    // Pending rows are published only if their notes verify under the trusted log keys.
    const vkeys = [...(options.vkeys ?? []), ...(options.signers ?? []).map((s) => s.verifierKey)];
    report.publish = await publishPending(ledger, sinks, { vkeys, witnessKeys: options.witnessKeys ?? [], retry: options.retry });
  }
  if (!report.publish) return;
  report.alerts.push(...report.publish.alerts);
  if (report.publish.results.some((r) => r.status === 'conflict')) {
    report.ok = false;
    for (const a of report.publish.alerts) state.open_breaks.push({ alert_key: a.key, seq: a.seq, reason: a.reason, source: 'sinks', detected_at: a.detectedAt });
  }
}

/**
 * Runs cycles every interval until the signal aborts; with `once`, a single cycle (whose error, if
 * any, is thrown). A cycle that throws (an alert could not be recorded or inserted into the
 * operator's table) is reported to `onError` and the loop goes on: the next cycle retries.
 */
export async function runMonitor(
  options: MonitorOptions & { once?: boolean; signal?: AbortSignal; onCycle?: (report: CycleReport) => void; onError?: (err: unknown) => void },
): Promise<CycleReport | null> {
  let last: CycleReport | null = null;
  for (;;) {
    try {
      last = await runMonitorCycle(options);
      options.onCycle?.(last);
    } catch (err) {
      const partial = (err as { report?: CycleReport }).report;
      if (partial) options.onCycle?.(partial);
      if (options.once) throw err;
      options.onError?.(err);
      last = partial ?? last;
    }
    if (options.once || options.signal?.aborted) return last;
    try {
      await sleep(options.intervalMs, undefined, { signal: options.signal });
    } catch {
      return last;
    }
  }
}

/** Divergences at the head that mean the head row itself is not what the entries make. */
const HEAD_REASONS = new Set<string>(['chain_hash_mismatch', 'root_mismatch']);

function critical(source: BreakSource, reason: string, seq: number | null, message: string): FoundBreak {
  return { source, kind: 'audit_chain_break', severity: 'critical', seq, reason, message, scope: source };
}

function ledgerBreak(d: Divergence, source: BreakSource): FoundBreak {
  // A truncation or a root that disagrees at the head is reported at a seq that moves as alerts
  // are appended; without the seq, the trusted size in the identity pins it while it is unresolved.
  const moving = d.reason === 'truncated' || d.reason === 'root_mismatch' || d.reason === 'checkpoint_mismatch';
  return {
    ...critical(source, d.reason, d.seq, `${d.reason} at seq ${d.seq}`),
    eventKind: d.kind,
    eventPk: d.pk,
    ...(moving ? { identity: `moving:${d.reason}` } : {}),
    details: { source, message: `${d.reason} at seq ${d.seq}` },
  };
}

function failure(source: BreakSource, reason: string, err: unknown): FoundBreak {
  const code = isSealtrailError(err) ? err.code : 'internal';
  const message = `${source} check failed: ${(err as Error)?.message ?? String(err)}`;
  return {
    ...critical(source, reason, null, message),
    identity: `failed:${code}`,
    details: { source, code, message, ...(isSealtrailError(err) && err.details ? { error_details: err.details } : {}) },
  };
}

/**
 * What the verification itself does not cover. Its snapshot already compared the head row with the
 * recomputed state (`root_mismatch`) and, on a whole-ledger pass, every stored Merkle node
 * (`tree_mismatch`). Left to check here:
 * - the head row read again AFTER the verification: the head only grows, so a smaller one was
 *   rewound meanwhile, and one of the same size must still match. Reported with the verifier's
 *   reason and identity, so a head found broken here and by the next cycle's verify is ONE alert;
 * - in sweep mode (the prefix is not re-read; the tail starts from the trusted frontier), the
 *   stored Merkle frontier, which no pass of the cycle reads.
 */
async function headAndTree(ledger: Ledger, v: VerifyReport, sweeping: boolean): Promise<FoundBreak[]> {
  const out: FoundBreak[] = [];
  const head = await ledger.head();
  const headFacts = { head_size: head.size, recomputed_size: v.size };
  const headBreak = (seq: number, message: string): FoundBreak => ({
    ...critical('head', 'root_mismatch', seq, message),
    // The same scope and identity as the verifier's root_mismatch (ledgerBreak): one break.
    scope: 'ledger',
    identity: 'moving:root_mismatch',
    details: { source: 'head', message, ...headFacts },
  });
  if (head.size < v.size) {
    out.push(headBreak(head.size + 1, `ledger_head claims size ${head.size}, the entries make ${v.size}`));
  } else if (head.size === v.size && (!head.chainHash.equals(v.chainHash) || (v.root !== null && !head.root.equals(v.root)))) {
    out.push(headBreak(head.size, `ledger_head at size ${head.size} disagrees with the chain hash or root recomputed from the entries`));
  }
  if (sweeping && v.frontier && v.size > 0) {
    const keys = perfectSubtrees(0, v.size);
    const stored = await ledger.store.readNodes(keys);
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      const hash = stored.get(nodeKeyString(key.level, key.index));
      if (hash && hash.equals(v.frontier[i]!)) continue;
      // Where the verifier would report it: the seq whose append completes the subtree.
      const seq = (key.index + 1) * 2 ** key.level;
      const what = hash ? 'differs from' : 'is missing, it should hold';
      out.push({
        ...critical('tree', 'tree_mismatch', seq, `stored Merkle node level ${key.level} index ${key.index} ${what} the hash recomputed from the entries`),
        details: { source: 'tree', level: key.level, index: key.index, missing: !hash },
      });
      break;
    }
  }
  return out;
}

/**
 * Sweep mode: entries appended within the window, and the next slice of old entries (seq 1 up to
 * the trusted size, in rotation, position kept in the state file). The position stays on a slice
 * with a break, so the break is seen every cycle until resolved.
 */
async function sweepOld(ledger: Ledger, options: MonitorOptions, state: MonitorState, trusted: TrustedState, now: Date, report: CycleReport): Promise<FoundBreak[]> {
  const out: FoundBreak[] = [];
  if (trusted.size === 0) return out;
  if (options.windowMs !== undefined) {
    const windowStart = await firstSeqSince(ledger, new Date(now.getTime() - options.windowMs));
    if (windowStart !== null && windowStart <= trusted.size) {
      const recent = await ledger.verify({ ...options.verifyTuning, from: windowStart, to: trusted.size });
      if (recent.divergence) out.push(ledgerBreak(recent.divergence, 'sweep'));
    }
  }
  let from = state.sweep_next ?? 1;
  if (from < 1 || from > trusted.size) from = 1;
  const to = Math.min(trusted.size, from + options.sweep! - 1);
  const slice = await ledger.verify({ ...options.verifyTuning, from, to });
  report.swept = { from: slice.from, to: slice.to, checked: slice.checked };
  if (slice.divergence) {
    out.push(ledgerBreak(slice.divergence, 'sweep'));
    state.sweep_next = from;
  } else {
    state.sweep_next = to >= trusted.size ? 1 : to + 1;
  }
  return out;
}

async function captureInstalled(ledger: Ledger): Promise<boolean> {
  const rows = await ledger.store.query<{ t: boolean; m: boolean }>(
    "SELECT to_regclass('capture_tables') IS NOT NULL AS t, EXISTS (SELECT 1 FROM sealtrail_migrations WHERE component = 'capture') AS m",
  );
  return rows[0]?.t === true || rows[0]?.m === true;
}

/** Every scan finding is a break: a row edited, deleted or never chained, or capture switched off. */
function captureBreaks(scan: ScanReport): FoundBreak[] {
  return scan.findings.map((f) => {
    const extra = f as unknown as Record<string, unknown>;
    const table = typeof extra['table'] === 'string' ? extra['table'] : undefined;
    const message = `capture scan: ${f.type} ${f.event_kind}${f.event_pk ? `/${f.event_pk}` : ''}${f.seq !== null ? ` (seq ${f.seq})` : ''}${table ? ` on ${table}` : ''}`;
    return {
      ...critical('capture', `capture_${f.type}`.replace(/^capture_capture_/, 'capture_'), f.seq, message),
      eventKind: f.event_kind ?? null,
      eventPk: f.event_pk ?? null,
      scope: `capture:${f.event_kind ?? ''}:${f.event_pk ?? ''}:${table ?? ''}`,
      identity: String(f.seq ?? 'unchained'),
      details: { source: 'capture', finding: f },
    };
  });
}

/** Chained DDL evidence events the scan lists (when it does): warnings, one alert each. */
function ddlWarnings(scan: ScanReport): AlertInput[] {
  const evidence = (scan as ScanReport & { ddlEvidence?: unknown[] }).ddlEvidence;
  if (!Array.isArray(evidence)) return [];
  return evidence.map((e) => {
    const event = (typeof e === 'object' && e !== null ? e : { value: e }) as Record<string, unknown>;
    const seq = typeof event['seq'] === 'number' ? event['seq'] : null;
    const summary = typeof event['command'] === 'string' ? event['command'] : typeof event['tag'] === 'string' ? event['tag'] : JSON.stringify(event).slice(0, 200);
    return {
      kind: 'ddl_evidence',
      severity: 'warning',
      seq,
      eventKind: typeof event['kind'] === 'string' ? event['kind'] : typeof event['event_kind'] === 'string' ? event['event_kind'] : null,
      eventPk: typeof event['pk'] === 'string' ? event['pk'] : typeof event['event_pk'] === 'string' ? event['event_pk'] : null,
      reason: 'ddl_evidence',
      ...(seq === null ? { scope: summary } : {}),
      details: { source: 'capture', summary, event },
    } satisfies AlertInput;
  });
}

/** The same break found twice in one cycle (e.g. by the ledger and a window re-check) alerts once. */
function dedupe(breaks: FoundBreak[]): FoundBreak[] {
  const seen = new Set<string>();
  return breaks.filter((b) => {
    const id = JSON.stringify([b.reason, b.identity ?? b.seq, b.scope]);
    if (seen.has(id)) return false;
    seen.add(id);
    return true;
  });
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
    const name = redact(spec);
    const summary = report?.sinks.find((s) => s.sink === name);
    let at = summary?.latestAppendedAt ?? null;
    let size = summary?.latestSize ?? null;
    // What this run just published counts too (the read-back happened before publishing).
    const rows = await ledger.store.query<{ last_published_at: unknown; size: number | null }>(
      'SELECT s.last_published_at, c.size FROM anchor_sinks s LEFT JOIN checkpoints c ON c.id = s.last_checkpoint_id WHERE s.sink = ?',
      [sinkKey(spec)],
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
    if (res.status < 200 || res.status > 299) throw new Error(`webhook ${redact(url)} answered ${res.status}`);
  }, retry);
}
