/**
 * Scanning a source table against the chain: every row must have its chain entry and hash to
 * the chained event_hash now (else it was edited or never chained), and every chain entry of
 * that kind must still have its row (else it was deleted). Features (capture of watched
 * PostgreSQL tables, the task tables) describe their tables as ScanTargets; `sealtrail scan`
 * runs them all.
 */
import type { Store } from '../store/store.js';

export interface ScanTarget {
  /** The event_kind its rows are chained under (usually the table name). */
  kind: string;
  /**
   * The table's rows as they are NOW: each row's event_pk and the event_hash its current
   * content would have. Only rows that should be chained are listed.
   */
  rows(): AsyncIterable<{ pk: string; eventHash: Buffer }>;
}

export type FindingType = 'edited' | 'deleted' | 'unchained';

export interface ScanFinding {
  type: FindingType;
  event_kind: string;
  event_pk: string;
  /** The chain entry's seq; null for a row that was never chained. */
  seq: number | null;
}

export interface ScanReport {
  ok: boolean;
  tables: Array<{ kind: string; rows: number; chained: number }>;
  findings: ScanFinding[];
}

export async function scanTargets(store: Store, targets: readonly ScanTarget[]): Promise<ScanReport> {
  const report: ScanReport = { ok: true, tables: [], findings: [] };
  for (const target of targets) {
    const chained = new Map<string, { seq: number; eventHash: Buffer }>();
    const rows = await store.query<{ seq: number; event_pk: string; event_hash: Buffer }>(
      'SELECT seq, event_pk, event_hash FROM audit_chain WHERE event_kind = ?',
      [target.kind],
    );
    for (const r of rows) chained.set(r.event_pk, { seq: Number(r.seq), eventHash: r.event_hash });
    let count = 0;
    const seen = new Set<string>();
    for await (const row of target.rows()) {
      count++;
      seen.add(row.pk);
      const entry = chained.get(row.pk);
      if (!entry) report.findings.push({ type: 'unchained', event_kind: target.kind, event_pk: row.pk, seq: null });
      else if (!entry.eventHash.equals(row.eventHash)) report.findings.push({ type: 'edited', event_kind: target.kind, event_pk: row.pk, seq: entry.seq });
    }
    for (const [pk, entry] of chained) {
      if (!seen.has(pk)) report.findings.push({ type: 'deleted', event_kind: target.kind, event_pk: pk, seq: entry.seq });
    }
    report.tables.push({ kind: target.kind, rows: count, chained: chained.size });
  }
  report.findings.sort((a, b) => (a.seq ?? Infinity) - (b.seq ?? Infinity) || a.event_pk.localeCompare(b.event_pk));
  report.ok = report.findings.length === 0;
  return report;
}
