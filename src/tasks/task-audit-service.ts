/**
 * Task audits: what a task did, where, with what outcome. Each row is written in the same
 * transaction as its ledger entry (kind task_audits, pk = the row's id), so the row cannot exist
 * unchained and an edit or deletion afterwards is caught by scan and verify.
 *
 * Recording is two steps, `prepare…` (validate, assign the id and timestamp, measure git) and
 * `write` (idempotent), so a record prepared while the database is down can be spooled and
 * written later exactly as it was — same id, same time, same content.
 */
import { randomUUID } from 'node:crypto';
import type { Ledger } from '../ledger/ledger.js';
import type { SqlValue } from '../store/store.js';
import { captureGitChanges, type GitCapture } from './git-capture.js';
import { AUDIT_SELECT, AUDIT_TABLE, auditFromRow, auditRowPayload, insertAudit, pageCondition, toTaskAudit, withoutSeq, type AuditRecord, type Chained, type TaskAudit } from './rows.js';
import { ensureTaskSchema, taskSchemaInstalled } from './schema.js';
import { checkCursor, checkLimit, fileList, jsonValue, optionalCount, optionalText, requireObject, requireText } from './validation.js';

export interface RecordOperationInput {
  taskId: string;
  /** Omit (or null) for a task-level event. */
  repoId?: string | null;
  operation: string;
  /** Default 'success'. */
  status?: string;
  /** Default `repo_<operation>` with a repoId, `<operation>` without. */
  eventType?: string;
  /** Default 'info'. */
  level?: string;
  filesChanged?: string[];
  linesAdded?: number;
  linesDeleted?: number;
  commitHash?: string | null;
  errorMessage?: string | null;
  payload?: unknown;
}

export interface RecordGitChangesInput {
  taskId: string;
  repoId: string;
  /** The working tree to measure. */
  repoPath: string;
  /** Default 'write'; the event type is `repo_<operation>`. */
  operation?: string;
  commitHash?: string | null;
}

export interface TaskAuditQuery {
  repoId?: string;
  eventType?: string;
  /** 1..500, default 100. */
  limit?: number;
  /** Page cursor: only audits listed after the one chained at this seq (newest-first order). */
  before?: number;
}

export interface RepoAuditQuery {
  /** 1..500, default 100. */
  limit?: number;
  /** Page cursor: only audits listed after the one chained at this seq (newest-first order). */
  before?: number;
}

/** What git capture found, as kept in a git-change audit's payload. */
export function gitCapturePayload(capture: GitCapture): Record<string, unknown> {
  return capture.ok ? { captured: true } : { captured: false, reason: capture.reason, detail: capture.detail ?? null };
}

export class TaskAuditService {
  readonly ledger: Ledger;

  constructor(ledger: Ledger) {
    this.ledger = ledger;
  }

  /** Records one operation of a task. */
  async recordOperation(input: RecordOperationInput): Promise<TaskAudit> {
    return this.write(this.prepareOperation(input));
  }

  /** Measures the working tree with git and records the change as `repo_<operation>`. */
  async recordGitChanges(input: RecordGitChangesInput): Promise<TaskAudit> {
    return this.write(await this.prepareGitChanges(input));
  }

  /** Validates an operation and fixes its id and time, without writing it. */
  prepareOperation(input: RecordOperationInput): AuditRecord {
    requireObject('input', input);
    const taskId = requireText('taskId', input.taskId);
    const repoId = input.repoId === undefined || input.repoId === null ? null : requireText('repoId', input.repoId);
    const operation = requireText('operation', input.operation);
    return {
      id: randomUUID(),
      task_id: taskId,
      repo_id: repoId,
      level: input.level === undefined ? 'info' : requireText('level', input.level),
      event_type: input.eventType === undefined ? (repoId === null ? operation : `repo_${operation}`) : requireText('eventType', input.eventType),
      operation,
      status: input.status === undefined ? 'success' : requireText('status', input.status),
      files_changed: fileList('filesChanged', input.filesChanged),
      lines_added: optionalCount('linesAdded', input.linesAdded, 0),
      lines_deleted: optionalCount('linesDeleted', input.linesDeleted, 0),
      commit_hash: optionalText('commitHash', input.commitHash),
      error_message: optionalText('errorMessage', input.errorMessage),
      git_status_summary: null,
      git_diff_summary: null,
      payload: jsonValue('payload', input.payload),
      created_at: new Date().toISOString(),
    };
  }

  /** Validates, measures the working tree, and builds the record without writing it. */
  async prepareGitChanges(input: RecordGitChangesInput, extraPayload: Record<string, unknown> = {}): Promise<AuditRecord> {
    const { record } = await this.prepareGitChangesWithCapture(input, extraPayload);
    return record;
  }

