/**
 * Alerts: a row in audit_alerts AND an entry in the ledger (kind `audit_alert`, pk = the alert
 * key), written in one transaction, so an alert is chained like any event. The key is a hash of
 * what identifies the break, which makes raising the same alert twice a no-op: one alert per
 * distinct break, however many cycles see it.
 */
import { canonicalize } from '../core/canonical-json.js';
import { isSealtrailError, SealtrailError } from '../core/errors.js';
import { sha256 } from '../core/hash.js';
import type { Ledger } from '../ledger/ledger.js';
import type { Queryable, SqlValue } from '../store/store.js';
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

/**
 * Records the alert unless the same break was already recorded; `created` tells which. With
 * `alertTable`, a pending delivery to that table is recorded in the same transaction
 * (deliverAlerts performs it), so a crash in between cannot lose it.
 */
export async function raiseAlert(
  ledger: Ledger,
  input: AlertInput,
  now: Date = new Date(),
  options: { alertTable?: AlertTable; /** Record the row without a ledger entry, for this reason (the ledger's head cannot be appended to safely). */ unchained?: string } = {},
): Promise<{ alert: Alert; created: boolean }> {
  await installAnchoring(ledger.store);
  const key = alertKey(input);
  const existing = await findAlert(ledger, key);
  if (existing) return { alert: existing, created: false };
  const detectedAt = now.toISOString();
  const details = input.details ?? {};
  const target = options.alertTable?.table;
  const queue = async (tx: Queryable) => {
    if (target !== undefined) await tx.run('INSERT INTO audit_alert_deliveries (alert_key, target) VALUES (?, ?) ON CONFLICT DO NOTHING', [key, target]);
  };
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
    if (options.unchained !== undefined) throw new SealtrailError('integrity_failure', options.unchained);
    await ledger.appendWith([{ kind: ALERT_EVENT_KIND, pk: key, payload }], async (tx) => {
      await tx.run(
        'INSERT INTO audit_alerts (alert_key, kind, severity, seq, event_kind, event_pk, reason, details, detected_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
        [key, input.kind, input.severity, input.seq, input.eventKind ?? null, input.eventPk ?? null, input.reason, JSON.stringify(details), detectedAt],
      );
      await queue(tx);
    });
  } catch (err) {
    // Another monitor raised the same alert first (or the ledger already holds its entry).
    const raced = await findAlert(ledger, key);
    if (raced) return { alert: raced, created: false };
    // Either the alert entry survived in the ledger but its row did not, or the ledger cannot take
    // an entry at all (a broken ledger is exactly when alerts matter): record the row alone, saying
    // why it is not chained, so the alert still reaches its row, the webhook and the alert table.
    const unchained = isSealtrailError(err, 'duplicate_event')
      ? details
      : { ...details, unchained: { code: isSealtrailError(err) ? err.code : 'internal', message: (err as Error).message } };
    await ledger.store.transaction(async (tx) => {
      await tx.run(
        'INSERT INTO audit_alerts (alert_key, kind, severity, seq, event_kind, event_pk, reason, details, detected_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
        [key, input.kind, input.severity, input.seq, input.eventKind ?? null, input.eventPk ?? null, input.reason, JSON.stringify(unchained), detectedAt],
      );
      await queue(tx);
    });
  }
  const alert = await findAlert(ledger, key);
  return { alert: alert!, created: true };
}

/** Records pending deliveries to `table` for alerts raised elsewhere (publishing); already queued ones stay as they are. */
export async function queueDeliveries(ledger: Ledger, table: AlertTable, keys: readonly string[]): Promise<void> {
  await installAnchoring(ledger.store);
  for (const key of keys) await ledger.store.run('INSERT INTO audit_alert_deliveries (alert_key, target) VALUES (?, ?) ON CONFLICT DO NOTHING', [key, table.table]);
}

/**
 * Inserts every alert still pending for the operator's table into it, each in one transaction
 * with marking it delivered: at most once per alert, retried by the next call after a failure.
 * Throws `alert_table_failed` (after trying every pending alert) when any insert failed.
 */
