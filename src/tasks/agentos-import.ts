/**
 * Adoption: brings an existing database of the agentos task-audit system into sealtrail. Its
 * `task_audits` rows keep their details in a payload JSON (operation, status, files_changed,
 * lines, git summaries, commit_hash, error); they are mapped to our columns, whatever is left of
 * the payload stays in ours. `task_artifact_ref` rows map one to one. Original ids and
 * timestamps are kept and every row is chained like one recorded live, so a second run finds
 * them all already there and changes nothing. A row that cannot be mapped (bad JSON, an unknown
 * ref type, a timestamp that is not one) is reported and skipped; the rest still import.
 */
import { isSealtrailError, SealtrailError } from '../core/errors.js';
import type { Ledger } from '../ledger/ledger.js';
import { openStore } from '../store/open-store.js';
import type { Row, Store } from '../store/store.js';
import { AUDIT_TABLE, ARTIFACT_TABLE, REF_TYPES, type AuditRecord } from './rows.js';
import { ensureTaskSchema } from './schema.js';
import { TaskArtifactService } from './task-artifact-service.js';
import { TaskAuditService } from './task-audit-service.js';
import { parseJson } from '../core/canonical-json.js';

export interface ImportCounts {
  /** Rows read from the agentos table. */
  read: number;
  /** Newly chained and inserted. */
  imported: number;
  /** Already in sealtrail (an earlier import). */
  existing: number;
  /** Reported in `problems`, not imported. */
  failed: number;
}

export interface ImportProblem {
  table: typeof AUDIT_TABLE | typeof ARTIFACT_TABLE;
  id: string;
  reason: string;
}

export interface AgentosImportReport {
  source: string;
  audits: ImportCounts;
  artifacts: ImportCounts;
  problems: ImportProblem[];
}

/** Payload keys that become our columns; everything else stays in the payload. */
const MAPPED_KEYS = new Set([
  'operation',
  'status',
  'files_changed',
  'lines_added',
  'lines_deleted',
  'lines',
  'git_status_summary',
  'git_diff_summary',
  'commit_hash',
  'error',
  'error_message',
]);

/** agentos ref types that are spelt differently here. */
const REF_ALIASES: Record<string, string> = { pull_request: 'pr', pullrequest: 'pr' };

class RowProblem extends Error {}

/** ISO-8601 or SQLite's `YYYY-MM-DD HH:MM:SS[.fff]` (UTC), as ISO-8601 with milliseconds. */
function timestamp(value: unknown): string {
  let text = typeof value === 'string' ? value.trim() : typeof value === 'number' ? new Date(value).toISOString() : '';
  if (/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d+)?$/.test(text)) text = `${text.replace(' ', 'T')}Z`;
  const ms = /^\d{4}-\d{2}-\d{2}T/.test(text) ? Date.parse(text) : NaN;
  if (Number.isNaN(ms)) throw new RowProblem(`created_at ${JSON.stringify(String(value))} is not a timestamp`);
  return new Date(ms).toISOString();
}

function jsonText(column: string, value: unknown): unknown {
  if (value === null || value === undefined || value === '') return null;
  try {
    return parseJson(typeof value === 'string' ? value : String(value));
  } catch {
    throw new RowProblem(`${column} is not valid JSON`);
  }
}

function optionalInteger(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : undefined;
}

async function tableExists(store: Store, table: string): Promise<boolean> {
  return (await store.query("SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?", [table])).length > 0;
}

async function* rowsOf(store: Store, table: string): AsyncIterable<Row> {
  // Keyset pages by rowid: constant memory on a large database, one order every run.
  let after = -1;
  for (;;) {
    const rows = await store.query(`SELECT rowid AS sealtrail_rowid, * FROM ${table} WHERE rowid > ? ORDER BY rowid LIMIT 1000`, [after]);
    if (rows.length === 0) return;
    for (const row of rows) yield row;
    after = Number(rows[rows.length - 1]!['sealtrail_rowid']);
  }
}

function reason(err: unknown): string {
  if (err instanceof RowProblem) return err.message;
  if (isSealtrailError(err)) return `${err.message} [${err.code}]`;
  throw err;
}

export async function importAgentosDatabase(ledger: Ledger, path: string): Promise<AgentosImportReport> {
  let source: Store;
  try {
    source = openStore(path, { readonly: true });
  } catch (err) {
    throw new SealtrailError('invalid_argument', `agentos database ${path} cannot be opened`, { cause: err, details: { path } });
  }
  try {
    const hasAudits = await tableExists(source, AUDIT_TABLE);
    const hasRefs = await tableExists(source, ARTIFACT_TABLE);
    if (!hasAudits && !hasRefs) {
      throw new SealtrailError('invalid_argument', `${path} is not an agentos database: it has neither ${AUDIT_TABLE} nor ${ARTIFACT_TABLE}`, { details: { path } });
    }
    await ensureTaskSchema(ledger.store);
    const report: AgentosImportReport = { source: path, audits: counts(), artifacts: counts(), problems: [] };
    if (hasAudits) await importAudits(ledger, source, report);
    if (hasRefs) await importArtifacts(ledger, source, report);
    return report;
  } finally {
    await source.close();
  }
}

