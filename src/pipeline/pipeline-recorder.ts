/**
 * The pipeline recorder: the only way the engine writes the audit store. Every method validates
 * its whole write before touching the database, re-derives ownership (token → row → run must be
 * the caller's run) inside the transaction, and writes its records together with their ledger
 * entries in ONE transaction (kind = table name, pk = record id; a status transition is chained
 * again as `<id>#v<n>`). Recorder transactions run under the ledger's write lock, so the checks
 * they make (one terminal outcome per token, a state still open, the next call index) cannot race
 * with another recorder on the same database. docs/pipeline.md.
 */
import { randomBytes } from 'node:crypto';
import { canonicalize } from '../core/canonical-json.js';
import { SealtrailError } from '../core/errors.js';
import type { Ledger } from '../ledger/ledger.js';
import type { Queryable, Tx } from '../store/store.js';
import { deleteRecord, fetchAll, fetchOne, insertRecord, updateRecord } from './record-access.js';
import {
  CALL_STATUSES,
  CALL_TYPES,
  CANONICAL_VERSION,
  DETERMINISM,
  NODE_TYPES,
  OPERATION_TYPES,
  ROUTING_MODES,
  TRIGGER_TYPES,
  checkRecord,
  integrityError,
  type Outcome,
  type RunStatus,
} from './record-rules.js';
import type { PayloadStore } from './payload-store.js';
import { runPayloadRefs } from './payload-refs.js';
import { ensurePipelineSchema, pipelineSchemaInstalled } from './schema.js';
import { canonicalText, errorHash, stableHash } from './stable-hash.js';
import { recordPayload, recordPk, tombstonePk, versionPk, PIPELINE_TABLES, type PipelineRecord, type PipelineTable } from './tables.js';

export interface PipelineRecorderOptions {
  /** Where row data, call requests/responses, routing reasons and operation data are kept. Without one only their hashes are recorded. */
  payloads?: PayloadStore;
}

interface Change {
  table: PipelineTable;
  record: PipelineRecord;
  op: 'insert' | 'update' | 'delete';
  /** update: the values the stored row must still hold (the status being left). */
  expected?: Record<string, string>;
  /** update: the transition's number, 1 for the first. */
  version?: number;
}

/** Outcomes recordOutcome accepts; forked, expanded and coalesced come only from their atomic operations. */
const PLAIN_OUTCOMES = ['completed', 'routed', 'failed', 'quarantined', 'diverted', 'consumed_in_batch', 'buffered'] as const;
type PlainOutcome = (typeof PLAIN_OUTCOMES)[number];
/** After `buffered`, a token may still end in one of these. */
const AFTER_BUFFERED: readonly Outcome[] = ['completed', 'routed', 'failed', 'consumed_in_batch', 'quarantined'];

/** Random bytes drawn 4 KiB at a time: one randomBytes call per id showed in the engine's profile. */
let idPool: Buffer = Buffer.alloc(0);
let idOffset = 0;

export function newId(): string {
  if (idOffset + 16 > idPool.length) {
    idPool = randomBytes(4096);
    idOffset = 0;
  }
  const id = idPool.toString('hex', idOffset, idOffset + 16);
  idOffset += 16;
  return id;
}

function now(): string {
  return new Date().toISOString();
}

function invalid(name: string, why: string): SealtrailError {
  return new SealtrailError('invalid_argument', `${name} ${why}`, { details: { argument: name } });
}

function text(name: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) throw invalid(name, 'must be a non-empty string');
  if (value.includes('\0')) throw invalid(name, 'must not contain U+0000');
  return value;
}

function optText(name: string, value: unknown): string | null {
  return value === undefined || value === null ? null : text(name, value);
}

function count(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw invalid(name, 'must be a non-negative integer');
  return value;
}

function optCount(name: string, value: unknown): number | null {
  return value === undefined || value === null ? null : count(name, value);
}

function oneOf<T extends string>(name: string, value: unknown, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) throw invalid(name, `must be one of ${allowed.join(', ')}`);
  return value as T;
}

/** Canonical JSON text of a value for a JSON column (NaN, ±Infinity and unsafe integers refused: the audit path never rounds). */
function json(value: unknown): string | null {
  return value === undefined || value === null ? null : canonicalText(value);
}

export interface BeginRunInput {
  settings: unknown;
  /** Default: a random id. */
  runId?: string;
  /** Default: the stable hash of `settings`. */
  configHash?: string;
  sourceSchema?: unknown;
  leaseOwner?: string;
  /** Lease length from now, in seconds (with leaseOwner). */
  leaseSeconds?: number;
}

export interface RegisterNodeInput {
  nodeType: (typeof NODE_TYPES)[number];
  pluginName: string;
  pluginVersion: string;
  determinism: (typeof DETERMINISM)[number];
  config: unknown;
  sequenceInPipeline?: number;
}

export interface OpenStateInput {
  tokenId: string;
  nodeId: string;
  stepIndex: number;
  /** 0-based retry attempt (default 0). */
  attempt?: number;
  input: unknown;
  contextBefore?: unknown;
}

export type CompleteStateInput =
  | { status: 'completed'; output: unknown; successReason?: unknown; contextAfter?: unknown }
  | { status: 'failed'; error: unknown; contextAfter?: unknown }
  | { status: 'pending'; contextAfter?: unknown };

export interface OutcomeInput {
  outcome: PlainOutcome;
  sinkName?: string;
  batchId?: string;
  /** The error message; its error_hash is recorded. */
  error?: string;
  context?: unknown;
}

export interface CallInput {
  stateId?: string;
  operationId?: string;
  callType: (typeof CALL_TYPES)[number];
  status: (typeof CALL_STATUSES)[number];
  request: unknown;
  response?: unknown;
  error?: unknown;
  latencyMs?: number;
}

export interface RouteInput {
  edgeId: string;
  mode?: (typeof ROUTING_MODES)[number];
  reason?: unknown;
}

/** A call queued in a batch unit: its changes and the guard that re-checks them inside the transaction. */
interface QueuedChange {
  changes: Change[];
  guard: ((tx: Tx) => Promise<void>) | undefined;
}

/**
 * A batch unit in progress: the queued calls, and what they wrote (so later calls of the same
 * unit see it before it is committed). Merged into the recorder's caches only once the unit commits.
 */
interface UnitState {
  queued: QueuedChange[];
  tokens: Map<string, PipelineRecord>;
  nodes: Set<string>;
  /** Every state written in this unit, in its latest status. */
  states: Map<string, PipelineRecord>;
  operations: Map<string, PipelineRecord>;
  /** Calls queued per parent (state or operation id), for the next call index. */
  calls: Map<string, number>;
  /** Runs found running inside this unit's transaction (nothing in a unit can end a run). */
  running: Set<string>;
  ended: boolean;
}

/** An open batch unit (PipelineRecorder.openBatch). */
export interface BatchUnit {
  /** Records into the unit; refused once the unit has ended. */
  recorder: PipelineRecorder;
  /** Calls queued so far. */
  size(): number;
  /** Writes every queued call in one transaction; all or nothing, rejecting with the coded error. */
  commit(): Promise<void>;
  /** Drops the unit: nothing of it is written. */
  discard(): void;
}

export interface RunAudit {
  run: PipelineRecord;
  records: Record<PipelineTable, PipelineRecord[]>;
}

