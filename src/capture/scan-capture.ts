/** The capture scan: every watched row recomputed and held to the chain, in one snapshot. */
import { compareCodePoints } from '../core/compare-code-points.js';
import { canonicalHash } from '../core/canonical-json.js';
import { SealtrailError } from '../core/errors.js';
import { parseVersionKey } from '../core/row-key.js';
import { compareFindings, scanTargets, type ScanFinding, type ScanReport, type ScanTarget } from '../ledger/scan.js';
import { loadMigrations } from '../store/migrate.js';
import type { Queryable, Store } from '../store/store.js';
import { canonicalRowAndPk } from './canonical-row.js';
import { captureFindings, captureHistory, ddlEvidenceSince, expectedFunctions, functionFindings, registryRows, watchedRelid, type CaptureHistory } from './capture-state.js';
import { requirePostgres, columnsOf, CAPTURE_MIGRATIONS } from './resolve-table.js';
import { pgArray, quoteIdent } from './sql-quoting.js';

interface ChainedVersion {
  seq: number;
  pk: string;
  op: 'insert' | 'update' | 'delete';
  eventHash: Buffer;
}

/**
 * Every chained version of each row key that has more than its insert: with UPDATE/DELETE capture
 * the latest version is what the row must look like now (or that it is gone).
 */
async function chainedVersions(q: Queryable, kind: string): Promise<Map<string, ChainedVersion[]>> {
  const byPk = new Map<string, ChainedVersion[]>();
  const rows = await q.query<{ seq: number; event_pk: string; event_hash: Buffer }>(
    `SELECT seq, event_pk, event_hash FROM audit_chain WHERE event_kind = ? AND event_pk ~ '@[0-9]+$' ORDER BY seq`,
    [kind],
  );
  const reinserts: Array<{ base: string; v: ChainedVersion }> = [];
  for (const r of rows) {
    const parsed = parseVersionKey(r.event_pk, Number(r.seq));
    if (!parsed) continue;
    const base = parsed.rowPk;
    const v: ChainedVersion = { seq: Number(r.seq), pk: r.event_pk, op: parsed.op === 'reinsert' ? 'insert' : parsed.op, eventHash: r.event_hash };
    if (v.op === 'insert') reinserts.push({ base, v });
    else byPk.set(base, [...(byPk.get(base) ?? []), v]);
  }
  // pk@seq is a version only as the re-insert of a key whose delete was chained; otherwise it
  // stays what it was (a conflicting payload, reported by the scan as it always was).
  for (const { base, v } of reinserts) {
    const list = byPk.get(base);
    const before = list?.filter((x) => x.seq < v.seq).at(-1);
    if (list && before?.op === 'delete') {
      list.push(v);
      list.sort((x, y) => x.seq - y.seq);
    }
  }
  if (byPk.size > 0) {
    const bases = await q.query<{ seq: number; event_pk: string; event_hash: Buffer }>(
      'SELECT seq, event_pk, event_hash FROM audit_chain WHERE event_kind = ? AND event_pk = ANY (?::text[])',
      [kind, pgArray([...byPk.keys()])],
    );
    for (const r of bases) byPk.get(r.event_pk)!.unshift({ seq: Number(r.seq), pk: r.event_pk, op: 'insert', eventHash: r.event_hash });
  }
  return byPk;
}

/**
 * Scan targets for every watched table: each row recomputed in TypeScript (canonical row form,
 * event_hash). Rows whose identical event is still waiting in the outbox (queued mode, not yet
 * sequenced) are not reported. With UPDATE/DELETE capture the latest chained version of a key is
 * the expected row: an update whose version was chained is not an edit, a delete whose version
 * was chained is not a deletion; earlier versions are accounted for by the latest one, so the
 * table's `rows` count includes them. `q` lets the scan run inside one snapshot.
 */
