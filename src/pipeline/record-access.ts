/**
 * Guarded SQL for pipeline records: inserts and updates that must change exactly one row (else
 * audit_integrity), and strict reads that pass every loaded row through the same rules the writer
 * applies. A fetch-one that matches two rows is an integrity error, never "the first one".
 */
import type { Queryable, SqlValue } from '../store/store.js';
import { checkRecord, integrityError } from './record-rules.js';
import { columnsOf, rawRecord, recordPk, selectList, TABLES, type PipelineRecord, type PipelineTable } from './tables.js';

export async function insertRecord(db: Queryable, table: PipelineTable, record: PipelineRecord): Promise<void> {
  const columns = columnsOf(table);
  const changed = await db.run(
    `INSERT INTO ${table} (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`,
    columns.map((c) => record[c] ?? null),
  );
  if (changed !== 1) throw integrityError(table, recordPk(table, record), 'affected_rows', `the insert changed ${changed} rows, not 1`);
}

/**
 * Writes `record` over the stored row with the same key, only if the row still holds `expected`
 * (the status it is leaving): a concurrent or replayed transition changes nothing and fails.
 */
export async function updateRecord(db: Queryable, table: PipelineTable, record: PipelineRecord, expected: Record<string, string>): Promise<void> {
  const key = TABLES[table].key;
  const columns = columnsOf(table).filter((c) => !key.includes(c));
  const where = [...key, ...Object.keys(expected)];
  const changed = await db.run(
    `UPDATE ${table} SET ${columns.map((c) => `${c} = ?`).join(', ')} WHERE ${where.map((c) => `${c} = ?`).join(' AND ')}`,
    [...columns.map((c) => record[c] ?? null), ...key.map((c) => record[c] ?? null), ...Object.values(expected)],
  );
  if (changed !== 1) {
    throw integrityError(table, recordPk(table, record), 'affected_rows', `the update changed ${changed} rows, not 1 (was it still ${JSON.stringify(expected)}?)`);
  }
}

export async function deleteRecord(db: Queryable, table: PipelineTable, record: PipelineRecord): Promise<void> {
  const key = TABLES[table].key;
  const changed = await db.run(`DELETE FROM ${table} WHERE ${key.map((c) => `${c} = ?`).join(' AND ')}`, key.map((c) => record[c] ?? null));
  if (changed !== 1) throw integrityError(table, recordPk(table, record), 'affected_rows', `the delete changed ${changed} rows, not 1`);
}

/** Every row matching `where` (SQL over the table aliased `x`), each checked strictly. */
export async function fetchAll(db: Queryable, table: PipelineTable, where: string, params: readonly SqlValue[], orderBy?: string): Promise<PipelineRecord[]> {
  const rows = await db.query(`SELECT ${selectList(table, 'x')} FROM ${table} x WHERE ${where}${orderBy ? ` ORDER BY ${orderBy}` : ''}`, params);
  return rows.map((row) => checkRecord(table, rawRecord(table, row)));
}

/** The one row matching `where`, or null; two rows are an integrity error. */
export async function fetchOne(db: Queryable, table: PipelineTable, where: string, params: readonly SqlValue[]): Promise<PipelineRecord | null> {
  const rows = await fetchAll(db, table, where, params);
  if (rows.length > 1) {
    throw integrityError(table, recordPk(table, rows[0]!), 'fetch_one', `${rows.length} rows match where one is expected (${where})`);
  }
  return rows[0] ?? null;
}