export class PipelineRecorder {
  readonly ledger: Ledger;
  readonly payloads: PayloadStore | undefined;
  /**
   * What this recorder wrote or verified that never changes afterwards (a token's row and run, a
   * node's registration), and the states it opened: write paths skip re-reading them. Reads never
   * use these; a state completed elsewhere meanwhile fails the guarded UPDATE, not silently.
   */
  private readonly knownTokens = new Map<string, PipelineRecord>();
  private readonly knownNodes = new Set<string>();
  private readonly openStates = new Map<string, PipelineRecord>();
  /** Set only on the view a batch() callback receives. */
  private unit: UnitState | null = null;

  constructor(ledger: Ledger, options: PipelineRecorderOptions = {}) {
    this.ledger = ledger;
    this.payloads = options.payloads;
  }

  // ---- batch units ----

  /**
   * Runs `fn` with a view of this recorder whose calls are validated at once but committed
   * together when `fn` resolves: all their records and ledger entries in ONE transaction (one
   * durable commit through the ledger's group commit). Every guard still runs inside that
   * transaction, in call order, seeing the unit's earlier writes. All or nothing: a call that
   * fails validation throws at once (the callback may let it end the unit), and any failure at
   * commit rolls back the whole unit and rejects with the coded error. Calls made on the view
   * after the unit ended are refused. finishRun, renewLease, bufferToken, setBatchStatus and
   * purgePayloads are refused in a unit (they depend on chained versions or members the unit
   * cannot see before it commits). A nested batch() joins the outer unit.
   */
  async batch<T>(fn: (unit: PipelineRecorder) => Promise<T>): Promise<T> {
    if (this.unit) {
      this.assertUnitOpen();
      return fn(this);
    }
    const unit = this.openBatch();
    let result: T;
    try {
      result = await fn(unit.recorder);
    } catch (err) {
      unit.discard();
      throw err;
    }
    await unit.commit();
    return result;
  }

  /**
   * batch() without the callback, for a unit that spans a loop (the engine's rows up to a sink
   * write): `recorder` queues, `commit()` writes it all in one transaction (once), `discard()`
   * drops it. Either ends the unit.
   */
  openBatch(): BatchUnit {
    if (this.unit) throw invalid('openBatch', 'is not available inside a batch unit');
    const view = Object.create(this) as PipelineRecorder;
    const unit: UnitState = { queued: [], tokens: new Map(), nodes: new Set(), states: new Map(), operations: new Map(), calls: new Map(), running: new Set(), ended: false };
    view.unit = unit;
    return {
      recorder: view,
      size: () => unit.queued.length,
      discard: () => {
        unit.ended = true;
      },
      commit: async () => {
        if (unit.ended) throw invalid('batch', 'has already ended');
        unit.ended = true;
        if (unit.queued.length > 0) await this.write(unit.queued, unit);
        for (const [id, token] of unit.tokens) this.knownTokens.set(id, token);
        for (const node of unit.nodes) this.knownNodes.add(node);
        for (const [id, state] of unit.states) {
          if (state.status === 'open' || state.status === 'pending') this.openStates.set(id, state);
          else this.openStates.delete(id);
        }
      },
    };
  }

  private assertUnitOpen(): void {
    if (this.unit?.ended) throw invalid('batch', 'has ended: record through the recorder, or a new batch()');
  }

  private notInUnit(method: string): void {
    if (this.unit) throw invalid(method, 'is not available inside a batch unit');
  }

  // ---- runs and topology ----

  async beginRun(input: BeginRunInput): Promise<PipelineRecord> {
    const settings = json(input.settings);
    if (settings === null) throw invalid('settings', 'must be set');
    const leaseOwner = optText('leaseOwner', input.leaseOwner);
    const leaseSeconds = input.leaseSeconds === undefined ? null : count('leaseSeconds', input.leaseSeconds);
    const record: PipelineRecord = {
      run_id: input.runId === undefined ? newId() : text('runId', input.runId),
      started_at: now(),
      completed_at: null,
      config_hash: input.configHash === undefined ? stableHash(input.settings) : text('configHash', input.configHash),
      settings_json: settings,
      canonical_version: CANONICAL_VERSION,
      status: 'running',
      reproducibility_grade: null,
      lease_owner: leaseOwner,
      lease_expires_at: leaseOwner !== null && leaseSeconds !== null ? new Date(Date.now() + leaseSeconds * 1000).toISOString() : null,
      source_schema_json: json(input.sourceSchema),
    };
    await this.commit([{ table: 'pipeline_runs', record, op: 'insert' }]);
    return record;
  }

  /**
   * Ends a running run. `completed` also records the reproducibility grade (from the nodes'
   * determinism) and deletes the run's checkpoints (each deletion chained as a tombstone).
   */
  async finishRun(runId: string, status: Exclude<RunStatus, 'running'>): Promise<PipelineRecord> {
    this.notInUnit('finishRun');
    oneOf('status', status, ['completed', 'failed', 'interrupted', 'abandoned'] as const);
    const run = await this.requireRun(this.ledger.store, runId);
    if (run.status !== 'running') throw integrityError('pipeline_runs', runId, 'run_status', `the run is ${String(run.status)}, not running`);
    const nodes = await fetchAll(this.ledger.store, 'pipeline_nodes', 'x.run_id = ?', [runId]);
    const replayOnly = nodes.some((n) => ['io_read', 'io_write', 'external_call', 'non_deterministic'].includes(n.determinism as string));
    const record: PipelineRecord = {
      ...run,
      status,
      completed_at: now(),
      reproducibility_grade: status === 'completed' ? (replayOnly ? 'replay_reproducible' : 'full_reproducible') : run.reproducibility_grade,
      lease_owner: null,
      lease_expires_at: null,
    };
    const changes: Change[] = [{ table: 'pipeline_runs', record, op: 'update', expected: { status: 'running' }, version: await this.nextRunVersion(runId) }];
    if (status === 'completed') {
      for (const cp of await fetchAll(this.ledger.store, 'pipeline_checkpoints', 'x.run_id = ?', [runId])) {
        changes.push({ table: 'pipeline_checkpoints', record: cp, op: 'delete' });
      }
    }
    await this.commit(changes);
    return record;
  }

  /** The heartbeat: extends a running run's lease, chained as a transition of the run. */
  async renewLease(runId: string, input: { leaseOwner: string; leaseSeconds: number }): Promise<PipelineRecord> {
    this.notInUnit('renewLease');
    const run = await this.requireRun(this.ledger.store, runId);
    if (run.status !== 'running') throw integrityError('pipeline_runs', runId, 'run_status', `the run is ${String(run.status)}, not running`);
    const record: PipelineRecord = { ...run, lease_owner: text('leaseOwner', input.leaseOwner), lease_expires_at: new Date(Date.now() + count('leaseSeconds', input.leaseSeconds) * 1000).toISOString() };
    await this.commit([{ table: 'pipeline_runs', record, op: 'update', expected: { status: 'running' }, version: await this.nextRunVersion(runId) }]);
    return record;
  }

  async registerNode(runId: string, input: RegisterNodeInput): Promise<PipelineRecord> {
    const nodeType = oneOf('nodeType', input.nodeType, NODE_TYPES);
    const pluginName = text('pluginName', input.pluginName);
    const config = json(input.config ?? {})!;
    const configHash = stableHash(input.config ?? {});
    const record: PipelineRecord = {
      node_id: `${nodeType}_${pluginName}_${configHash.slice(0, 12)}`,
      run_id: text('runId', runId),
      plugin_name: pluginName,
      node_type: nodeType,
      plugin_version: text('pluginVersion', input.pluginVersion),
      determinism: oneOf('determinism', input.determinism, DETERMINISM),
      config_hash: configHash,
      config_json: config,
      sequence_in_pipeline: optCount('sequenceInPipeline', input.sequenceInPipeline),
      registered_at: now(),
    };
    await this.commit([{ table: 'pipeline_nodes', record, op: 'insert' }], async (tx) => {
      await this.requireRunning(tx, runId);
    });
    return record;
  }