export async function captureScanTargets(
  store: Store,
  q: Queryable & { cursorBatches?: CursorReader } = store,
  history?: CaptureHistory,
): Promise<ScanTarget[]> {
  requirePostgres(store);
  const targets: ScanTarget[] = [];
  for (const w of await scannedTables(q, history ?? (await captureHistory(q)))) {
    if (w.relid === null) {
      // The table is gone: every row chained under its kind is unaccounted for.
      targets.push({ kind: w.kind, rows: async function* () {} });
      continue;
    }
    const relid = w.relid;
    const columns = await columnsOf(q, relid);
    // Queued events not yet chained: key -> the row contents they carry (null: a pending delete).
    const pending = new Map<string, Array<Buffer | null>>();
    const outbox = await q.query<{ op: string; row_data: string | null; old_data: string | null }>(
      'SELECT op, row_data::text AS row_data, old_data::text AS old_data FROM capture_outbox WHERE event_kind = ? ORDER BY id',
      [w.kind],
    );
    for (const r of outbox) {
      if (r.old_data !== null) {
        const old = canonicalRowAndPk(columns, r.old_data, w.pkColumns);
        if (r.op === 'delete' || r.row_data === null || canonicalRowAndPk(columns, r.row_data, w.pkColumns).pk !== old.pk) {
          pending.set(old.pk, [...(pending.get(old.pk) ?? []), null]);
        }
      }
      if (r.row_data !== null) {
        const now = canonicalRowAndPk(columns, r.row_data, w.pkColumns);
        pending.set(now.pk, [...(pending.get(now.pk) ?? []), canonicalHash(now.payload)]);
      }
    }
    const versions = await chainedVersions(q, w.kind);
    const baseHash = new Map<string, ChainedVersion>();
    const pendingChained = [...pending.keys()].filter((pk) => !versions.has(pk));
    if (pendingChained.length > 0) {
      for (const r of await q.query<{ seq: number; event_pk: string; event_hash: Buffer }>(
        'SELECT seq, event_pk, event_hash FROM audit_chain WHERE event_kind = ? AND event_pk = ANY (?::text[])',
        [w.kind, pgArray(pendingChained)],
      )) {
        baseHash.set(r.event_pk, { seq: Number(r.seq), pk: r.event_pk, op: 'insert', eventHash: r.event_hash });
      }
    }
    const chainedOf = (pk: string): ChainedVersion[] => versions.get(pk) ?? (baseHash.has(pk) ? [baseHash.get(pk)!] : []);
    // A row that no longer hashes to any sha256 output: "edited" at the version it contradicts.
    const NEVER = Buffer.alloc(32);
    targets.push({
      kind: w.kind,
      rows: async function* () {
        const read = q.cursorBatches ?? pagedReader(q);
        const seen = new Set<string>();
        for await (const batch of read(`SELECT to_jsonb(t.*)::text AS j FROM ${w.table} t`)) {
          for (const r of batch) {
            const { payload, pk } = canonicalRowAndPk(columns, r.j as string, w.pkColumns);
            const eventHash = canonicalHash(payload);
            const queued = pending.get(pk);
            const list = versions.get(pk);
            if (queued?.some((h) => h !== null && h.equals(eventHash))) {
              // Its latest content is on its way into the chain; what is chained so far stands.
              if (list || baseHash.has(pk)) seen.add(pk);
              for (const v of chainedOf(pk)) yield { pk: v.pk, eventHash: v.eventHash };
              continue;
            }
            if (!list) {
              if (baseHash.has(pk)) seen.add(pk);
              yield { pk, eventHash };
              continue;
            }
            seen.add(pk);
            const latest = list[list.length - 1]!;
            for (const v of list.slice(0, -1)) yield { pk: v.pk, eventHash: v.eventHash };
            yield { pk: latest.pk, eventHash: latest.op === 'delete' ? NEVER : eventHash };
          }
        }
        // Keys without a row: fine when their delete is chained (or queued); otherwise the latest
        // version is left unaccounted for, so it is reported as deleted.
        for (const pk of new Set([...versions.keys(), ...baseHash.keys()])) {
          if (seen.has(pk)) continue;
          const list = chainedOf(pk);
          const gone = list[list.length - 1]?.op === 'delete' || pending.get(pk)?.includes(null) === true;
          for (const v of gone ? list : list.slice(0, -1)) yield { pk: v.pk, eventHash: v.eventHash };
        }
      },
    });
  }
  return targets;
}

type CursorReader = (sql: string) => AsyncIterable<Array<Record<string, unknown>>>;

interface ScannedTable {
  kind: string;
  /** A SQL name for the table (schema-qualified, quoted). */
  table: string;
  relid: number | null;
  pkColumns: string[];
}

/**
 * The tables to scan: every table the chain says is watched (a dropped one with no rows), plus
 * registry rows no chained watch accounts for (reported as `capture_unrecorded`, still scanned).
 */
