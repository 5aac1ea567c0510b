/**
 * The task tables as `sealtrail scan` targets: every row's current content is hashed with the
 * same canonical payload it was chained under, so an edited row no longer matches its chain
 * entry and a deleted row leaves an orphaned entry.
 */
import { eventHash } from '../core/canonical-json.js';
import type { ScanTarget } from '../ledger/scan.js';
import type { Row, Store } from '../store/store.js';
import {
  ARTIFACT_SELECT,
  ARTIFACT_TABLE,
  AUDIT_SELECT,
  AUDIT_TABLE,
  artifactFromRow,
  artifactRowPayload,
  auditFromRow,
  auditRowPayload,
} from './rows.js';
import { taskSchemaInstalled } from './schema.js';

const PAGE_SIZE = 1000;

export function taskScanTargets(store: Store): ScanTarget[] {
  return [
    {
      kind: AUDIT_TABLE,
      rows: () => hashedRows(store, `SELECT ${AUDIT_SELECT} FROM ${AUDIT_TABLE} a`, (row) => eventHash(auditRowPayload(auditFromRow(row)))),
    },
    {
      kind: ARTIFACT_TABLE,
      rows: () => hashedRows(store, `SELECT ${ARTIFACT_SELECT} FROM ${ARTIFACT_TABLE} r`, (row) => eventHash(artifactRowPayload(artifactFromRow(row)))),
    },
  ];
}

/** Keyset pagination by id, so a large table is never held in memory at once. */
async function* hashedRows(store: Store, select: string, hash: (row: Row) => Buffer): AsyncIterable<{ pk: string; eventHash: Buffer }> {
  // Scanning is read-only: a database where the task tables were never installed has no rows
  // (and no chain entries of these kinds); one where they were installed and then dropped fails loudly.
  if (!(await taskSchemaInstalled(store))) return;
  const alias = select.slice(select.lastIndexOf(' ') + 1);
  let after: string | null = null;
  while (true) {
    const page: Row[] = after === null
      ? await store.query(`${select} ORDER BY ${alias}.id LIMIT ?`, [PAGE_SIZE])
      : await store.query(`${select} WHERE ${alias}.id > ? ORDER BY ${alias}.id LIMIT ?`, [after, PAGE_SIZE]);
    for (const row of page) yield { pk: String(row.id), eventHash: hash(row) };
    if (page.length < PAGE_SIZE) return;
    after = String(page[page.length - 1]!.id);
  }
}