  async registerEdge(runId: string, input: { fromNodeId: string; toNodeId: string; label: string; mode?: (typeof ROUTING_MODES)[number] }): Promise<PipelineRecord> {
    const record: PipelineRecord = {
      edge_id: newId(),
      run_id: text('runId', runId),
      from_node_id: text('fromNodeId', input.fromNodeId),
      to_node_id: text('toNodeId', input.toNodeId),
      label: text('label', input.label),
      default_mode: input.mode === undefined ? 'move' : oneOf('mode', input.mode, ROUTING_MODES),
      created_at: now(),
    };
    await this.commit([{ table: 'pipeline_edges', record, op: 'insert' }], async (tx) => {
      await this.requireRunning(tx, runId);
      for (const node of [record.from_node_id as string, record.to_node_id as string]) await this.writerNode(tx, runId, node);
    });
    return record;
  }

  // ---- rows and tokens ----

  /** A source row and its first token, in one transaction. The row data goes to the payload store first. */
  async createRow(runId: string, input: { sourceNodeId: string; rowIndex: number; data: unknown }): Promise<{ row: PipelineRecord; token: PipelineRecord }> {
    const hash = stableHash(input.data);
    const ref = this.storePayload(input.data);
    const created = now();
    const row: PipelineRecord = {
      row_id: newId(),
      run_id: text('runId', runId),
      source_node_id: text('sourceNodeId', input.sourceNodeId),
      row_index: count('rowIndex', input.rowIndex),
      source_data_hash: hash,
      source_data_ref: ref,
      created_at: created,
    };
    const token = this.tokenRecord(row, { step: 0, created });
    await this.commit([{ table: 'pipeline_rows', record: row, op: 'insert' }, { table: 'pipeline_tokens', record: token, op: 'insert' }], async (tx) => {
      await this.requireRunning(tx, runId);
      await this.writerNode(tx, runId, row.source_node_id as string);
    });
    return { row, token };
  }

  /**
   * Forks a token into one child per branch: the children, their parent links and the parent's
   * `forked` outcome in one transaction.
   */
  async forkToken(runId: string, parentTokenId: string, input: { branches: string[]; stepInPipeline?: number }): Promise<PipelineRecord[]> {
    if (!Array.isArray(input.branches) || input.branches.length === 0) throw invalid('branches', 'must be a non-empty list of branch names');
    const branches = input.branches.map((b, i) => text(`branches[${i}]`, b));
    if (new Set(branches).size !== branches.length) throw invalid('branches', 'must not repeat a branch');
    const parent = await this.writerToken(this.ledger.store, runId, parentTokenId);
    const group = newId();
    const created = now();
    const step = optCount('stepInPipeline', input.stepInPipeline);
    const children = branches.map((branch) => this.tokenRecord(parent, { step, created, fork_group_id: group, branch_name: branch }));
    const outcome = this.outcomeRecord(runId, parentTokenId, 'forked', { fork_group_id: group, expected_branches_json: canonicalize(branches) });
    await this.commitFamily(runId, [parent], children, [outcome]);
    return children;
  }

  /** Expands a token into `count` children (1 → N): children, links and the `expanded` outcome in one transaction. */
  async expandToken(runId: string, parentTokenId: string, input: { count: number; stepInPipeline?: number }): Promise<PipelineRecord[]> {
    const n = count('count', input.count);
    if (n < 1) throw invalid('count', 'must be at least 1');
    const parent = await this.writerToken(this.ledger.store, runId, parentTokenId);
    const group = newId();
    const created = now();
    const step = optCount('stepInPipeline', input.stepInPipeline);
    const children = Array.from({ length: n }, () => this.tokenRecord(parent, { step, created, expand_group_id: group }));
    const outcome = this.outcomeRecord(runId, parentTokenId, 'expanded', { expand_group_id: group, expected_branches_json: canonicalize({ count: n }) });
    await this.commitFamily(runId, [parent], children, [outcome]);
    return children;
  }

  /**
   * Merges branch tokens of one row into one token: the merged token, its parent links (in
   * arrival order, the order given) and every branch token's `coalesced` outcome in one transaction.
   */
  async coalesceTokens(runId: string, tokenIds: string[], input: { stepInPipeline?: number } = {}): Promise<PipelineRecord> {
    if (!Array.isArray(tokenIds) || tokenIds.length === 0) throw invalid('tokenIds', 'must be a non-empty list');
    if (new Set(tokenIds).size !== tokenIds.length) throw invalid('tokenIds', 'must not repeat a token');
    const parents = [];
    for (const id of tokenIds) parents.push(await this.writerToken(this.ledger.store, runId, text('tokenId', id)));
    const rowIds = new Set(parents.map((p) => p.row_id));
    if (rowIds.size !== 1) throw integrityError('pipeline_tokens', tokenIds.join(','), 'coalesce_row', 'coalesced tokens must all belong to one row');
    const group = newId();
    const merged = this.tokenRecord(parents[0]!, { step: optCount('stepInPipeline', input.stepInPipeline), created: now(), join_group_id: group });
    const outcomes = parents.map((p) => this.outcomeRecord(runId, p.token_id as string, 'coalesced', { join_group_id: group }));
    await this.commitFamily(runId, parents, [merged], outcomes);
    return merged;
  }

  /** Records a token's outcome (not forked/expanded/coalesced: those come from their atomic operations). */
  async recordOutcome(runId: string, tokenId: string, input: OutcomeInput): Promise<PipelineRecord> {
    const outcome = oneOf('outcome', input.outcome, PLAIN_OUTCOMES);
    const record = this.outcomeRecord(runId, text('tokenId', tokenId), outcome, {
      sink_name: optText('sinkName', input.sinkName),
      batch_id: optText('batchId', input.batchId),
      error_hash: input.error === undefined ? null : errorHash(text('error', input.error)),
      context_json: json(input.context),
    });
    checkRecord('pipeline_token_outcomes', record);
    await this.commit([{ table: 'pipeline_token_outcomes', record, op: 'insert' }], async (tx) => {
      await this.requireRunning(tx, runId);
      await this.writerToken(tx, runId, tokenId);
      await this.allowOutcome(tx, tokenId, outcome);
      if (record.batch_id !== null) await this.ownedBatch(tx, runId, record.batch_id as string);
    });
    return record;
  }

  // ---- node states ----

  async openState(runId: string, input: OpenStateInput): Promise<PipelineRecord> {
    const record: PipelineRecord = {
      state_id: newId(),
      token_id: text('tokenId', input.tokenId),
      run_id: text('runId', runId),
      node_id: text('nodeId', input.nodeId),
      step_index: count('stepIndex', input.stepIndex),
      attempt: input.attempt === undefined ? 0 : count('attempt', input.attempt),
      status: 'open',
      input_hash: stableHash(input.input),
      output_hash: null,
      context_before_json: json(input.contextBefore),
      context_after_json: null,
      duration_ms: null,
      error_json: null,
      success_reason_json: null,
      started_at: now(),
      completed_at: null,
    };
    await this.commit([{ table: 'pipeline_node_states', record, op: 'insert' }], async (tx) => {
      await this.requireRunning(tx, runId);
      await this.writerToken(tx, runId, record.token_id as string);
      await this.writerNode(tx, runId, record.node_id as string);
    });
    return record;
  }

