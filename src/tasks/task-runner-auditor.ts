/**
 * The audit trail of one task run, for task-runner and agent builders: start, reads, writes,
 * commits (with git capture and a commit ref), pushes, errors and completion.
 *
 * Events are written in call order, one at a time. When the database is unreachable the auditor
 * either raises (onFailure 'raise', the default) or, with onFailure 'spool', appends the fully
 * prepared events to a durable local spool. While the spool holds anything, every later event
 * goes behind it, and each call first tries to replay it, so events reach the database in the
 * order they happened, each exactly once (replays reuse the spooled ids and content; the ledger
 * and the tables ignore an identical second write).
 */
import { join } from 'node:path';
import { SealtrailError, isSealtrailError } from '../core/errors.js';
import type { Ledger } from '../ledger/ledger.js';
import { AsyncMutex } from '../store/async-mutex.js';
import { readHead } from './git-capture.js';
import { toArtifactRef, toTaskAudit, type ArtifactRef, type TaskAudit } from './rows.js';
import { Spool, type SpoolEntry } from './spool.js';
import { TaskArtifactService } from './task-artifact-service.js';
import { TaskAuditService, type RecordOperationInput } from './task-audit-service.js';
import { fileList, optionalText, requireObject, requireText } from './validation.js';

export interface Repo {
  repoId: string;
  /** The working tree on disk. */
  path: string;
}

export interface TaskRunnerAuditorOptions {
  ledger: Ledger;
  /** What to do when the database is unreachable: raise (default) or spool locally. */
  onFailure?: 'raise' | 'spool';
  /** The spool file (default `.sealtrail-spool/<taskId>.jsonl` under the working directory). */
  spoolPath?: string;
}

export interface RepoChangesResult {
  audit: TaskAudit;
  /** The commit ref, or null when there is no commit (no hash given and no HEAD). */
  ref: ArtifactRef | null;
}

export class TaskRunnerAuditor {
  readonly taskId: string;
  readonly audits: TaskAuditService;
  readonly artifacts: TaskArtifactService;
  readonly onFailure: 'raise' | 'spool';
  /** The spool, when onFailure is 'spool'. */
  readonly spool: Spool | null;
  private readonly order = new AsyncMutex();

  constructor(taskId: string, options: TaskRunnerAuditorOptions) {
    this.taskId = requireText('taskId', taskId);
    requireObject('options', options);
    if (options.ledger === undefined || options.ledger === null) {
      throw new SealtrailError('invalid_argument', 'options.ledger is required', { details: { argument: 'ledger' } });
    }
    const onFailure = options.onFailure ?? 'raise';
    if (onFailure !== 'raise' && onFailure !== 'spool') {
      throw new SealtrailError('invalid_argument', "onFailure must be 'raise' or 'spool'", { details: { argument: 'onFailure' } });
    }
    this.onFailure = onFailure;
    this.audits = new TaskAuditService(options.ledger);
    this.artifacts = new TaskArtifactService(options.ledger);
    this.spool =
      onFailure === 'spool'
        ? new Spool(options.spoolPath === undefined ? join(process.cwd(), '.sealtrail-spool', `${encodeURIComponent(taskId)}.jsonl`) : requireText('spoolPath', options.spoolPath))
        : null;
  }

  /** `task_start`; the payload lists the repositories. */
  async recordStart(repos: Repo[]): Promise<TaskAudit> {
    if (!Array.isArray(repos)) throw new SealtrailError('invalid_argument', 'repos must be an array', { details: { argument: 'repos' } });
    const listed = repos.map((r, i) => checkRepo(r, `repos[${i}]`));
    return this.audit({ operation: 'start', eventType: 'task_start', payload: { repos: listed } });
  }

  /** `repo_read`; the files read are in the payload (reading changes nothing). */
  async recordRepoRead(repo: Repo, files: string[]): Promise<TaskAudit> {
    const r = checkRepo(repo, 'repo');
    return this.audit({ repoId: r.repoId, operation: 'read', payload: { path: r.path, files: fileList('files', files) } });
  }

  /** `repo_write` with the files written. */
  async recordRepoWrite(repo: Repo, files: string[]): Promise<TaskAudit> {
    const r = checkRepo(repo, 'repo');
    return this.audit({ repoId: r.repoId, operation: 'write', filesChanged: fileList('files', files), payload: { path: r.path } });
  }

