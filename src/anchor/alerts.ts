/**
 * Alerts: a row in audit_alerts AND an entry in the ledger (kind `audit_alert`, pk = the alert
 * key), written in one transaction, so an alert is chained like any event. The key is a hash of
 * what identifies the break, which makes raising the same alert twice a no-op: one alert per
 * distinct break, however many cycles see it.
 */
import { canonicalize } from '../core/canonical-json.js';
import { isSealtrailError } from '../core/errors.js';
import { sha256 } from '../core/hash.js';
import type { Ledger } from '../ledger/ledger.js';
import { installAnchoring, isoColumn, jsonColumn } from './schema.js';

export const ALERT_EVENT_KIND = 'audit_alert';

export type AlertSeverity = 'critical' | 'warning';

export interface AlertInput {
  /** `audit_chain_break` for integrity failures, `sink_stale` for a sink without fresh checkpoints. */
  kind: string;
  severity: AlertSeverity;
  seq: number | null;
  eventKind?: string | null;
  eventPk?: string | null;
  reason: string;
  /** Extra identity beyond (kind, seq, reason), e.g. the sink a staleness alert is about. */
  scope?: string;
  /**
   * Replaces seq in the identity when seq moves while the break stays the same (a witness
   * refusing a truncated ledger keeps refusing as alerts are appended to it).
   */
  identity?: string;
  details?: Record<string, unknown>;
}

export interface Alert {
  id: number;
  key: string;
  kind: string;
  severity: AlertSeverity;
  seq: number | null;
  eventKind: string | null;
  eventPk: string | null;
  reason: string;
  details: Record<string, unknown>;
  detectedAt: string;
}

export function alertKey(input: Pick<AlertInput, 'kind' | 'seq' | 'reason' | 'scope' | 'identity'>): string {
  return sha256(Buffer.from(canonicalize([input.kind, input.identity ?? input.seq, input.reason, input.scope ?? '']), 'utf8')).toString('hex');
}

/** Records the alert unless the same break was already recorded; `created` tells which. */
export async function raiseAlert(ledger: Ledger, input: AlertInput, now: Date = new Date()): Promise<{ alert: Alert; created: boolean }> {
  await installAnchoring(ledger.store);
  const key = alertKey(input);
  const existing = await findAlert(ledger, key);
  if (existing) return { alert: existing, created: false };
  const detectedAt = now.toISOString();
  const details = input.details ?? {};
  const payload = {
    kind: input.kind,
    severity: input.severity,
    seq: input.seq,
    event_kind: input.eventKind ?? null,
    event_pk: input.eventPk ?? null,
    reason: input.reason,
    details,
    detected_at: detectedAt,
  };
  try {
    await ledger.appendWith([{ kind: ALERT_EVENT_KIND, pk: key, payload }], async (tx) => {
      await tx.run(
        'INSERT INTO audit_alerts (alert_key, kind, severity, seq, event_kind, event_pk, reason, details, detected_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
        [key, input.kind, input.severity, input.seq, input.eventKind ?? null, input.eventPk ?? null, input.reason, JSON.stringify(details), detectedAt],
      );
    });
  } catch (err) {
    // Another monitor raised the same alert first (or the ledger already holds its entry).
    const raced = await findAlert(ledger, key);
    if (raced) return { alert: raced, created: false };
    if (!isSealtrailError(err, 'duplicate_event')) throw err;
    // The alert entry survived in the ledger but its row did not: record the row alone.
    await ledger.store.run(
      'INSERT INTO audit_alerts (alert_key, kind, severity, seq, event_kind, event_pk, reason, details, detected_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
      [key, input.kind, input.severity, input.seq, input.eventKind ?? null, input.eventPk ?? null, input.reason, JSON.stringify(details), detectedAt],
    );
  }
  const alert = await findAlert(ledger, key);
  return { alert: alert!, created: true };
}

export async function listAlerts(ledger: Ledger): Promise<Alert[]> {
  await installAnchoring(ledger.store);
  const rows = await ledger.store.query<AlertRow>(`${SELECT_ALERTS} ORDER BY id`);
  return rows.map(toAlert);
}

type AlertRow = {
  id: number;
  alert_key: string;
  kind: string;
  severity: AlertSeverity;
  seq: number | null;
  event_kind: string | null;
  event_pk: string | null;
  reason: string;
  details: unknown;
  detected_at: unknown;
};

const SELECT_ALERTS = 'SELECT id, alert_key, kind, severity, seq, event_kind, event_pk, reason, details, detected_at FROM audit_alerts';

async function findAlert(ledger: Ledger, key: string): Promise<Alert | undefined> {
  const rows = await ledger.store.query<AlertRow>(`${SELECT_ALERTS} WHERE alert_key = ?`, [key]);
  return rows[0] && toAlert(rows[0]);
}

function toAlert(r: AlertRow): Alert {
  return {
    id: Number(r.id),
    key: r.alert_key,
    kind: r.kind,
    severity: r.severity,
    seq: r.seq === null ? null : Number(r.seq),
    eventKind: r.event_kind,
    eventPk: r.event_pk,
    reason: r.reason,
    details: jsonColumn<Record<string, unknown>>(r.details, {}),
    detectedAt: isoColumn(r.detected_at) ?? '',
  };
}
