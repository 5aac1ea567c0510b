/**
 * Artifact references: which commits, branches, PRs, patches, files and tags a task produced or
 * touched, so "which tasks reference commit abc123?" has a provable answer. One ref per
 * (task, repository, type, value): creating it again returns the existing ref.
 */
import { randomUUID } from 'node:crypto';
import { SealtrailError } from '../core/errors.js';
import type { Ledger } from '../ledger/ledger.js';
import type { SqlValue } from '../store/store.js';
import {
  ARTIFACT_SELECT,
  ARTIFACT_TABLE,
  artifactFromRow,
  artifactRowPayload,
  insertArtifact,
  pageCondition,
  toArtifactRef,
  withoutSeq,
  type ArtifactRecord,
  type Chained,
  type ArtifactRef,
  type RefType,
} from './rows.js';
import { ensureTaskSchema, taskSchemaInstalled } from './schema.js';
import { checkCursor, checkLimit, checkRefType, jsonValue, optionalText, requireObject, requireText } from './validation.js';

export interface CreateRefInput {
  taskId: string;
  repoId: string;
  refType: RefType;
  refValue: string;
  summary?: string | null;
  metadata?: unknown;
}

interface RefCommon {
  taskId: string;
  repoId: string;
  summary?: string | null;
  metadata?: unknown;
}

export interface CreateCommitRefInput extends RefCommon {
  commitHash: string;
}

export interface CreateBranchRefInput extends RefCommon {
  branchName: string;
}

export interface CreatePrRefInput extends RefCommon {
  /** Stored as text. */
  prNumber: number | string;
}

export interface TaskArtifactQuery {
  repoId?: string;
  refType?: RefType;
}

export interface RepoArtifactQuery {
  refType?: RefType;
  /** 1..500, default 100. */
  limit?: number;
}

/** Paging for the seq-carrying listings: at most `limit` (1..500, default 100), after `before`. */
export interface ArtifactPage {
  limit?: number;
  /** Page cursor: only refs listed after the one chained at this seq (newest-first order). */
  before?: number;
}

/** Thrown inside the append transaction to roll back a ref that lost a race to an identical one. */
class RefExists extends Error {}

export class TaskArtifactService {
  readonly ledger: Ledger;

  constructor(ledger: Ledger) {
    this.ledger = ledger;
  }

  async createRef(input: CreateRefInput): Promise<ArtifactRef> {
    return this.write(this.prepareRef(input));
  }

  async createCommitRef(input: CreateCommitRefInput): Promise<ArtifactRef> {
    requireObject('input', input);
    return this.createRef({ ...common(input), refType: 'commit', refValue: requireText('commitHash', input.commitHash) });
  }

  async createBranchRef(input: CreateBranchRefInput): Promise<ArtifactRef> {
    requireObject('input', input);
    return this.createRef({ ...common(input), refType: 'branch', refValue: requireText('branchName', input.branchName) });
  }

  async createPrRef(input: CreatePrRefInput): Promise<ArtifactRef> {
    requireObject('input', input);
    const pr = input.prNumber;
    const valid = (typeof pr === 'number' && Number.isSafeInteger(pr) && pr > 0) || (typeof pr === 'string' && pr !== '' && !pr.includes('\0'));
    if (!valid) throw new SealtrailError('invalid_argument', 'prNumber must be a positive integer or a non-empty string', { details: { argument: 'prNumber' } });
    return this.createRef({ ...common(input), refType: 'pr', refValue: String(pr) });
  }

  /** Validates a ref and fixes its id and time, without writing it. */
  prepareRef(input: CreateRefInput): ArtifactRecord {
    requireObject('input', input);
    const refType = checkRefType(input.refType);
    return {
      id: randomUUID(),
      task_id: requireText('taskId', input.taskId),
      repo_id: requireText('repoId', input.repoId),
      ref_type: refType,
      ref_value: requireText('refValue', input.refValue),
      summary: optionalText('summary', input.summary),
      metadata: jsonValue('metadata', input.metadata),
      created_at: new Date().toISOString(),
    };
  }

  /**
   * Writes a prepared ref with its ledger entry in one transaction, unless an identical ref
   * (same task, repository, type and value) exists: then that one is returned, nothing written.
   */
  async write(record: ArtifactRecord): Promise<ArtifactRef> {
    return withoutSeq((await this.writeChained(record)).ref);
  }

  /** As write, also returning the ref's ledger seq and whether this call created it. */
  async writeChained(record: ArtifactRecord): Promise<{ ref: Chained<ArtifactRef>; created: boolean }> {
    await ensureTaskSchema(this.ledger.store);
    const existing = await this.findExisting(record);
    if (existing) return { ref: existing, created: false };
    let seq: number;
    try {
      const { entries } = await this.ledger.appendWith([{ kind: ARTIFACT_TABLE, pk: record.id, payload: artifactRowPayload(record) }], async (tx) => {
        // A ledger entry without its row would read as a deleted ref: roll both back.
        if ((await insertArtifact(tx, record)) === 0) throw new RefExists();
      });
      seq = entries[0]!.seq;
    } catch (err) {
      if (!(err instanceof RefExists)) throw err;
      const winner = await this.findExisting(record);
      if (winner) return { ref: winner, created: false };
      throw err;
    }
    return { ref: { ...toArtifactRef(record), seq }, created: true };
  }