  /** Completes an open (or pending) state as completed, failed or pending. */
  async completeState(runId: string, stateId: string, input: CompleteStateInput): Promise<PipelineRecord> {
    const status = oneOf('status', input?.status, ['completed', 'failed', 'pending'] as const);
    const state = this.unit?.states.get(text('stateId', stateId)) ?? this.openStates.get(stateId) ?? (await this.ownedState(this.ledger.store, runId, stateId));
    if (state.run_id !== runId) throw integrityError('pipeline_node_states', stateId, 'ownership', `state ${stateId} does not belong to run ${runId}`);
    if (state.status !== 'open' && state.status !== 'pending') {
      throw integrityError('pipeline_node_states', stateId, 'state_status', `the state is already ${String(state.status)}`);
    }
    if (status === 'pending' && state.status === 'pending') throw integrityError('pipeline_node_states', stateId, 'state_status', 'the state is already pending');
    const completedAt = now();
    const record: PipelineRecord = {
      ...state,
      status,
      completed_at: completedAt,
      duration_ms: Math.max(0, Date.parse(completedAt) - Date.parse(state.started_at as string)),
      output_hash: input.status === 'completed' ? stableHash(input.output) : null,
      success_reason_json: input.status === 'completed' ? json(input.successReason) : null,
      error_json: input.status === 'failed' ? json(input.error ?? null) : null,
      context_after_json: json(input.contextAfter),
    };
    if (input.status === 'failed' && record.error_json === null) throw invalid('error', 'must describe the failure');
    await this.commit(
      [{ table: 'pipeline_node_states', record, op: 'update', expected: { status: state.status as string }, version: state.status === 'open' ? 1 : 2 }],
      async (tx) => {
        await this.requireRunning(tx, runId);
      },
    );
    return record;
  }

  // ---- operations, calls, routing ----

  async beginOperation(runId: string, input: { nodeId: string; operationType: (typeof OPERATION_TYPES)[number]; input?: unknown }): Promise<PipelineRecord> {
    const hasInput = input.input !== undefined;
    const record: PipelineRecord = {
      operation_id: newId(),
      run_id: text('runId', runId),
      node_id: text('nodeId', input.nodeId),
      operation_type: oneOf('operationType', input.operationType, OPERATION_TYPES),
      started_at: now(),
      completed_at: null,
      status: 'open',
      input_data_ref: hasInput ? this.storePayload(input.input) : null,
      output_data_ref: null,
      input_data_hash: hasInput ? stableHash(input.input) : null,
      output_data_hash: null,
      error_message: null,
      duration_ms: null,
    };
    await this.commit([{ table: 'pipeline_operations', record, op: 'insert' }], async (tx) => {
      await this.requireRunning(tx, runId);
      await this.writerNode(tx, runId, record.node_id as string);
    });
    return record;
  }

  async completeOperation(runId: string, operationId: string, input: { status: 'completed' | 'failed' | 'pending'; output?: unknown; errorMessage?: string }): Promise<PipelineRecord> {
    const status = oneOf('status', input?.status, ['completed', 'failed', 'pending'] as const);
    const op = this.unit?.operations.get(text('operationId', operationId)) ?? (await fetchOne(this.ledger.store, 'pipeline_operations', 'x.operation_id = ?', [operationId]));
    if (!op || op.run_id !== runId) throw integrityError('pipeline_operations', operationId, 'ownership', `no operation ${operationId} in run ${runId}`);
    if (op.status !== 'open' && op.status !== 'pending') throw integrityError('pipeline_operations', operationId, 'operation_status', `the operation is already ${String(op.status)}`);
    const hasOutput = input.output !== undefined;
    const completedAt = now();
    const record: PipelineRecord = {
      ...op,
      status,
      completed_at: completedAt,
      duration_ms: Math.max(0, Date.parse(completedAt) - Date.parse(op.started_at as string)),
      output_data_ref: hasOutput ? this.storePayload(input.output) : null,
      output_data_hash: hasOutput ? stableHash(input.output) : null,
      error_message: optText('errorMessage', input.errorMessage),
    };
    checkRecord('pipeline_operations', record);
    await this.commit([{ table: 'pipeline_operations', record, op: 'update', expected: { status: op.status as string }, version: op.status === 'open' ? 1 : 2 }], async (tx) => {
      await this.requireRunning(tx, runId);
    });
    return record;
  }

  /** Records an external call under exactly one parent (a state or an operation), with the next call index. */
  async recordCall(runId: string, input: CallInput): Promise<PipelineRecord> {
    const stateId = optText('stateId', input.stateId);
    const operationId = optText('operationId', input.operationId);
    if ((stateId === null) === (operationId === null)) {
      throw integrityError('pipeline_calls', '?', 'call_parent', 'a call has exactly one parent: give stateId or operationId, not both or neither');
    }
    const callType = oneOf('callType', input.callType, CALL_TYPES);
    const status = oneOf('status', input.status, CALL_STATUSES);
    const hasResponse = input.response !== undefined;
    const record: PipelineRecord = {
      call_id: newId(),
      state_id: stateId,
      operation_id: operationId,
      call_index: 0,
      call_type: callType,
      status,
      request_hash: stableHash(input.request),
      request_ref: this.storePayload(input.request),
      response_hash: hasResponse ? stableHash(input.response) : null,
      response_ref: hasResponse ? this.storePayload(input.response) : null,
      error_json: json(input.error),
      latency_ms: optCount('latencyMs', input.latencyMs),
      created_at: now(),
    };
    // The index is the parent's next one, found under the write lock; the event carries it, so
    // it is fixed before the transaction (a concurrent call to the same parent gets a conflict).
    const parentColumn = stateId !== null ? 'state_id' : 'operation_id';
    const parentId = (stateId ?? operationId)!;
    // A parent written in this batch unit is not in the database yet: it has no calls but the unit's.
    const unitParent = stateId !== null ? this.unit?.states.get(stateId) : this.unit?.operations.get(operationId!);
    let stored = 0;
    if (unitParent) {
      if (unitParent.run_id !== runId) throw integrityError(stateId !== null ? 'pipeline_node_states' : 'pipeline_operations', parentId, 'ownership', `${parentId} does not belong to run ${runId}`);
    } else {
      if (stateId !== null) await this.ownedState(this.ledger.store, runId, stateId);
      else await this.ownedOperation(this.ledger.store, runId, operationId!);
      const [{ n }] = await this.ledger.store.query<{ n: unknown }>(`SELECT COUNT(*) AS n FROM pipeline_calls WHERE ${parentColumn} = ?`, [parentId]) as [{ n: unknown }];
      stored = Number(n);
    }
    const queuedCalls = this.unit?.calls.get(parentId) ?? 0;
    record.call_index = stored + queuedCalls;
    this.unit?.calls.set(parentId, queuedCalls + 1);
    await this.commit([{ table: 'pipeline_calls', record, op: 'insert' }], async (tx) => {
      await this.requireRunning(tx, runId);
      const [{ n: now }] = await tx.query<{ n: unknown }>(`SELECT COUNT(*) AS n FROM pipeline_calls WHERE ${parentColumn} = ?`, [parentId]) as [{ n: unknown }];
      if (Number(now) !== record.call_index) throw integrityError('pipeline_calls', record.call_id as string, 'call_index', 'another call to the same parent was recorded concurrently; retry');
    });
    return record;
  }