async function scannedTables(q: Queryable, history: CaptureHistory): Promise<ScannedTable[]> {
  const tables: ScannedTable[] = [];
  for (const w of history.watched.values()) {
    tables.push({ kind: w.kind, table: `${quoteIdent(w.schema)}.${quoteIdent(w.name)}`, relid: await watchedRelid(q, w), pkColumns: w.pkColumns });
  }
  for (const row of await registryRows(q)) {
    if (row.name === null || row.schema === null || history.watched.has(row.event_kind)) continue;
    tables.push({ kind: row.event_kind, table: `${quoteIdent(row.schema)}.${quoteIdent(row.name)}`, relid: Number(row.relid), pkColumns: row.pk_columns });
  }
  return tables.sort((a, b) => compareCodePoints(a.kind, b.kind));
}

/** The capture functions as the capture migrations applied to this database define them. */
async function appliedFunctions(q: Queryable): Promise<Map<string, string>> {
  const applied = await q.query<{ version: number | string; sha256: string }>(`SELECT version, sha256 FROM sealtrail_migrations WHERE component = 'capture'`);
  const steps = loadMigrations(CAPTURE_MIGRATIONS, 'postgres');
  // A step whose text differs from the applied one is migration_changed, reported by init; a
  // database not yet upgraded is held to the steps it has.
  const sql = steps.filter((m) => applied.some((a) => Number(a.version) === m.version && a.sha256 === m.sha256)).map((m) => m.sql);
  return expectedFunctions(sql);
}

export interface ScanOptions {
  /**
   * Report DDL evidence chained after this seq only (the last trusted state; default 0: all).
   * Capture state (`capture_disabled` …) and rows are always checked in full.
   */
  since?: number;
  /** Called as rows are read: the target's kind and how many of its rows so far (for a progress line). */
  onProgress?: (kind: string, rows: number) => void;
}

/** The same targets, reporting each row read to `onProgress`. */
function counted(targets: readonly ScanTarget[], onProgress: (kind: string, rows: number) => void): ScanTarget[] {
  return targets.map((t) => ({
    ...t,
    rows: async function* () {
      let n = 0;
      for await (const row of t.rows()) {
        onProgress(t.kind, ++n);
        yield row;
      }
    },
  }));
}

function pagedReader(q: Queryable): CursorReader {
  return async function* (sql: string) {
    yield await q.query(sql);
  };
}

/**
 * Scans every watched table (plus `extraTargets`, e.g. the task tables) in one REPEATABLE READ
 * snapshot, so rows committed during the scan cannot look unchained.
 */
export async function scanCapture(
  store: Store,
  extraTargets: (q: Store) => ScanTarget[] | Promise<ScanTarget[]> = () => [],
  options: ScanOptions = {},
): Promise<ScanReport> {
  const since = options.since ?? 0;
  if (!Number.isSafeInteger(since) || since < 0) {
    throw new SealtrailError('invalid_argument', `since must be a seq (a non-negative integer), not ${JSON.stringify(since)}`, { details: { since } });
  }
  if (store.dialect !== 'postgres') return { ...(await scanTargets(store, await extraTargets(store))), since };
  return store.transaction(async (tx) => {
    await tx.exec('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY');
    let cursors = 0;
    const view = Object.create(store) as Store & { cursorBatches: CursorReader };
    view.query = (sql, params) => tx.query(sql, params);
    view.run = (sql, params) => tx.run(sql, params);
    view.cursorBatches = async function* (sql: string) {
      const name = `sealtrail_scan_${++cursors}`;
      await tx.exec(`DECLARE ${name} NO SCROLL CURSOR FOR ${sql}`);
      try {
        for (;;) {
          const rows = await tx.query(`FETCH 5000 FROM ${name}`);
          if (rows.length === 0) return;
          yield rows;
        }
      } finally {
        await tx.exec(`CLOSE ${name}`);
      }
    };
    const history = await captureHistory(view);
    const state = [...(await captureFindings(view, history)), ...(await functionFindings(view, await appliedFunctions(view)))];
    const { evidence, mismatched } = await ddlEvidenceSince(view, history, since);
    const all = [...(await captureScanTargets(store, view, history)), ...(await extraTargets(view))];
    const targets = options.onProgress ? counted(all, options.onProgress) : all;
    const report = await scanTargets(view, targets);
    const bySeq = new Map<number | null, ScanFinding>();
    for (const f of [...history.mismatched, ...mismatched]) bySeq.set(f.seq, f);
    report.findings = [...report.findings, ...state, ...bySeq.values()].sort(compareFindings);
    report.ddlEvidence = evidence;
    report.since = since;
    report.ok = report.findings.length === 0 && evidence.every((e) => e.by_sealtrail && !e.weakens_capture);
    return report;
  });
}