  /** As prepareGitChanges, also returning what git reported (the auditor needs HEAD). */
  async prepareGitChangesWithCapture(
    input: RecordGitChangesInput,
    extraPayload: Record<string, unknown> = {},
  ): Promise<{ record: AuditRecord; capture: GitCapture }> {
    requireObject('input', input);
    const taskId = requireText('taskId', input.taskId);
    const repoId = requireText('repoId', input.repoId);
    const repoPath = requireText('repoPath', input.repoPath);
    const operation = input.operation === undefined ? 'write' : requireText('operation', input.operation);
    const commitHash = optionalText('commitHash', input.commitHash);
    const payload = jsonValue('payload', extraPayload);
    const capture = await captureGitChanges(repoPath);
    const record: AuditRecord = {
      id: randomUUID(),
      task_id: taskId,
      repo_id: repoId,
      level: 'info',
      event_type: `repo_${operation}`,
      operation,
      status: 'success',
      files_changed: capture.filesChanged,
      lines_added: capture.linesAdded,
      lines_deleted: capture.linesDeleted,
      commit_hash: commitHash,
      error_message: null,
      git_status_summary: capture.statusSummary,
      git_diff_summary: capture.diffSummary,
      payload: { ...(payload as Record<string, unknown>), git: gitCapturePayload(capture) },
      created_at: new Date().toISOString(),
    };
    return { record, capture };
  }

  /**
   * Writes a prepared record with its ledger entry in one transaction. Writing the same record
   * again (a replay after a lost acknowledgement) changes nothing and returns it.
   */
  async write(record: AuditRecord): Promise<TaskAudit> {
    return withoutSeq(await this.writeChained(record));
  }

  /** As write, also returning the seq of the record's ledger entry. */
  async writeChained(record: AuditRecord): Promise<Chained<TaskAudit>> {
    await ensureTaskSchema(this.ledger.store);
    const { entries } = await this.ledger.appendWith([{ kind: AUDIT_TABLE, pk: record.id, payload: auditRowPayload(record) }], async (tx) => {
      await insertAudit(tx, record);
    });
    return { ...toTaskAudit(record), seq: entries[0]!.seq };
  }

  /** A task's audits, newest first. */
  async getTaskAudits(taskId: string, query: TaskAuditQuery = {}): Promise<TaskAudit[]> {
    return (await this.getTaskAuditsChained(taskId, query)).map(withoutSeq);
  }

  /** A task's audits, newest first, each with the seq of its ledger entry. */
  async getTaskAuditsChained(taskId: string, query: TaskAuditQuery = {}): Promise<Chained<TaskAudit>[]> {
    requireText('taskId', taskId);
    const limit = checkLimit(query.limit);
    const where = ['a.task_id = ?'];
    const params: SqlValue[] = [taskId];
    if (query.repoId !== undefined) {
      where.push('a.repo_id = ?');
      params.push(requireText('repoId', query.repoId));
    }
    if (query.eventType !== undefined) {
      where.push('a.event_type = ?');
      params.push(requireText('eventType', query.eventType));
    }
    return this.select(where, params, limit, checkCursor(query.before));
  }

  /** Every task's audits in one repository, newest first. */
  async getRepoAudits(repoId: string, query: RepoAuditQuery = {}): Promise<TaskAudit[]> {
    return (await this.getRepoAuditsChained(repoId, query)).map(withoutSeq);
  }

  /** Every task's audits in one repository, newest first, each with its ledger seq. */
  async getRepoAuditsChained(repoId: string, query: RepoAuditQuery = {}): Promise<Chained<TaskAudit>[]> {
    requireText('repoId', repoId);
    return this.select(['a.repo_id = ?'], [repoId], checkLimit(query.limit), checkCursor(query.before));
  }

  private async select(where: string[], params: SqlValue[], limit: number, before: number | undefined): Promise<Chained<TaskAudit>[]> {
    if (!(await taskSchemaInstalled(this.ledger.store))) return [];
    if (before !== undefined) {
      const page = pageCondition(AUDIT_TABLE, 'a', before);
      where = [...where, page.sql];
      params = [...params, ...page.params];
    }
    // Same-millisecond events are ordered by their place in the chain.
    const rows = await this.ledger.store.query(
      `SELECT ${AUDIT_SELECT}, c.seq AS chain_seq FROM ${AUDIT_TABLE} a
       LEFT JOIN audit_chain c ON c.event_kind = ? AND c.event_pk = a.id
       WHERE ${where.join(' AND ')}
       ORDER BY a.created_at DESC, c.seq DESC
       LIMIT ?`,
      [AUDIT_TABLE, ...params, limit],
    );
    return rows.map((row) => ({ ...toTaskAudit(auditFromRow(row)), seq: row.chain_seq === null || row.chain_seq === undefined ? null : Number(row.chain_seq) }));
  }
}
