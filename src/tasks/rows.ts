/**
 * The two task tables as stored, and the one canonical payload each row is chained under.
 * The payload appended to the ledger for a row is `auditRowPayload` / `artifactRowPayload` of
 * exactly what was inserted, and the scanner recomputes it from the row read back, so both
 * sides must normalise backend differences the same way: JSON columns (JSONB on PostgreSQL,
 * text on SQLite) are read through CAST(… AS TEXT) and parsed; timestamps become ISO-8601 text
 * with milliseconds; integers become numbers. A value that cannot be normalised (a tampered
 * column holding garbage) is kept in a form that hashes differently, never thrown on.
 */
import { canonicalize, parseJson } from '../core/canonical-json.js';
import type { Queryable, Row, SqlValue } from '../store/store.js';

export const AUDIT_TABLE = 'task_audits';
export const ARTIFACT_TABLE = 'task_artifact_ref';

export const REF_TYPES = ['commit', 'branch', 'pr', 'patch', 'file', 'tag'] as const;
export type RefType = (typeof REF_TYPES)[number];

/** One task_audits row as plain values; also the canonical ledger payload of that row. */
export interface AuditRecord {
  id: string;
  task_id: string;
  repo_id: string | null;
  level: string;
  event_type: string;
  operation: string;
  status: string;
  files_changed: unknown;
  lines_added: unknown;
  lines_deleted: unknown;
  commit_hash: string | null;
  error_message: string | null;
  git_status_summary: string | null;
  git_diff_summary: string | null;
  payload: unknown;
  created_at: string;
}

/** One task_artifact_ref row as plain values; also the canonical ledger payload of that row. */
export interface ArtifactRecord {
  id: string;
  task_id: string;
  repo_id: string;
  ref_type: string;
  ref_value: string;
  summary: string | null;
  metadata: unknown;
  created_at: string;
}

/** A task audit as the API returns it. */
export interface TaskAudit {
  id: string;
  taskId: string;
  /** null for task-level events (start, completion, errors outside a repository). */
  repoId: string | null;
  level: string;
  eventType: string;
  operation: string;
  status: string;
  filesChanged: string[];
  /** null when the change could not be measured (git capture failed). */
  linesAdded: number | null;
  linesDeleted: number | null;
  commitHash: string | null;
  errorMessage: string | null;
  gitStatusSummary: string | null;
  gitDiffSummary: string | null;
  payload: unknown;
  createdAt: string;
}

/** An artifact reference as the API returns it. */
export interface ArtifactRef {
  id: string;
  taskId: string;
  repoId: string;
  refType: RefType;
  refValue: string;
  summary: string | null;
  metadata: unknown;
  createdAt: string;
}

/** A row as listed with the seq of its ledger entry (null: no entry, which scan reports as unchained). */
export type Chained<T> = T & { seq: number | null };

export function withoutSeq<T extends object>(row: Chained<T>): T {
  const { seq: _seq, ...rest } = row;
  return rest as unknown as T;
}

/**
 * The page condition for newest-first listings (created_at DESC, seq DESC): rows strictly after
 * the row chained at `before`. Row values compare in that order on both backends.
 */
export function pageCondition(table: string, alias: string, before: number): { sql: string; params: SqlValue[] } {
  const anchor = `(SELECT p.created_at FROM ${table} p JOIN audit_chain pc ON pc.event_kind = ? AND pc.event_pk = p.id WHERE pc.seq = ?)`;
  return {
    sql: `(${alias}.created_at < ${anchor} OR (${alias}.created_at = ${anchor} AND c.seq < ?))`,
    params: [table, before, table, before, before],
  };
}

const AUDIT_COLUMN_NAMES = [
  'id',
  'task_id',
  'repo_id',
  'level',
  'event_type',
  'operation',
  'status',
  'files_changed',
  'lines_added',
  'lines_deleted',
  'commit_hash',
  'error_message',
  'git_status_summary',
  'git_diff_summary',
  'payload',
  'created_at',
] as const satisfies readonly (keyof AuditRecord)[];

const ARTIFACT_COLUMN_NAMES = [
  'id',
  'task_id',
  'repo_id',
  'ref_type',
  'ref_value',
  'summary',
  'metadata',
  'created_at',
] as const satisfies readonly (keyof ArtifactRecord)[];

const JSON_COLUMNS: ReadonlySet<string> = new Set(['files_changed', 'payload', 'metadata']);

/** SELECT list for a table alias; JSON columns come back as text on both backends. */
function selectList(columns: readonly string[], alias: string): string {
  return columns.map((c) => (JSON_COLUMNS.has(c) ? `CAST(${alias}.${c} AS TEXT) AS ${c}` : `${alias}.${c}`)).join(', ');
}