export async function deliverAlerts(ledger: Ledger, table: AlertTable): Promise<number> {
  await installAnchoring(ledger.store);
  const columns = alertColumns(table);
  const sql = `INSERT INTO ${quoteIdentifier(table.table)} (${columns.map(([, column]) => quoteIdentifier(column)).join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`;
  const pending = await ledger.store.query<AlertRow>(
    `${SELECT_ALERTS} WHERE alert_key IN (SELECT alert_key FROM audit_alert_deliveries WHERE target = ? AND delivered_at IS NULL) ORDER BY id`,
    [table.table],
  );
  const failures: Array<{ alert_key: string; message: string }> = [];
  let delivered = 0;
  for (const alert of pending.map(toAlert)) {
    try {
      await ledger.store.transaction(async (tx) => {
        await tx.run(sql, columns.map(([field]) => alertField(alert, field)));
        await tx.run('UPDATE audit_alert_deliveries SET delivered_at = ? WHERE alert_key = ? AND target = ?', [new Date().toISOString(), alert.key, table.table]);
      });
      delivered++;
    } catch (err) {
      failures.push({ alert_key: alert.key, message: (err as Error).message });
    }
  }
  if (failures.length > 0) {
    throw new SealtrailError(
      'alert_table_failed',
      `${failures.length} alert(s) could not be inserted into ${table.table} (retried next cycle): ${failures[0]!.message}`,
      { details: { table: table.table, failures } },
    );
  }
  return delivered;
}

/** The fields of an alert that can be mapped onto the operator's columns. */
export const ALERT_FIELDS = ['kind', 'severity', 'seq', 'event_kind', 'event_pk', 'reason', 'details', 'detected_at', 'alert_key'] as const;
export type AlertField = (typeof ALERT_FIELDS)[number];

/** An existing table of the operator's that every alert is additionally inserted into. */
export interface AlertTable {
  /** `table` or `schema.table`, used exactly as written (quoted). */
  table: string;
  /** Alert field -> the operator's column; default: the seven fields below, each into a column of its own name. */
  columns?: Partial<Record<AlertField, string>>;
}

const DEFAULT_ALERT_COLUMNS: AlertField[] = ['kind', 'severity', 'seq', 'event_pk', 'reason', 'details', 'detected_at'];
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/** Checks an alert-table setting; throws `invalid_argument` naming what is wrong. */
export function validateAlertTable(value: AlertTable): AlertTable {
  const parts = typeof value.table === 'string' ? value.table.split('.') : [];
  if (parts.length < 1 || parts.length > 2 || !parts.every((p) => IDENTIFIER.test(p))) {
    throw new SealtrailError('invalid_argument', `alert table ${JSON.stringify(value.table)} must be a name or schema.name of letters, digits and _`, {
      details: { table: String(value.table) },
    });
  }
  const columns = value.columns ?? {};
  const entries = Object.entries(columns);
  const unknown = entries.filter(([field]) => !(ALERT_FIELDS as readonly string[]).includes(field)).map(([field]) => field);
  if (unknown.length > 0) {
    throw new SealtrailError('invalid_argument', `alert table columns: unknown field ${unknown.join(', ')} (known: ${ALERT_FIELDS.join(', ')})`, { details: { fields: unknown } });
  }
  for (const [field, column] of entries) {
    if (typeof column !== 'string' || !IDENTIFIER.test(column)) {
      throw new SealtrailError('invalid_argument', `alert table column for ${field} must be a column name of letters, digits and _, got ${JSON.stringify(column)}`, {
        details: { field },
      });
    }
  }
  const targets = entries.map(([, column]) => column.toLowerCase());
  if (new Set(targets).size !== targets.length) throw new SealtrailError('invalid_argument', 'alert table columns: two fields map to the same column');
  return value.columns ? { table: value.table, columns: { ...value.columns } } : { table: value.table };
}

function alertColumns(table: AlertTable): Array<[AlertField, string]> {
  validateAlertTable(table);
  if (!table.columns || Object.keys(table.columns).length === 0) return DEFAULT_ALERT_COLUMNS.map((f) => [f, f]);
  return ALERT_FIELDS.filter((f) => table.columns![f] !== undefined).map((f) => [f, table.columns![f]!]);
}

function quoteIdentifier(name: string): string {
  return name
    .split('.')
    .map((part) => `"${part.replaceAll('"', '""')}"`)
    .join('.');
}

function alertField(alert: Alert, field: AlertField): SqlValue {
  switch (field) {
    case 'kind':
      return alert.kind;
    case 'severity':
      return alert.severity;
    case 'seq':
      return alert.seq;
    case 'event_kind':
      return alert.eventKind;
    case 'event_pk':
      return alert.eventPk;
    case 'reason':
      return alert.reason;
    case 'details':
      return JSON.stringify(alert.details);
    case 'detected_at':
      return alert.detectedAt;
    case 'alert_key':
      return alert.key;
  }
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