  /** A task's refs, newest first. */
  async getTaskArtifacts(taskId: string, query: TaskArtifactQuery = {}): Promise<ArtifactRef[]> {
    return (await this.taskArtifacts(taskId, query)).map(withoutSeq);
  }

  /** A task's refs, newest first, each with its ledger seq, one page at a time. */
  async getTaskArtifactsChained(taskId: string, query: TaskArtifactQuery & ArtifactPage = {}): Promise<Chained<ArtifactRef>[]> {
    return this.taskArtifacts(taskId, query, checkLimit(query.limit), checkCursor(query.before));
  }

  private async taskArtifacts(taskId: string, query: TaskArtifactQuery, limit?: number, before?: number): Promise<Chained<ArtifactRef>[]> {
    requireText('taskId', taskId);
    const where = ['r.task_id = ?'];
    const params: SqlValue[] = [taskId];
    if (query.repoId !== undefined) {
      where.push('r.repo_id = ?');
      params.push(requireText('repoId', query.repoId));
    }
    if (query.refType !== undefined) {
      where.push('r.ref_type = ?');
      params.push(checkRefType(query.refType));
    }
    return this.select(where, params, limit, before);
  }

  /** Refs in one repository, newest first. */
  async getRepoArtifacts(repoId: string, query: RepoArtifactQuery = {}): Promise<ArtifactRef[]> {
    return (await this.getRepoArtifactsChained(repoId, query)).map(withoutSeq);
  }

  /** Refs in one repository, newest first, each with its ledger seq. */
  async getRepoArtifactsChained(repoId: string, query: RepoArtifactQuery & ArtifactPage = {}): Promise<Chained<ArtifactRef>[]> {
    requireText('repoId', repoId);
    const limit = checkLimit(query.limit);
    const where = ['r.repo_id = ?'];
    const params: SqlValue[] = [repoId];
    if (query.refType !== undefined) {
      where.push('r.ref_type = ?');
      params.push(checkRefType(query.refType));
    }
    return this.select(where, params, limit, checkCursor(query.before));
  }

  /** Every ref to one commit / branch / PR / … across tasks and repositories, newest first. */
  async getArtifactsByRef(refType: RefType, refValue: string): Promise<ArtifactRef[]> {
    return (await this.getArtifactsByRefChained(refType, refValue)).map(withoutSeq);
  }

  /** As getArtifactsByRef with seqs; paged when `page` is given. */
  async getArtifactsByRefChained(refType: RefType, refValue: string, page?: ArtifactPage): Promise<Chained<ArtifactRef>[]> {
    const where = ['r.ref_type = ?', 'r.ref_value = ?'];
    const params = [checkRefType(refType), requireText('refValue', refValue)];
    return page === undefined ? this.select(where, params) : this.select(where, params, checkLimit(page.limit), checkCursor(page.before));
  }

  private async findExisting(record: ArtifactRecord): Promise<Chained<ArtifactRef> | null> {
    const rows = await this.select(
      ['r.task_id = ?', 'r.repo_id = ?', 'r.ref_type = ?', 'r.ref_value = ?'],
      [record.task_id, record.repo_id, record.ref_type, record.ref_value],
      1,
    );
    return rows[0] ?? null;
  }

  private async select(where: string[], params: SqlValue[], limit?: number, before?: number): Promise<Chained<ArtifactRef>[]> {
    if (!(await taskSchemaInstalled(this.ledger.store))) return [];
    if (before !== undefined) {
      const page = pageCondition(ARTIFACT_TABLE, 'r', before);
      where = [...where, page.sql];
      params = [...params, ...page.params];
    }
    const rows = await this.ledger.store.query(
      `SELECT ${ARTIFACT_SELECT}, c.seq AS chain_seq FROM ${ARTIFACT_TABLE} r
       LEFT JOIN audit_chain c ON c.event_kind = ? AND c.event_pk = r.id
       WHERE ${where.join(' AND ')}
       ORDER BY r.created_at DESC, c.seq DESC${limit === undefined ? '' : ' LIMIT ?'}`,
      limit === undefined ? [ARTIFACT_TABLE, ...params] : [ARTIFACT_TABLE, ...params, limit],
    );
    return rows.map((row) => ({ ...toArtifactRef(artifactFromRow(row)), seq: row.chain_seq === null || row.chain_seq === undefined ? null : Number(row.chain_seq) }));
  }
}

function common(input: RefCommon): RefCommon {
  return { taskId: input.taskId, repoId: input.repoId, summary: input.summary, metadata: input.metadata };
}