export const AUDIT_SELECT = selectList(AUDIT_COLUMN_NAMES, 'a');
export const ARTIFACT_SELECT = selectList(ARTIFACT_COLUMN_NAMES, 'r');

export function auditRowPayload(record: AuditRecord): Record<string, unknown> {
  return pick(record, AUDIT_COLUMN_NAMES);
}

export function artifactRowPayload(record: ArtifactRecord): Record<string, unknown> {
  return pick(record, ARTIFACT_COLUMN_NAMES);
}

function pick(record: object, columns: readonly string[]): Record<string, unknown> {
  const source = record as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const c of columns) out[c] = source[c];
  return out;
}

export async function insertAudit(db: Queryable, record: AuditRecord): Promise<number> {
  return insertRecord(db, AUDIT_TABLE, AUDIT_COLUMN_NAMES, record);
}

/** Inserts the ref unless its id or its (task, repo, type, value) already exists; returns rows inserted. */
export async function insertArtifact(db: Queryable, record: ArtifactRecord): Promise<number> {
  return insertRecord(db, ARTIFACT_TABLE, ARTIFACT_COLUMN_NAMES, record);
}

async function insertRecord(db: Queryable, table: string, columns: readonly string[], record: object): Promise<number> {
  const source = record as Record<string, unknown>;
  const params = columns.map((c) => toParam(c, source[c]));
  // ON CONFLICT DO NOTHING: replaying an event that already committed (spool after a lost
  // acknowledgement) must not fail or duplicate; the caller learns from the count.
  return db.run(`INSERT INTO ${table} (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')}) ON CONFLICT DO NOTHING`, params);
}

function toParam(column: string, value: unknown): SqlValue {
  if (JSON_COLUMNS.has(column)) return value === null || value === undefined ? null : canonicalize(value);
  return value as SqlValue;
}

export function auditFromRow(row: Row): AuditRecord {
  return {
    id: String(row.id),
    task_id: String(row.task_id),
    repo_id: textOrNull(row.repo_id),
    level: String(row.level),
    event_type: String(row.event_type),
    operation: String(row.operation),
    status: String(row.status),
    files_changed: jsonValue(row.files_changed),
    lines_added: integerValue(row.lines_added),
    lines_deleted: integerValue(row.lines_deleted),
    commit_hash: textOrNull(row.commit_hash),
    error_message: textOrNull(row.error_message),
    git_status_summary: textOrNull(row.git_status_summary),
    git_diff_summary: textOrNull(row.git_diff_summary),
    payload: jsonValue(row.payload),
    created_at: timestampText(row.created_at),
  };
}

export function artifactFromRow(row: Row): ArtifactRecord {
  return {
    id: String(row.id),
    task_id: String(row.task_id),
    repo_id: String(row.repo_id),
    ref_type: String(row.ref_type),
    ref_value: String(row.ref_value),
    summary: textOrNull(row.summary),
    metadata: jsonValue(row.metadata),
    created_at: timestampText(row.created_at),
  };
}

export function toTaskAudit(r: AuditRecord): TaskAudit {
  return {
    id: r.id,
    taskId: r.task_id,
    repoId: r.repo_id,
    level: r.level,
    eventType: r.event_type,
    operation: r.operation,
    status: r.status,
    filesChanged: Array.isArray(r.files_changed) ? r.files_changed.map(String) : [],
    linesAdded: typeof r.lines_added === 'number' ? r.lines_added : null,
    linesDeleted: typeof r.lines_deleted === 'number' ? r.lines_deleted : null,
    commitHash: r.commit_hash,
    errorMessage: r.error_message,
    gitStatusSummary: r.git_status_summary,
    gitDiffSummary: r.git_diff_summary,
    payload: r.payload,
    createdAt: r.created_at,
  };
}

export function toArtifactRef(r: ArtifactRecord): ArtifactRef {
  return {
    id: r.id,
    taskId: r.task_id,
    repoId: r.repo_id,
    refType: r.ref_type as RefType,
    refValue: r.ref_value,
    summary: r.summary,
    metadata: r.metadata,
    createdAt: r.created_at,
  };
}

function textOrNull(value: unknown): string | null {
  return value === null || value === undefined ? null : String(value);
}

function integerValue(value: unknown): unknown {
  if (value === null || value === undefined) return null;
  if (typeof value === 'bigint') return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value.toString();
  if (typeof value === 'number') return Number.isFinite(value) ? value : String(value);
  return { $not_a_number: String(value) };
}

function jsonValue(value: unknown): unknown {
  if (value === null || value === undefined) return null;
  const text = typeof value === 'string' ? value : Buffer.isBuffer(value) ? value.toString('utf8') : String(value);
  try {
    return parseJson(text);
  } catch {
    return { $unparseable_json: text };
  }
}

function timestampText(value: unknown): string {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? 'Invalid Date' : value.toISOString();
  return String(value);
}
