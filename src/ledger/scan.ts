/**
 * Scanning a source table against the chain: every row must have its chain entry and hash to
 * the chained event_hash now (else it was edited or never chained), and every chain entry of
 * that kind must still have its row (else it was deleted). Features (capture of watched
 * PostgreSQL tables, the task tables) describe their tables as ScanTargets; `sealtrail scan`
 * runs them all.
 */
import { compareCodePoints } from '../core/compare-code-points.js';
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

/**
 * `edited`, `deleted`, `unchained`: a row against its chain entry. PostgreSQL capture adds
 * `capture_disabled` (a table the chain says is watched whose capture trigger, truncate guard,
 * table or registry row is missing, disabled or altered; or a DDL evidence event trigger that was
 * installed and is gone or disabled), `capture_unrecorded` (a registry row no chained watch event
 * accounts for) and `evidence_mismatch` (a capture or evidence event whose stored payload no
 * longer hashes to its chained event_hash, so it cannot be relied on). docs/capture.md.
 */
export type FindingType = 'edited' | 'deleted' | 'unchained' | 'capture_disabled' | 'capture_unrecorded' | 'evidence_mismatch';

export interface ScanFinding {
  type: FindingType;
  event_kind: string;
  event_pk: string;
  /** The chain entry's seq (for capture findings: the watch or install event); null for a row that was never chained. */
  seq: number | null;
  /** Capture findings: what exactly is wrong (e.g. `trigger_missing`, `trigger_disabled`, `registry_missing`). */
  reason?: string;
  /** Capture findings about a table: the table as it was watched. */
  table?: string;
}

/** A chained DDL, maintenance or capture configuration event (PostgreSQL capture). */
export interface DdlEvidence {
  seq: number;
  /** `sealtrail.ddl`, `sealtrail.maintenance` or `sealtrail.capture.watch` / `.unwatch` / `.install`. */
  event_kind: string;
  /** Chained by sealtrail itself, or in the same transaction as one of its capture events. */
  by_sealtrail: boolean;
  /** The seq of that capture event; null when nothing sealtrail did explains it. */
  explained_by: number | null;
  /**
   * An unwatch, a re-watch that stopped chaining UPDATEs or DELETEs, or an install that dropped a
   * DDL evidence event trigger from what scan expects: reviewed like unexplained evidence.
   */
  weakens_capture: boolean;
  /** The event's payload, re-hashed by the scan (command_tag, object_identity, role, query, txid …). */
  payload: Record<string, unknown>;
}

export interface ScanReport {
  /** No finding, no DDL evidence that sealtrail's own operations do not explain, and no capture weakened. */
  ok: boolean;
  tables: Array<{ kind: string; rows: number; chained: number }>;
  findings: ScanFinding[];
  /** Evidence events with seq > `since` (empty on SQLite). */
  ddlEvidence: DdlEvidence[];
  /** The seq after which evidence was reported (0: all). */
  since: number;
}

/** Orders findings by seq (never-chained rows last), then by pk in code-unit order, whatever the locale. */
export function compareFindings(a: ScanFinding, b: ScanFinding): number {
  const bySeq = (a.seq ?? Infinity) - (b.seq ?? Infinity);
  if (bySeq !== 0) return bySeq;
  // Code point order: the same output in every locale.
  const byPk = compareCodePoints(a.event_pk, b.event_pk);
  if (byPk !== 0) return byPk;
  return compareCodePoints(a.reason ?? '', b.reason ?? '');
}

export async function scanTargets(store: Store, targets: readonly ScanTarget[]): Promise<ScanReport> {
  const report: ScanReport = { ok: true, tables: [], findings: [], ddlEvidence: [], since: 0 };
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
  report.findings.sort(compareFindings);
  report.ok = report.findings.length === 0;
  return report;
}