  /** One routing decision: one event per route, sharing a routing group. */
  async recordRouting(runId: string, stateId: string, routes: RouteInput[]): Promise<PipelineRecord[]> {
    if (!Array.isArray(routes) || routes.length === 0) throw invalid('routes', 'must be a non-empty list');
    const state = this.unit?.states.get(text('stateId', stateId)) ?? (await this.ownedState(this.ledger.store, runId, stateId));
    if (state.run_id !== runId) throw integrityError('pipeline_node_states', stateId, 'ownership', `state ${stateId} does not belong to run ${runId}`);
    const group = newId();
    const created = now();
    const events = routes.map((r, i): PipelineRecord => ({
      event_id: newId(),
      state_id: state.state_id,
      edge_id: text(`routes[${i}].edgeId`, r.edgeId),
      routing_group_id: group,
      ordinal: i,
      mode: r.mode === undefined ? 'move' : oneOf(`routes[${i}].mode`, r.mode, ROUTING_MODES),
      reason_hash: r.reason === undefined ? null : stableHash(r.reason),
      reason_ref: r.reason === undefined ? null : this.storePayload(r.reason),
      created_at: created,
    }));
    await this.commit(events.map((record) => ({ table: 'pipeline_routing_events' as const, record, op: 'insert' as const })), async (tx) => {
      await this.requireRunning(tx, runId);
      for (const e of events) {
        const edge = await fetchOne(tx, 'pipeline_edges', 'x.edge_id = ?', [e.edge_id as string]);
        if (!edge || edge.run_id !== runId) throw integrityError('pipeline_edges', e.edge_id as string, 'ownership', `edge ${String(e.edge_id)} is not an edge of run ${runId}`);
      }
    });
    return events;
  }

  // ---- batches ----

  async createBatch(runId: string, input: { aggregationNodeId: string; attempt?: number }): Promise<PipelineRecord> {
    const record: PipelineRecord = {
      batch_id: newId(),
      run_id: text('runId', runId),
      aggregation_node_id: text('aggregationNodeId', input.aggregationNodeId),
      aggregation_state_id: null,
      trigger_type: null,
      trigger_reason: null,
      attempt: input.attempt === undefined ? 0 : count('attempt', input.attempt),
      status: 'draft',
      created_at: now(),
      first_accepted_at: null,
      completed_at: null,
    };
    await this.commit([{ table: 'pipeline_batches', record, op: 'insert' }], async (tx) => {
      await this.requireRunning(tx, runId);
      await this.writerNode(tx, runId, record.aggregation_node_id as string);
    });
    return record;
  }

  /** Adds a token to a draft batch and records its `buffered` outcome, in one transaction. */
  async bufferToken(runId: string, batchId: string, tokenId: string): Promise<PipelineRecord> {
    this.notInUnit('bufferToken');
    const batch = await this.ownedBatch(this.ledger.store, runId, text('batchId', batchId));
    if (batch.status !== 'draft') throw integrityError('pipeline_batches', batchId, 'batch_status', `the batch is ${String(batch.status)}; only a draft batch accepts tokens`);
    const members = await fetchAll(this.ledger.store, 'pipeline_batch_members', 'x.batch_id = ?', [batchId]);
    const member: PipelineRecord = { batch_id: batchId, token_id: text('tokenId', tokenId), ordinal: members.length };
    const outcome = this.outcomeRecord(runId, tokenId, 'buffered', { batch_id: batchId });
    const changes: Change[] = [
      { table: 'pipeline_batch_members', record: member, op: 'insert' },
      { table: 'pipeline_token_outcomes', record: outcome, op: 'insert' },
    ];
    if (batch.first_accepted_at === null) {
      changes.push({ table: 'pipeline_batches', record: { ...batch, first_accepted_at: outcome.recorded_at }, op: 'update', expected: { status: 'draft' }, version: 1 });
    }
    await this.commit(changes, async (tx) => {
      await this.requireRunning(tx, runId);
      await this.writerToken(tx, runId, tokenId);
      await this.allowOutcome(tx, tokenId, 'buffered');
      const [{ n }] = await tx.query<{ n: unknown }>('SELECT COUNT(*) AS n FROM pipeline_batch_members WHERE batch_id = ?', [batchId]) as [{ n: unknown }];
      if (Number(n) !== member.ordinal) throw integrityError('pipeline_batch_members', batchId, 'ordinal', 'another member was added concurrently; retry');
    });
    return member;
  }

  /** Moves a batch draft → executing → completed | failed (terminal batches never change). */
  async setBatchStatus(runId: string, batchId: string, input: { status: 'executing' | 'completed' | 'failed'; triggerType?: (typeof TRIGGER_TYPES)[number]; triggerReason?: string; aggregationStateId?: string }): Promise<PipelineRecord> {
    this.notInUnit('setBatchStatus');
    const status = oneOf('status', input?.status, ['executing', 'completed', 'failed'] as const);
    const batch = await this.ownedBatch(this.ledger.store, runId, text('batchId', batchId));
    const allowed = batch.status === 'draft' ? ['executing', 'failed'] : batch.status === 'executing' ? ['completed', 'failed'] : [];
    if (!allowed.includes(status)) throw integrityError('pipeline_batches', batchId, 'batch_status', `a ${String(batch.status)} batch cannot become ${status}`);
    const record: PipelineRecord = {
      ...batch,
      status,
      trigger_type: input.triggerType === undefined ? batch.trigger_type : oneOf('triggerType', input.triggerType, TRIGGER_TYPES),
      trigger_reason: input.triggerReason === undefined ? batch.trigger_reason : text('triggerReason', input.triggerReason),
      aggregation_state_id: input.aggregationStateId === undefined ? batch.aggregation_state_id : text('aggregationStateId', input.aggregationStateId),
      completed_at: status === 'executing' ? null : now(),
    };
    const version = (await this.versionsOf('pipeline_batches', batchId)) + 1;
    await this.commit([{ table: 'pipeline_batches', record, op: 'update', expected: { status: batch.status as string }, version }], async (tx) => {
      await this.requireRunning(tx, runId);
    });
    return record;
  }

  // ---- artifacts, errors, checkpoints ----

  async recordArtifact(runId: string, input: { stateId: string; sinkNodeId: string; artifactType: string; pathOrUri: string; contentHash: string; sizeBytes: number; idempotencyKey?: string }): Promise<PipelineRecord> {
    const record: PipelineRecord = {
      artifact_id: newId(),
      run_id: text('runId', runId),
      produced_by_state_id: text('stateId', input.stateId),
      sink_node_id: text('sinkNodeId', input.sinkNodeId),
      artifact_type: text('artifactType', input.artifactType),
      path_or_uri: text('pathOrUri', input.pathOrUri),
      content_hash: text('contentHash', input.contentHash),
      size_bytes: count('sizeBytes', input.sizeBytes),
      idempotency_key: optText('idempotencyKey', input.idempotencyKey),
      created_at: now(),
    };
    await this.commit([{ table: 'pipeline_artifacts', record, op: 'insert' }], async (tx) => {
      await this.requireRunning(tx, runId);
      await this.ownedState(tx, runId, record.produced_by_state_id as string);
    });
    return record;
  }