  /**
   * Git capture of the working tree as a `repo_commit` audit, plus a commit ref carrying
   * files_changed, lines_added and lines_deleted. The hash is read from HEAD when not given.
   */
  async recordRepoChanges(repo: Repo, options: { commitHash?: string; message?: string } = {}): Promise<RepoChangesResult> {
    const r = checkRepo(repo, 'repo');
    requireObject('options', options);
    const message = optionalText('message', options.message);
    const given = optionalText('commitHash', options.commitHash);
    const commitHash = given ?? (await readHead(r.path));
    const record = await this.audits.prepareGitChanges(
      { taskId: this.taskId, repoId: r.repoId, repoPath: r.path, operation: 'commit', commitHash },
      message === null ? {} : { message },
    );
    const entries: SpoolEntry[] = [{ table: 'task_audits', record }];
    if (commitHash !== null) {
      const ref = this.artifacts.prepareRef({
        taskId: this.taskId,
        repoId: r.repoId,
        refType: 'commit',
        refValue: commitHash,
        summary: message,
        metadata: { files_changed: record.files_changed, lines_added: record.lines_added, lines_deleted: record.lines_deleted },
      });
      entries.push({ table: 'task_artifact_ref', record: ref });
    }
    const [audit, ref] = await this.submit(entries);
    return { audit: audit as TaskAudit, ref: (ref as ArtifactRef | undefined) ?? null };
  }

  /** `repo_push` of a branch to a remote (default origin). */
  async recordRepoPush(repo: Repo, branch: string, remote = 'origin'): Promise<TaskAudit> {
    const r = checkRepo(repo, 'repo');
    return this.audit({ repoId: r.repoId, operation: 'push', payload: { branch: requireText('branch', branch), remote: requireText('remote', remote) } });
  }

  /** `repo_<operation>_error` (or `<operation>_error` without a repo) at level error, status failed. */
  async recordError(message: string, options: { repo?: Repo; operation?: string } = {}): Promise<TaskAudit> {
    requireObject('options', options);
    const operation = options.operation === undefined ? 'execute' : requireText('operation', options.operation);
    const repo = options.repo === undefined ? null : checkRepo(options.repo, 'repo');
    return this.audit({
      repoId: repo?.repoId ?? null,
      operation,
      eventType: repo ? `repo_${operation}_error` : `${operation}_error`,
      level: 'error',
      status: 'failed',
      errorMessage: requireText('message', message),
    });
  }

  /** `task_complete`; level error unless the status is success. */
  async recordCompletion(status: string, error?: string): Promise<TaskAudit> {
    requireText('status', status);
    return this.audit({
      operation: 'complete',
      eventType: 'task_complete',
      status,
      level: status === 'success' ? 'info' : 'error',
      errorMessage: optionalText('error', error),
    });
  }

  /** Events waiting in the spool (0 without one). */
  pendingCount(): number {
    return this.spool ? this.spool.read().length : 0;
  }

  /**
   * Replays the spool now; returns how many events were written. Raises database_unreachable
   * (keeping the rest spooled) if the database is still down.
   */
  flush(): Promise<number> {
    return this.order.run(() => this.drain());
  }

  private async audit(input: Omit<RecordOperationInput, 'taskId'>): Promise<TaskAudit> {
    const [audit] = await this.submit([{ table: 'task_audits', record: this.audits.prepareOperation({ ...input, taskId: this.taskId }) }]);
    return audit as TaskAudit;
  }

  /** Writes prepared events in order behind anything already spooled; returns what each became. */
  private submit(entries: SpoolEntry[]): Promise<Array<TaskAudit | ArtifactRef>> {
    return this.order.run(async () => {
      const results: Array<TaskAudit | ArtifactRef> = [];
      if (this.spool) {
        try {
          await this.drain();
        } catch (err) {
          if (!isSealtrailError(err, 'database_unreachable')) throw err;
          await this.spool.append(entries);
          return entries.map(preview);
        }
      }
      for (let i = 0; i < entries.length; i++) {
        try {
          results.push(await this.write(entries[i]!));
        } catch (err) {
          if (!this.spool || !isSealtrailError(err, 'database_unreachable')) throw err;
          const rest = entries.slice(i);
          await this.spool.append(rest);
          return [...results, ...rest.map(preview)];
        }
      }
      return results;
    });
  }

  /** Writes every spooled event in order; on failure keeps the unwritten remainder and rethrows. */
  private async drain(): Promise<number> {
    return this.spool ? this.spool.drain((entry) => this.write(entry)) : 0;
  }

  private write(entry: SpoolEntry): Promise<TaskAudit | ArtifactRef> {
    return entry.table === 'task_audits' ? this.audits.write(entry.record) : this.artifacts.write(entry.record);
  }
}

/** What a spooled event will be once written. */
function preview(entry: SpoolEntry): TaskAudit | ArtifactRef {
  return entry.table === 'task_audits' ? toTaskAudit(entry.record) : toArtifactRef(entry.record);
}

function checkRepo(repo: unknown, name: string): Repo {
  const r = requireObject(name, repo);
  return { repoId: requireText(`${name}.repoId`, r.repoId), path: requireText(`${name}.path`, r.path) };
}