function counts(): ImportCounts {
  return { read: 0, imported: 0, existing: 0, failed: 0 };
}

async function importAudits(ledger: Ledger, source: Store, report: AgentosImportReport): Promise<void> {
  const service = new TaskAuditService(ledger);
  for await (const row of rowsOf(source, AUDIT_TABLE)) {
    report.audits.read += 1;
    const id = String(row['id']);
    try {
      const raw = jsonText('payload', row['payload']);
      const payload = raw !== null && typeof raw === 'object' && !Array.isArray(raw) ? (raw as Record<string, unknown>) : {};
      const lines = typeof payload['lines'] === 'object' && payload['lines'] !== null ? (payload['lines'] as Record<string, unknown>) : {};
      const eventType = String(row['event_type'] ?? '');
      const error = payload['error_message'] ?? payload['error'];
      const rest = Object.fromEntries(Object.entries(payload).filter(([k]) => !MAPPED_KEYS.has(k)));
      const record: AuditRecord = {
        ...service.prepareOperation({
          taskId: row['task_id'] as string,
          repoId: row['repo_id'] === null || row['repo_id'] === undefined ? null : String(row['repo_id']),
          operation: typeof payload['operation'] === 'string' && payload['operation'] !== '' ? payload['operation'] : eventType.replace(/^repo_/, ''),
          status: typeof payload['status'] === 'string' && payload['status'] !== '' ? payload['status'] : error ? 'error' : 'success',
          eventType,
          ...(typeof row['level'] === 'string' && row['level'] !== '' ? { level: row['level'] } : {}),
          filesChanged: Array.isArray(payload['files_changed']) ? payload['files_changed'].map(String) : [],
          ...(optionalInteger(payload['lines_added'] ?? lines['added']) === undefined ? {} : { linesAdded: optionalInteger(payload['lines_added'] ?? lines['added'])! }),
          ...(optionalInteger(payload['lines_deleted'] ?? lines['deleted']) === undefined ? {} : { linesDeleted: optionalInteger(payload['lines_deleted'] ?? lines['deleted'])! }),
          commitHash: typeof payload['commit_hash'] === 'string' ? payload['commit_hash'] : null,
          errorMessage: typeof error === 'string' ? error : error && typeof error === 'object' ? JSON.stringify(error) : null,
          payload: Object.keys(rest).length === 0 ? null : rest,
        }),
        id,
        git_status_summary: typeof payload['git_status_summary'] === 'string' ? payload['git_status_summary'] : null,
        git_diff_summary: typeof payload['git_diff_summary'] === 'string' ? payload['git_diff_summary'] : null,
        created_at: timestamp(row['created_at']),
      };
      const already = await ledger.store.query(`SELECT id FROM ${AUDIT_TABLE} WHERE id = ?`, [id]);
      if (already.length > 0) {
        report.audits.existing += 1;
        continue;
      }
      await service.write(record);
      report.audits.imported += 1;
    } catch (err) {
      report.audits.failed += 1;
      report.problems.push({ table: AUDIT_TABLE, id, reason: reason(err) });
    }
  }
}

async function importArtifacts(ledger: Ledger, source: Store, report: AgentosImportReport): Promise<void> {
  const service = new TaskArtifactService(ledger);
  for await (const row of rowsOf(source, ARTIFACT_TABLE)) {
    report.artifacts.read += 1;
    const id = String(row['id']);
    try {
      const typed = String(row['ref_type'] ?? '').toLowerCase();
      const refType = REF_ALIASES[typed] ?? typed;
      if (!(REF_TYPES as readonly string[]).includes(refType)) throw new RowProblem(`unknown ref type ${JSON.stringify(row['ref_type'])}`);
      const record = {
        ...service.prepareRef({
          taskId: row['task_id'] as string,
          repoId: row['repo_id'] as string,
          refType: refType as (typeof REF_TYPES)[number],
          refValue: row['ref_value'] === null || row['ref_value'] === undefined ? '' : String(row['ref_value']),
          summary: row['summary'] === null || row['summary'] === undefined ? null : String(row['summary']),
          metadata: jsonText('metadata', row['metadata']),
        }),
        id,
        created_at: timestamp(row['created_at']),
      };
      const { created } = await service.writeChained(record);
      if (created) report.artifacts.imported += 1;
      else report.artifacts.existing += 1;
    } catch (err) {
      report.artifacts.failed += 1;
      report.problems.push({ table: ARTIFACT_TABLE, id, reason: reason(err) });
    }
  }
}