  async recordValidationError(runId: string, input: { nodeId?: string; rowId?: string; row: unknown; error: string; schemaMode: string; destination: string; field?: string; expectedType?: string; actualType?: string }): Promise<PipelineRecord> {
    const record: PipelineRecord = {
      error_id: newId(),
      run_id: text('runId', runId),
      node_id: optText('nodeId', input.nodeId),
      row_id: optText('rowId', input.rowId),
      // An invalid row may hold NaN or ±Infinity: it is recorded with those replaced by null (its hash says so).
      row_hash: stableHash(replaceNonFinite(input.row)),
      row_data_json: json(replaceNonFinite(input.row)),
      error: text('error', input.error),
      schema_mode: text('schemaMode', input.schemaMode),
      destination: text('destination', input.destination),
      field: optText('field', input.field),
      expected_type: optText('expectedType', input.expectedType),
      actual_type: optText('actualType', input.actualType),
      created_at: now(),
    };
    await this.commit([{ table: 'pipeline_validation_errors', record, op: 'insert' }], async (tx) => {
      await this.requireRunning(tx, runId);
      if (record.row_id !== null) {
        const row = await fetchOne(tx, 'pipeline_rows', 'x.row_id = ?', [record.row_id as string]);
        if (!row || row.run_id !== runId) throw integrityError('pipeline_rows', record.row_id as string, 'ownership', `row ${String(record.row_id)} is not a row of run ${runId}`);
      }
    });
    return record;
  }

  async recordTransformError(runId: string, input: { tokenId: string; transformId: string; row: unknown; details?: unknown; destination: string }): Promise<PipelineRecord> {
    const record: PipelineRecord = {
      error_id: newId(),
      run_id: text('runId', runId),
      token_id: text('tokenId', input.tokenId),
      transform_id: text('transformId', input.transformId),
      row_hash: stableHash(input.row),
      row_data_json: json(input.row),
      error_details_json: json(input.details),
      destination: text('destination', input.destination),
      created_at: now(),
    };
    await this.commit([{ table: 'pipeline_transform_errors', record, op: 'insert' }], async (tx) => {
      await this.requireRunning(tx, runId);
      await this.writerToken(tx, runId, record.token_id as string);
    });
    return record;
  }

  /** A checkpoint; only ever after a durable sink write, so the token must already have a terminal outcome. */
  async createCheckpoint(runId: string, input: { tokenId: string; nodeId: string; sequenceNumber: number; aggregationState?: unknown; coalesceState?: unknown; topologyHash: string; nodeConfigHash: string; formatVersion: number }): Promise<PipelineRecord> {
    const record: PipelineRecord = {
      checkpoint_id: newId(),
      run_id: text('runId', runId),
      token_id: text('tokenId', input.tokenId),
      node_id: text('nodeId', input.nodeId),
      sequence_number: count('sequenceNumber', input.sequenceNumber),
      aggregation_state_json: json(input.aggregationState),
      coalesce_state_json: json(input.coalesceState),
      topology_hash: text('topologyHash', input.topologyHash),
      node_config_hash: text('nodeConfigHash', input.nodeConfigHash),
      format_version: count('formatVersion', input.formatVersion),
      created_at: now(),
    };
    await this.commit([{ table: 'pipeline_checkpoints', record, op: 'insert' }], async (tx) => {
      await this.requireRunning(tx, runId);
      await this.writerToken(tx, runId, record.token_id as string);
      const terminal = await terminalOutcome(tx, record.token_id as string);
      if (!terminal) throw integrityError('pipeline_checkpoints', record.checkpoint_id as string, 'checkpoint_durable', 'a checkpoint may only follow a durable sink write: the token has no terminal outcome');
    });
    return record;
  }

  // ---- retention ----

  /**
   * Deletes the payloads of finished runs that started more than `olderThanDays` days ago, except
   * payloads a kept run also references. Every hash stays in the audit tables; each purged run's
   * reproducibility grade becomes attributable_only (a chained transition), and lineage reports
   * its data as purged.
   */
  async purgePayloads(olderThanDays: number): Promise<{ runs: string[]; deleted: number }> {
    this.notInUnit('purgePayloads');
    const days = count('olderThanDays', olderThanDays);
    if (!this.payloads) throw invalid('payloads', 'are not configured: this recorder has no payload store');
    if (!(await pipelineSchemaInstalled(this.ledger.store))) return { runs: [], deleted: 0 };
    const cutoff = new Date(Date.now() - days * 86_400_000).toISOString();
    const runs = await fetchAll(this.ledger.store, 'pipeline_runs', '1 = 1', [], 'x.started_at, x.run_id');
    const old = runs.filter((r) => (r.started_at as string) < cutoff && r.status !== 'running');
    const kept = new Set<string>();
    for (const r of runs) if (!old.includes(r)) for (const ref of await runPayloadRefs(this.ledger.store, r.run_id as string)) kept.add(ref);
    let deleted = 0;
    for (const run of old) {
      for (const ref of await runPayloadRefs(this.ledger.store, run.run_id as string)) {
        if (!kept.has(ref) && this.payloads.delete(ref)) deleted++;
      }
      if (run.reproducibility_grade !== 'attributable_only') {
        const record = { ...run, reproducibility_grade: 'attributable_only' };
        const version = (await this.versionsOf('pipeline_runs', run.run_id as string)) + 1;
        await this.commit([{ table: 'pipeline_runs', record, op: 'update', expected: { status: run.status as string }, version }]);
      }
    }
    return { runs: old.map((r) => r.run_id as string), deleted };
  }

  /** A payload by key: its value, or why it is unavailable (no payload store, or purged). */
  readPayload(key: string | null): { available: true; value: unknown } | { available: false; reason: 'not_stored' | 'purged' } {
    if (key === null || !this.payloads) return { available: false, reason: 'not_stored' };
    return this.payloads.get(key);
  }

  // ---- strict reads ----

  async getRun(runId: string): Promise<PipelineRecord | null> {
    if (!(await pipelineSchemaInstalled(this.ledger.store))) return null;
    return fetchOne(this.ledger.store, 'pipeline_runs', 'x.run_id = ?', [text('runId', runId)]);
  }

  /** Most recent runs first. */
  async listRuns(limit = 20): Promise<PipelineRecord[]> {
    if (!(await pipelineSchemaInstalled(this.ledger.store))) return [];
    return fetchAll(this.ledger.store, 'pipeline_runs', '1 = 1 ORDER BY x.started_at DESC, x.run_id LIMIT ?', [count('limit', limit)]);
  }

  async getToken(runId: string, tokenId: string): Promise<PipelineRecord> {
    return this.ownedToken(this.ledger.store, runId, text('tokenId', tokenId));
  }

  async getNodeState(runId: string, stateId: string): Promise<PipelineRecord> {
    return this.ownedState(this.ledger.store, runId, text('stateId', stateId));
  }

  /** The token's terminal outcome, or null; two terminal outcomes are an integrity error. */
  async getTerminalOutcome(runId: string, tokenId: string): Promise<PipelineRecord | null> {
    await this.ownedToken(this.ledger.store, runId, text('tokenId', tokenId));
    return terminalOutcome(this.ledger.store, tokenId);
  }

