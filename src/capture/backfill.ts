/** Backfill: chains rows that existed before their table was watched. */
import { SealtrailError } from '../core/errors.js';
import type { Store } from '../store/store.js';
import type { Ledger } from '../ledger/ledger.js';
import { captureLedger, resolveTable, columnsOf, type WatchedTable } from './resolve-table.js';
import { listWatched } from './watch-table.js';
import { quoteIdent } from './sql-quoting.js';
import { captureEvent } from './capture-event.js';

export interface BackfillResult {
  table: string;
  kind: string;
  /** Rows read. */
  rows: number;
  /** Rows newly chained (rows already chained with the same content are skipped). */
  chained: number;
}

/**
 * Chains rows that existed before the table was watched, in primary-key order, one committed
 * batch at a time: a re-run (or a run after a kill) adds only what is still missing. Given a
 * Ledger, appends share its group commit; a Store is accepted as before.
 */
export async function backfill(
  target: Ledger | Store,
  tables?: readonly string[],
  options: { batchSize?: number; onProgress?: (table: string, done: number, total: number) => void } = {},
): Promise<BackfillResult[]> {
  const ledger = captureLedger(target);
  const pgStore = ledger.store;
  const batchSize = options.batchSize ?? 5_000;
  const watched = await listWatched(pgStore);
  const selected: WatchedTable[] = [];
  for (const t of tables ?? watched.map((w) => w.table)) {
    const resolved = await resolveTable(pgStore, t);
    const w = watched.find((x) => x.table === resolved.name);
    if (!w) throw new SealtrailError('invalid_argument', `table ${resolved.name} is not watched; run \`sealtrail watch ${resolved.name}\` first`, { details: { table: resolved.name } });
    selected.push(w);
  }
  const results: BackfillResult[] = [];
  for (const w of selected) results.push(await backfillTable(ledger, w, batchSize, options.onProgress));
  return results;
}

async function backfillTable(
  ledger: Ledger,
  w: WatchedTable,
  batchSize: number,
  onProgress?: (table: string, done: number, total: number) => void,
): Promise<BackfillResult> {
  const store = ledger.store;
  const { relid } = await resolveTable(store, w.table);
  const types = await store.query<{ name: string; type: string }>(
    'SELECT attname::text AS name, format_type(atttypid, atttypmod) AS type FROM pg_attribute WHERE attrelid = ?::oid AND attnum > 0 AND NOT attisdropped',
    [relid],
  );
  const pkTypes = w.pkColumns.map((c) => types.find((t) => t.name === c)!.type);
  const columns = await columnsOf(store, relid);
  const total = Number((await store.query<{ n: number }>(`SELECT count(*) AS n FROM ${w.table}`))[0]?.n ?? 0);
  const pkList = w.pkColumns.map((c) => `t.${quoteIdent(c)}`).join(', ');
  const pkText = w.pkColumns.map((c, i) => `t.${quoteIdent(c)}::text AS k${i}`).join(', ');
  const after = `WHERE ROW(${pkList}) > ROW(${pkTypes.map((t) => `?::${t}`).join(', ')})`;
  const read = (last: string[] | null) =>
    store.query<Record<string, string>>(`SELECT to_jsonb(t.*)::text AS j, ${pkText} FROM ${w.table} t ${last ? after : ''} ORDER BY ${pkList} LIMIT ${batchSize}`, last ?? []);
  let rows = 0;
  let chained = 0;
  // Canonical forms and hashes are computed here; each batch is one committed group-commit
  // transaction, so a killed run resumes where it stopped and a re-run finds every row chained.
  // The next batch is read while the current one is being appended.
  let batch = await read(null);
  while (batch.length > 0) {
    const lastRow = batch[batch.length - 1]!;
    const next = batch.length < batchSize ? Promise.resolve([]) : read(w.pkColumns.map((_, i) => lastRow[`k${i}`]!));
    // A failed read must not go unobserved while the append is still running.
    next.catch(() => {});
    const { entries } = await ledger.appendPrepared(batch.map((r) => captureEvent(w.kind, columns, r.j!, w.pkColumns)));
    rows += batch.length;
    chained += entries.filter((e) => !e.existing).length;
    onProgress?.(w.table, rows, total);
    batch = await next;
  }
  return { table: w.table, kind: w.kind, rows, chained };
}