  /** Every record of a run, per table, each checked strictly (the sweep, lineage and exports read this). */
  async runAudit(runId: string): Promise<RunAudit> {
    const db = this.ledger.store;
    const run = await this.getRun(runId);
    if (!run) throw new SealtrailError('out_of_range', `no pipeline run ${runId}`, { details: { runId } });
    const byRun = (table: PipelineTable, order: string) => fetchAll(db, table, 'x.run_id = ?', [runId], order);
    const records = {} as Record<PipelineTable, PipelineRecord[]>;
    records.pipeline_runs = [run];
    records.pipeline_nodes = await byRun('pipeline_nodes', 'x.sequence_in_pipeline, x.node_id');
    records.pipeline_edges = await byRun('pipeline_edges', 'x.created_at, x.edge_id');
    records.pipeline_rows = await byRun('pipeline_rows', 'x.row_index');
    records.pipeline_tokens = await byRun('pipeline_tokens', 'x.created_at, x.token_id');
    records.pipeline_token_parents = await fetchAll(db, 'pipeline_token_parents', 'x.token_id IN (SELECT token_id FROM pipeline_tokens WHERE run_id = ?)', [runId], 'x.token_id, x.ordinal');
    records.pipeline_token_outcomes = await byRun('pipeline_token_outcomes', 'x.recorded_at, x.outcome_id');
    records.pipeline_node_states = await byRun('pipeline_node_states', 'x.token_id, x.step_index, x.attempt');
    records.pipeline_operations = await byRun('pipeline_operations', 'x.started_at, x.operation_id');
    records.pipeline_calls = await fetchAll(
      db,
      'pipeline_calls',
      'x.state_id IN (SELECT state_id FROM pipeline_node_states WHERE run_id = ?) OR x.operation_id IN (SELECT operation_id FROM pipeline_operations WHERE run_id = ?)',
      [runId, runId],
      'x.created_at, x.call_id',
    );
    records.pipeline_routing_events = await fetchAll(db, 'pipeline_routing_events', 'x.state_id IN (SELECT state_id FROM pipeline_node_states WHERE run_id = ?)', [runId], 'x.routing_group_id, x.ordinal');
    records.pipeline_batches = await byRun('pipeline_batches', 'x.created_at, x.batch_id');
    records.pipeline_batch_members = await fetchAll(db, 'pipeline_batch_members', 'x.batch_id IN (SELECT batch_id FROM pipeline_batches WHERE run_id = ?)', [runId], 'x.batch_id, x.ordinal');
    records.pipeline_artifacts = await byRun('pipeline_artifacts', 'x.created_at, x.artifact_id');
    records.pipeline_validation_errors = await byRun('pipeline_validation_errors', 'x.created_at, x.error_id');
    records.pipeline_transform_errors = await byRun('pipeline_transform_errors', 'x.created_at, x.error_id');
    records.pipeline_checkpoints = await byRun('pipeline_checkpoints', 'x.sequence_number, x.checkpoint_id');
    for (const table of PIPELINE_TABLES) records[table] ??= [];
    return { run, records };
  }

  // ---- internals ----

  /** Validates every record, then writes them with their ledger entries in one transaction. */
  private async commit(changes: Change[], guard?: (tx: Tx) => Promise<void>): Promise<void> {
    this.assertUnitOpen();
    for (const c of changes) checkRecord(c.table, c.record);
    if (this.unit) {
      // Queued: written with the rest of the unit when batch() ends. What it wrote is visible to
      // the unit's later calls now, and to the recorder's caches only once the unit commits.
      this.unit.queued.push({ changes, guard });
      for (const c of changes) {
        if (c.table === 'pipeline_tokens' && c.op === 'insert') this.unit.tokens.set(c.record.token_id as string, c.record);
        else if (c.table === 'pipeline_nodes' && c.op === 'insert') this.unit.nodes.add(`${String(c.record.run_id)}/${String(c.record.node_id)}`);
        else if (c.table === 'pipeline_node_states') this.unit.states.set(c.record.state_id as string, c.record);
        else if (c.table === 'pipeline_operations') this.unit.operations.set(c.record.operation_id as string, c.record);
      }
      return;
    }
    await this.write([{ changes, guard }], null);
    for (const c of changes) {
      if (c.table === 'pipeline_tokens' && c.op === 'insert') this.knownTokens.set(c.record.token_id as string, c.record);
      else if (c.table === 'pipeline_nodes' && c.op === 'insert') this.knownNodes.add(`${String(c.record.run_id)}/${String(c.record.node_id)}`);
      else if (c.table === 'pipeline_node_states') {
        if (c.record.status === 'open' || c.record.status === 'pending') this.openStates.set(c.record.state_id as string, c.record);
        else this.openStates.delete(c.record.state_id as string);
      }
    }
  }

  /** Writes queued changes with their ledger entries in one transaction, each guard before its own writes. */
  private async write(queued: QueuedChange[], unit: UnitState | null): Promise<void> {
    await ensurePipelineSchema(this.ledger.store);
    const all = queued.flatMap((q) => q.changes);
    const events = all.map((c) => {
      const pk = recordPk(c.table, c.record);
      const payload = recordPayload(c.table, c.record);
      if (c.op === 'insert') return { kind: c.table, pk, payload };
      if (c.op === 'delete') return { kind: c.table, pk: tombstonePk(pk), payload: { deleted: payload } };
      return { kind: c.table, pk: versionPk(pk, c.version!), payload };
    });
    await this.ledger.appendWith(events, async (tx, entries) => {
      // An entry that was already in the ledger means this exact change was committed before
      // (a replay): writing the row again would duplicate or fail, so the whole change is refused.
      const replayed = entries.findIndex((e) => e.existing);
      if (replayed >= 0) throw new SealtrailError('audit_integrity', 'this change is already recorded', { details: { table: all[replayed]!.table, id: events[replayed]!.pk, rule: 'replay' } });
      if (unit) unit.running.clear();
      for (const q of queued) {
        if (q.guard) await q.guard(tx);
        for (const c of q.changes) {
          if (c.op === 'insert') await insertRecord(tx, c.table, c.record);
          else if (c.op === 'update') await updateRecord(tx, c.table, c.record, c.expected!);
          else await deleteRecord(tx, c.table, c.record);
        }
      }
    });
  }

  /** Children, links and outcomes of a fork, expand or coalesce: one transaction, parents re-checked inside it. */
  private async commitFamily(runId: string, parents: PipelineRecord[], children: PipelineRecord[], outcomes: PipelineRecord[]): Promise<void> {
    const links: PipelineRecord[] = [];
    for (const child of children) parents.forEach((p, ordinal) => links.push({ token_id: child.token_id, parent_token_id: p.token_id, ordinal }));
    await this.commit(
      [
        ...children.map((record) => ({ table: 'pipeline_tokens' as const, record, op: 'insert' as const })),
        ...links.map((record) => ({ table: 'pipeline_token_parents' as const, record, op: 'insert' as const })),
        ...outcomes.map((record) => ({ table: 'pipeline_token_outcomes' as const, record, op: 'insert' as const })),
      ],
      async (tx) => {
        await this.requireRunning(tx, runId);
        for (const p of parents) {
          await this.writerToken(tx, runId, p.token_id as string);
          await this.allowOutcome(tx, p.token_id as string, outcomes[0]!.outcome as Outcome);
        }
      },
    );
  }

  private tokenRecord(row: PipelineRecord, opts: { step: number | null; created: string; fork_group_id?: string; join_group_id?: string; expand_group_id?: string; branch_name?: string }): PipelineRecord {
    return {
      token_id: newId(),
      row_id: row.row_id,
      // Derived from the row, never from the caller.
      run_id: row.run_id,
      fork_group_id: opts.fork_group_id ?? null,
      join_group_id: opts.join_group_id ?? null,
      expand_group_id: opts.expand_group_id ?? null,
      branch_name: opts.branch_name ?? null,
      step_in_pipeline: opts.step,
      created_at: opts.created,
    };
  }

  private outcomeRecord(runId: string, tokenId: string, outcome: Outcome, fields: Partial<PipelineRecord>): PipelineRecord {
    return {
      outcome_id: newId(),
      run_id: runId,
      token_id: tokenId,
      outcome,
      is_terminal: outcome === 'buffered' ? 0 : 1,
      recorded_at: now(),
      sink_name: null,
      batch_id: null,
      fork_group_id: null,
      join_group_id: null,
      expand_group_id: null,
      error_hash: null,
      context_json: null,
      expected_branches_json: null,
      ...fields,
    };
  }

  /** One terminal outcome per token; after `buffered`, only the outcomes an aggregation can end in. */
  private async allowOutcome(db: Queryable, tokenId: string, outcome: Outcome): Promise<void> {
    const existing = await fetchAll(db, 'pipeline_token_outcomes', 'x.token_id = ?', [tokenId]);
    const terminal = existing.find((o) => o.is_terminal === 1);
    if (terminal) {
      throw integrityError('pipeline_token_outcomes', tokenId, 'one_terminal', `token ${tokenId} already has the terminal outcome ${String(terminal.outcome)}`);
    }
    if (existing.length > 0 && outcome !== 'buffered' && !AFTER_BUFFERED.includes(outcome)) {
      throw integrityError('pipeline_token_outcomes', tokenId, 'after_buffered', `a buffered token cannot end ${outcome}`);
    }
  }

  private async requireRun(db: Queryable, runId: string): Promise<PipelineRecord> {
    const run = await fetchOne(db, 'pipeline_runs', 'x.run_id = ?', [text('runId', runId)]);
    if (!run) throw integrityError('pipeline_runs', runId, 'ownership', `no pipeline run ${runId}`);
    return run;
  }

  private async requireRunning(db: Queryable, runId: string): Promise<void> {
    // Inside a unit's transaction, under the ledger lock, a run found running stays so: nothing
    // in a unit can end it, and no other writer gets the lock before the unit commits.
    if (this.unit?.running.has(runId)) return;
    const run = await this.requireRun(db, runId);
    if (run.status !== 'running') throw integrityError('pipeline_runs', runId, 'run_status', `the run is ${String(run.status)}; only a running run is recorded into`);
    this.unit?.running.add(runId);
  }

  private async writerToken(db: Queryable, runId: string, tokenId: string): Promise<PipelineRecord> {
    const known = this.unit?.tokens.get(tokenId) ?? this.knownTokens.get(tokenId);
    if (known) {
      if (known.run_id !== runId) throw integrityError('pipeline_tokens', tokenId, 'ownership', `token ${tokenId} does not belong to run ${runId} (token → row → run)`);
      return known;
    }
    const token = await this.ownedToken(db, runId, tokenId);
    // In a unit, only once the unit commits (a rolled-back unit must leave the caches as they were).
    (this.unit?.tokens ?? this.knownTokens).set(tokenId, token);
    return token;
  }

  private async writerNode(db: Queryable, runId: string, nodeId: string): Promise<void> {
    const key = `${runId}/${nodeId}`;
    if (this.unit?.nodes.has(key) || this.knownNodes.has(key)) return;
    await this.requireNode(db, runId, nodeId);
    (this.unit?.nodes ?? this.knownNodes).add(key);
  }

  private async requireNode(db: Queryable, runId: string, nodeId: string): Promise<PipelineRecord> {
    const node = await fetchOne(db, 'pipeline_nodes', 'x.node_id = ? AND x.run_id = ?', [nodeId, runId]);
    if (!node) throw integrityError('pipeline_nodes', `${runId}/${nodeId}`, 'ownership', `node ${nodeId} is not registered in run ${runId}`);
    return node;
  }

  /** The token, after checking that it and its row both belong to `runId`. */
  private async ownedToken(db: Queryable, runId: string, tokenId: string): Promise<PipelineRecord> {
    const token = await fetchOne(db, 'pipeline_tokens', 'x.token_id = ?', [tokenId]);
    if (!token) throw integrityError('pipeline_tokens', tokenId, 'ownership', `no token ${tokenId}`);
    const row = await fetchOne(db, 'pipeline_rows', 'x.row_id = ?', [token.row_id as string]);
    if (!row || row.run_id !== token.run_id || token.run_id !== runId) {
      throw integrityError('pipeline_tokens', tokenId, 'ownership', `token ${tokenId} does not belong to run ${runId} (token → row → run)`);
    }
    return token;
  }

  private async ownedState(db: Queryable, runId: string, stateId: string): Promise<PipelineRecord> {
    const state = await fetchOne(db, 'pipeline_node_states', 'x.state_id = ?', [stateId]);
    if (!state) throw integrityError('pipeline_node_states', stateId, 'ownership', `no node state ${stateId}`);
    if (state.run_id !== runId) throw integrityError('pipeline_node_states', stateId, 'ownership', `state ${stateId} does not belong to run ${runId}`);
    await this.ownedToken(db, runId, state.token_id as string);
    return state;
  }

  private async ownedOperation(db: Queryable, runId: string, operationId: string): Promise<PipelineRecord> {
    const op = await fetchOne(db, 'pipeline_operations', 'x.operation_id = ?', [operationId]);
    if (!op || op.run_id !== runId) throw integrityError('pipeline_operations', operationId, 'ownership', `operation ${operationId} does not belong to run ${runId}`);
    return op;
  }

  private async ownedBatch(db: Queryable, runId: string, batchId: string): Promise<PipelineRecord> {
    const batch = await fetchOne(db, 'pipeline_batches', 'x.batch_id = ?', [batchId]);
    if (!batch || batch.run_id !== runId) throw integrityError('pipeline_batches', batchId, 'ownership', `batch ${batchId} does not belong to run ${runId}`);
    return batch;
  }

  /** How many transitions of a record are chained (runs and batches change status a variable number of times). */
  private async versionsOf(table: PipelineTable, pk: string): Promise<number> {
    let n = 0;
    for (;;) {
      const rows = await this.ledger.store.query('SELECT seq FROM audit_chain WHERE event_kind = ? AND event_pk = ?', [table, versionPk(pk, n + 1)]);
      if (rows.length === 0) return n;
      n++;
    }
  }

  private nextRunVersion(runId: string): Promise<number> {
    return this.versionsOf('pipeline_runs', runId).then((n) => n + 1);
  }

  /** Stores a payload before the database write that references it: no hash is ever recorded without its content. */
  private storePayload(value: unknown): string | null {
    if (!this.payloads) return null;
    return this.payloads.put(value);
  }
}

/**
 * The token's terminal outcome. Every outcome of the token is loaded and checked, not only the
 * rows whose is_terminal says 1: a row with a corrupted is_terminal must be refused, not skipped.
 */
async function terminalOutcome(db: Queryable, tokenId: string): Promise<PipelineRecord | null> {
  const terminal = (await fetchAll(db, 'pipeline_token_outcomes', 'x.token_id = ?', [tokenId])).filter((o) => o.is_terminal === 1);
  if (terminal.length > 1) {
    throw integrityError('pipeline_token_outcomes', tokenId, 'fetch_one', `token ${tokenId} has ${terminal.length} terminal outcomes (${terminal.map((o) => String(o.outcome)).join(', ')})`);
  }
  return terminal[0] ?? null;
}

/** NaN and ±Infinity replaced by null (only for rows recorded as invalid, whose hash then says so). */
function replaceNonFinite(value: unknown): unknown {
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (Array.isArray(value)) return value.map(replaceNonFinite);
  if (value !== null && typeof value === 'object' && !(value instanceof Date) && !(value instanceof Uint8Array)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, replaceNonFinite(v)]));
  }
  return value;
}
