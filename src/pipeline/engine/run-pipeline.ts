/**
 * The pipeline engine: drives a compiled pipeline row by row and records everything through the
 * PipelineRecorder, so that every token ends with exactly one terminal outcome on every path the
 * engine supports (docs/pipelines.md, ../shared/pipeline-model.md). Rules kept here:
 * - a node state is opened before its plugin runs and always completed (completed or failed),
 *   whatever the plugin does;
 * - a sink's states and outcomes are written only after its write AND flush returned;
 * - an error result is never retried; a retryable failure is retried only with `retry`
 *   configured (each attempt its own state), else it becomes an error result;
 * - any other exception is a plugin bug: its state is failed with the exception, what is ready is
 *   written, and the run is marked failed.
 */
import { hostname } from 'node:os';
import { SealtrailError } from '../../core/errors.js';
import { openLedger, type Ledger } from '../../ledger/ledger.js';
import type { PayloadStore } from '../payload-store.js';
import { PipelineRecorder, type BatchUnit } from '../pipeline-recorder.js';
import type { Outcome } from '../record-rules.js';
import { isRetryable, type PipelineRow, type PluginContext, type PluginDefinition, type TransformResult } from './plugin-api.js';
import { LeaseHeartbeat } from './run-lifecycle.js';
import { compileSettings, type CompiledGate, type CompiledNode, type CompiledPipeline, type CompiledSink, type CompiledTransform, type Target } from './pipeline-settings.js';

export interface RunPipelineOptions {
  /** The ledger: an open one, or a database URL / SQLite path (default: `landscape.url`, else ./sealtrail.db). */
  db?: Ledger | string;
  plugins?: readonly PluginDefinition[];
  /** Aborting stops after the current row: what is ready is written and the run is marked interrupted. */
  signal?: AbortSignal;
  /** Use this run id (32 lower-case hex) instead of a random one. */
  runId?: string;
  /** Relative plugin paths resolve against this (the CLI passes the settings file's directory). */
  baseDir?: string;
  /** Where row data and call payloads are kept; without one only their hashes are recorded. */
  payloads?: PayloadStore;
  /** Rows a sink collects before one write + flush (default 100; the end of the source writes the rest). */
  sinkBatchSize?: number;
  onProgress?: (progress: PipelineProgress) => void;
  /** Lease length in seconds, renewed every third of it while the run is alive (default 30). */
  leaseSeconds?: number;
}

export interface PipelineProgress {
  rowsRead: number;
  outcomes: Partial<Record<Outcome, number>>;
  elapsedMs: number;
}

export interface PipelineResult {
  runId: string;
  status: 'completed' | 'failed' | 'interrupted';
  settingsHash: string;
  rowsRead: number;
  /** Terminal outcomes recorded, by outcome. */
  outcomes: Partial<Record<Outcome, number>>;
  /** Rows each sink made durable. */
  written: Record<string, number>;
  durationMs: number;
}

interface PendingRow {
  tokenId: string;
  data: PipelineRow;
  step: number;
  outcome: 'completed' | 'routed' | 'quarantined' | 'diverted';
  /** Why (quarantined, diverted, routed on error): its error_hash goes on the outcome. */
  error?: string;
}

/** Raised out of a node to stop the run as failed, after what is ready has been written. */
class RunFailure extends Error {
  constructor(readonly error: SealtrailError) {
    super(error.message);
  }
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function exceptionInfo(e: unknown, phase: string): Record<string, unknown> {
  return { exception: message(e), type: e instanceof Error ? e.constructor.name : typeof e, phase };
}

function isRow(v: unknown): v is PipelineRow {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs a pipeline from settings (an object, e.g. parsed YAML) and returns when the run has ended. */
export async function runPipeline(settings: unknown, options: RunPipelineOptions = {}): Promise<PipelineResult> {
  const compiled = compileSettings(settings, { plugins: options.plugins, baseDir: options.baseDir });
  const ledger = typeof options.db === 'object' ? options.db : await openLedger({ url: options.db ?? compiled.landscapeUrl ?? 'sealtrail.db' });
  try {
    return await new PipelineEngine(compiled, new PipelineRecorder(ledger, { payloads: options.payloads }), options).run();
  } finally {
    if (typeof options.db !== 'object') await ledger.close();
  }
}

class PipelineEngine {
  private runId = '';
  private readonly nodeIds = new Map<string, string>();
  private readonly edgeIds = new Map<string, string>();
  private readonly pending = new Map<string, PendingRow[]>();
  private readonly outcomes: Partial<Record<Outcome, number>> = {};
  private readonly written: Record<string, number> = {};
  private rowsRead = 0;
  private readonly started = Date.now();
  private readonly batchSize: number;
  /** Where the engine records: the base recorder, or the open unit's view of it. */
  private recorder: PipelineRecorder;
  private unit: BatchUnit | null = null;
  /** Rows in the open unit. */
  private unitRows = 0;
  /** A unit failed to commit: its rows were never recorded, so no sink may write what is pending. */
  private lostUnit: unknown = null;

  constructor(
    private readonly p: CompiledPipeline,
    private readonly base: PipelineRecorder,
    private readonly options: RunPipelineOptions,
  ) {
    this.recorder = base;
    this.batchSize = options.sinkBatchSize ?? 100;
    if (!Number.isSafeInteger(this.batchSize) || this.batchSize < 1) throw new SealtrailError('invalid_argument', 'sinkBatchSize must be a positive integer');
    for (const s of p.sinks.values()) this.pending.set(s.name, []);
  }

  async run(): Promise<PipelineResult> {
    if (this.options.runId !== undefined && (await this.recorder.getRun(this.options.runId))) {
      throw new SealtrailError('invalid_argument', `a pipeline run ${this.options.runId} already exists`, { details: { runId: this.options.runId } });
    }
    const owner = `${hostname()}:${process.pid}`;
    const leaseSeconds = this.options.leaseSeconds ?? 30;
    const run = await this.recorder.beginRun({ settings: this.p.canonical, configHash: this.p.settingsHash, sourceSchema: this.p.source.instance.schema, runId: this.options.runId, leaseOwner: owner, leaseSeconds });
    this.runId = run.run_id as string;
    const heartbeat = new LeaseHeartbeat(this.recorder, this.runId, owner, leaseSeconds);
    let status: PipelineResult['status'] = 'completed';
    let failure: SealtrailError | null = null;
    try {
      // The topology is one unit: one commit for every node and edge.
      this.openUnit();
      await this.registerTopology();
      await this.commitUnit();
      const stopped = await this.readSource();
      await this.writeAll();
      if (stopped) status = 'interrupted';
    } catch (e) {
      status = 'failed';
      failure = e instanceof RunFailure ? e.error : e instanceof SealtrailError ? e : new SealtrailError('pipeline_plugin_failed', message(e), { cause: e, details: { run_id: this.runId } });
      if (e instanceof RunFailure) {
        // Rows already through the graph are valid: they are written and audited before the run fails.
        try {
          await this.writeAll();
        } catch {
          // The run fails either way; the first failure is the one reported.
        }
      }
    } finally {
      for (const s of this.p.sinks.values()) await s.instance.close?.();
    }
    // A failure between opening a unit and committing it leaves it open: its records are valid, keep them.
    await this.commitUnit().catch(() => {});
    const lost = await heartbeat.stop();
    if (lost !== null && failure === null) {
      status = 'failed';
      failure = new SealtrailError('pipeline_plugin_failed', `the run's lease could not be renewed: ${message(lost)}`, { cause: lost, details: { run_id: this.runId, phase: 'lease' } });
    }
    await this.recorder.finishRun(this.runId, status);
    if (failure) throw failure;
    return { runId: this.runId, status, settingsHash: this.p.settingsHash, rowsRead: this.rowsRead, outcomes: { ...this.outcomes }, written: { ...this.written }, durationMs: Date.now() - this.started };
  }

  // ---- topology ----

  private nodeKey(n: { kind: string; name: string }): string {
    return `${n.kind}:${n.name}`;
  }

  private nodeId(n: { kind: string; name: string }): string {
    return this.nodeIds.get(this.nodeKey(n))!;
  }

  private async registerTopology(): Promise<void> {
    for (const [i, n] of this.p.nodes.entries()) {
      const def = n.kind === 'gate' ? { name: 'gate', version: '1.0', determinism: 'deterministic' as const } : n.def;
      const rec = await this.recorder.registerNode(this.runId, { nodeType: n.kind, pluginName: def.name, pluginVersion: def.version, determinism: def.determinism, config: n.config, sequenceInPipeline: i });
      this.nodeIds.set(this.nodeKey(n), rec.node_id as string);
    }
    const edge = async (from: CompiledNode, to: Target, label: string, mode: 'move' | 'copy' | 'divert') => {
      const rec = await this.recorder.registerEdge(this.runId, { fromNodeId: this.nodeId(from), toNodeId: this.nodeId(to), label, mode });
      this.edgeIds.set(`${this.nodeKey(from)}|${label}`, rec.edge_id as string);
    };
    const src = this.p.source;
    await edge(src, src.onSuccess, 'continue', 'move');
    if (src.onValidationFailure !== 'discard') await edge(src, { kind: 'sink', name: src.onValidationFailure }, '__quarantine__', 'divert');
    for (const t of this.p.transforms.values()) {
      await edge(t, t.onSuccess, 'continue', 'move');
      if (t.onError !== 'discard') await edge(t, { kind: 'sink', name: t.onError }, `__error_${t.name}__`, 'divert');
    }
    for (const g of this.p.gates.values()) {
      for (const [label, r] of Object.entries(g.routes)) if (r !== 'fork') await edge(g, r, label, 'move');
      for (const f of g.forkTo) await edge(g, f.target, f.branch, 'copy');
    }
    for (const s of this.p.sinks.values()) if (s.failsink !== 'discard') await edge(s, { kind: 'sink', name: s.failsink }, '__failsink__', 'divert');
  }

  private edgeId(from: { kind: string; name: string }, label: string): string {
    return this.edgeIds.get(`${this.nodeKey(from)}|${label}`)!;
  }

  private context(nodeId: string, stateId: () => string): PluginContext {
    return {
      runId: this.runId,
      nodeId,
      db: this.recorder.ledger.store,
      recordCall: async (call) => {
        await this.recorder.recordCall(this.runId, { stateId: stateId(), ...call });
      },
    };
  }

  private async outcome(tokenId: string, outcome: Outcome & ('completed' | 'routed' | 'failed' | 'quarantined' | 'diverted'), fields: { sinkName?: string; error?: string; context?: unknown } = {}): Promise<void> {
    await this.recorder.recordOutcome(this.runId, tokenId, { outcome, ...fields });
    this.count(outcome);
  }

  private count(outcome: Outcome, n = 1): void {
    this.outcomes[outcome] = (this.outcomes[outcome] ?? 0) + n;
  }

  // ---- source ----

  /** Reads the source to its end (or until the signal); true when stopped by the signal. */
  private async readSource(): Promise<boolean> {
    const src = this.p.source;
    const sourceId = this.nodeId(src);
    const op = await this.recorder.beginOperation(this.runId, { nodeId: sourceId, operationType: 'source_load', input: { plugin: src.def.name } });
    let rowIndex = 0;
    let stopped = false;
    try {
      const ctx = this.context(sourceId, () => {
        throw new SealtrailError('invalid_argument', 'a source records its calls on its operation, not on a node state');
      });
      for await (const item of src.instance.load(ctx)) {
        // The SQLite driver is synchronous: without a turn of the event loop now and then, signals
        // and the lease heartbeat (timers) would never run during a long run. Every row costs a
        // turn's worth of latency, so it is every YIELD_EVERY rows (and at every unit commit).
        if (rowIndex % YIELD_EVERY === 0) await new Promise((r) => setImmediate(r));
        if (this.options.signal?.aborted) {
          stopped = true;
          break;
        }
        const index = rowIndex++;
        this.rowsRead++;
        this.openUnit();
        this.unitRows++;
        if ('invalid' in item) await this.quarantine(index, item.invalid);
        else {
          const { token } = await this.recorder.createRow(this.runId, { sourceNodeId: sourceId, rowIndex: index, data: item.row });
          const state = await this.recorder.openState(this.runId, { tokenId: token.token_id as string, nodeId: sourceId, stepIndex: 0, input: item.row });
          await this.recorder.completeState(this.runId, state.state_id as string, { status: 'completed', output: item.row });
          await this.walk(token.token_id as string, item.row, src.onSuccess, 1, 'completed');
        }
        if (this.unitRows >= MAX_UNIT_ROWS) await this.commitUnit();
        await this.writeFull();
        this.options.onProgress?.({ rowsRead: this.rowsRead, outcomes: { ...this.outcomes }, elapsedMs: Date.now() - this.started });
      }
    } catch (e) {
      // The source did not reach its end (its own failure, a plugin bug or a failed sink write).
      // What the open unit holds are valid records of rows read so far (the failing row's up to
      // its failure, as if each call had committed alone): they are kept, and the sweep sees them.
      await this.commitUnit().catch(() => {});
      await this.recorder.completeOperation(this.runId, op.operation_id as string, { status: 'failed', errorMessage: `source load stopped after ${this.rowsRead} rows: ${message(e)}` });
      throw e instanceof RunFailure || e instanceof SealtrailError ? e : new RunFailure(new SealtrailError('pipeline_plugin_failed', `source ${src.def.name} failed: ${message(e)}`, { cause: e, details: { run_id: this.runId, node_id: sourceId, plugin: src.def.name } }));
    }
    await this.commitUnit();
    await this.recorder.completeOperation(this.runId, op.operation_id as string, { status: 'completed', output: { rows: this.rowsRead, stopped } });
    return stopped;
  }

  private async quarantine(rowIndex: number, invalid: { row: unknown; error: string; field?: string; expectedType?: string; actualType?: string }): Promise<void> {
    const src = this.p.source;
    const sourceId = this.nodeId(src);
    const destination = src.onValidationFailure;
    const schemaMode = String((src.instance.schema as { mode?: unknown } | undefined)?.mode ?? 'observed');
    const detail = { field: invalid.field, expectedType: invalid.expectedType, actualType: invalid.actualType };
    if (destination === 'discard') {
      await this.recorder.recordValidationError(this.runId, { nodeId: sourceId, row: invalid.row, error: invalid.error, schemaMode, destination, ...detail });
      return;
    }
    // The row is kept (non-finite numbers replaced by null, as the validation error records it).
    const data = replaceNonFinite(isRow(invalid.row) ? invalid.row : { _value: invalid.row }) as PipelineRow;
    const { row, token } = await this.recorder.createRow(this.runId, { sourceNodeId: sourceId, rowIndex, data });
    await this.recorder.recordValidationError(this.runId, { nodeId: sourceId, rowId: row.row_id as string, row: invalid.row, error: invalid.error, schemaMode, destination, ...detail });
    const state = await this.recorder.openState(this.runId, { tokenId: token.token_id as string, nodeId: sourceId, stepIndex: 0, input: data });
    await this.recorder.completeState(this.runId, state.state_id as string, { status: 'failed', error: { reason: 'validation_failed', error: invalid.error, ...detail } });
    await this.recorder.recordRouting(this.runId, state.state_id as string, [{ edgeId: this.edgeId(src, '__quarantine__'), mode: 'divert', reason: { reason: 'validation_failed', error: invalid.error } }]);
    this.enqueue(destination, { tokenId: token.token_id as string, data, step: 1, outcome: 'quarantined', error: invalid.error });
  }

  // ---- the graph walk ----

  private async walk(tokenId: string, data: PipelineRow, at: Target, step: number, mode: 'completed' | 'routed'): Promise<void> {
    let target = at;
    let row = data;
    let s = step;
    let arrival = mode;
    for (;;) {
      if (target.kind === 'sink') {
        this.enqueue(target.name, { tokenId, data: row, step: s, outcome: arrival });
        return;
      }
      if (target.kind === 'transform') {
        const t = this.p.transforms.get(target.name)!;
        const next = await this.transform(t, tokenId, row, s);
        if (next === null) return;
        row = next;
        target = t.onSuccess;
      } else {
        const g = this.p.gates.get(target.name)!;
        const next = await this.gate(g, tokenId, row, s);
        if (next === null) return;
        target = next;
        if (target.kind === 'sink') arrival = 'routed';
      }
      s++;
    }
  }

  /** Runs a transform (with retries); the row to continue with, or null when the token ended here. */
  private async transform(t: CompiledTransform, tokenId: string, row: PipelineRow, step: number): Promise<PipelineRow | null> {
    const nodeId = this.nodeId(t);
    const retry = this.p.retry;
    for (let attempt = 0; ; attempt++) {
      const state = await this.recorder.openState(this.runId, { tokenId, nodeId, stepIndex: step, attempt, input: row });
      const stateId = state.state_id as string;
      let result: TransformResult;
      try {
        result = await t.instance.process(structuredClone(row), this.context(nodeId, () => stateId));
        if (!isResult(result)) throw new TypeError(`transform ${t.name} returned neither {row}, {rows} nor {error}`);
        if ('rows' in result && !t.def.createsTokens) throw new TypeError(`transform ${t.name} returned several rows but its plugin does not declare createsTokens`);
        if ('row' in result && !isRow(result.row)) throw new TypeError(`transform ${t.name} returned a row that is not an object`);
        if ('rows' in result && (!Array.isArray(result.rows) || result.rows.length === 0 || !result.rows.every(isRow))) throw new TypeError(`transform ${t.name} returned rows that are not a non-empty list of objects`);
      } catch (e) {
        if (!isRetryable(e)) {
          await this.recorder.completeState(this.runId, stateId, { status: 'failed', error: exceptionInfo(e, 'process') });
          throw new RunFailure(new SealtrailError('pipeline_plugin_failed', `transform ${t.name} (plugin ${t.def.name}) raised: ${message(e)}`, { cause: e, details: { run_id: this.runId, node_id: nodeId, plugin: t.def.name } }));
        }
        await this.recorder.completeState(this.runId, stateId, { status: 'failed', error: { ...exceptionInfo(e, 'process'), retryable: true, attempt } });
        if (retry && attempt + 1 < retry.max_attempts) {
          const delay = Math.min(retry.max_delay_ms, retry.initial_delay_ms * retry.exponential_base ** attempt) + Math.random() * retry.jitter_ms;
          await sleep(delay);
          continue;
        }
        if (retry) {
          await this.outcome(tokenId, 'failed', { error: `retries exhausted after ${attempt + 1} attempts: ${message(e)}`, context: { transform: t.name, attempts: attempt + 1 } });
          return null;
        }
        // Without retry configured a retryable failure is an error result, routed by on_error.
        await this.errorResult(t, tokenId, stateId, row, { reason: 'retryable_failure', error: message(e) });
        return null;
      }
      if ('error' in result) {
        await this.recorder.completeState(this.runId, stateId, { status: 'failed', error: { reason: 'error_result', details: result.error ?? null } });
        await this.errorResult(t, tokenId, stateId, row, result.error ?? null);
        return null;
      }
      if ('rows' in result) {
        await this.recorder.completeState(this.runId, stateId, { status: 'completed', output: result.rows, successReason: result.reason ?? { rows: result.rows.length } });
        const children = await this.recorder.expandToken(this.runId, tokenId, { count: result.rows.length, stepInPipeline: step });
        this.count('expanded');
        for (const [i, child] of children.entries()) await this.walk(child.token_id as string, result.rows[i]!, t.onSuccess, step + 1, 'completed');
        return null;
      }
      await this.recorder.completeState(this.runId, stateId, { status: 'completed', output: result.row, successReason: result.reason ?? null });
      return result.row;
    }
  }

  private async errorResult(t: CompiledTransform, tokenId: string, stateId: string, row: PipelineRow, details: unknown): Promise<void> {
    await this.recorder.recordTransformError(this.runId, { tokenId, transformId: this.nodeId(t), row, details, destination: t.onError });
    const why = `transform ${t.name} error: ${JSON.stringify(details)}`;
    if (t.onError === 'discard') {
      await this.outcome(tokenId, 'quarantined', { error: why, context: { transform: t.name, details } });
      return;
    }
    await this.recorder.recordRouting(this.runId, stateId, [{ edgeId: this.edgeId(t, `__error_${t.name}__`), mode: 'divert', reason: { reason: 'error_result', transform: t.name, details } }]);
    this.enqueue(t.onError, { tokenId, data: row, step: 0, outcome: 'routed', error: why });
  }

  /** Evaluates a gate; the target to continue to, or null when the token ended here (failed or forked). */
  private async gate(g: CompiledGate, tokenId: string, row: PipelineRow, step: number): Promise<Target | null> {
    const state = await this.recorder.openState(this.runId, { tokenId, nodeId: this.nodeId(g), stepIndex: step, input: row });
    const stateId = state.state_id as string;
    const fail = async (reason: Record<string, unknown>) => {
      await this.recorder.completeState(this.runId, stateId, { status: 'failed', error: { condition: g.condition, ...reason } });
      await this.outcome(tokenId, 'failed', { error: `gate ${g.name}: ${JSON.stringify(reason)}` });
      return null;
    };
    let value: unknown;
    try {
      value = g.evaluate(row);
    } catch (e) {
      // An evaluation error (a missing field, a type mismatch) fails this token, never the run.
      return fail({ reason: 'evaluation_error', error: message(e).split('\n')[0] });
    }
    if (typeof value !== 'boolean' && typeof value !== 'string') return fail({ reason: 'not_a_route_label', result_type: typeof value });
    const label = String(value);
    const route = g.routes[label];
    if (route === undefined) return fail({ reason: 'no_route', result: value, route: label });
    if (route === 'fork') {
      const branches = g.forkTo.map((f) => f.branch);
      await this.recorder.recordRouting(this.runId, stateId, g.forkTo.map((f) => ({ edgeId: this.edgeId(g, f.branch), mode: 'copy' as const, reason: { condition: g.condition, result: value, route: label, branch: f.branch } })));
      await this.recorder.completeState(this.runId, stateId, { status: 'completed', output: row, successReason: { condition: g.condition, result: value, route: label, fork_to: branches } });
      const children = await this.recorder.forkToken(this.runId, tokenId, { branches, stepInPipeline: step });
      this.count('forked');
      for (const [i, child] of children.entries()) {
        const f = g.forkTo[i]!;
        await this.walk(child.token_id as string, structuredClone(row), f.target, step + 1, f.target.kind === 'sink' ? 'routed' : 'completed');
      }
      return null;
    }
    await this.recorder.recordRouting(this.runId, stateId, [{ edgeId: this.edgeId(g, label), reason: { condition: g.condition, result: value, route: label } }]);
    await this.recorder.completeState(this.runId, stateId, { status: 'completed', output: row, successReason: { condition: g.condition, result: value, route: label } });
    return route;
  }

  // ---- sinks ----

  private enqueue(sink: string, row: PendingRow): void {
    this.pending.get(sink)!.push(row);
  }

  /** Writes every sink whose batch is full. */
  private async writeFull(): Promise<void> {
    for (const [name, rows] of this.pending) if (rows.length >= this.batchSize) await this.writeSink(this.p.sinks.get(name)!);
  }

  /** Writes everything pending, failsinks last (they receive the other sinks' rejections). */
  private async writeAll(): Promise<void> {
    for (let more = true; more; ) {
      more = false;
      for (const [name, rows] of this.pending) {
        if (rows.length === 0) continue;
        more = true;
        await this.writeSink(this.p.sinks.get(name)!);
      }
    }
  }

  private async writeSink(sink: CompiledSink): Promise<void> {
    if (this.lostUnit !== null) {
      throw new SealtrailError('pipeline_plugin_failed', `sink ${sink.name} not written: recording rows failed earlier (${message(this.lostUnit)})`, { cause: this.lostUnit, details: { run_id: this.runId, phase: 'record' } });
    }
    const rows = this.pending.get(sink.name)!.splice(0);
    if (rows.length === 0) return;
    const nodeId = this.nodeId(sink);
    const step = (r: PendingRow) => (r.step > 0 ? r.step : this.p.nodes.length);
    const rejected: { row: PendingRow; reason: string }[] = [];
    let accepted: PendingRow[] = [];
    for (const r of rows) {
      const missing = sink.requiredFields.find((f) => r.data[f] === undefined || r.data[f] === null || r.data[f] === '');
      if (missing !== undefined) rejected.push({ row: r, reason: `required field ${missing} is missing` });
      else accepted.push(r);
    }
    if (accepted.length > 0) {
      // Everything before the sink (these rows' tokens, states and routing, and the write's
      // operation) is durable before the sink is written: a crash during the write leaves
      // tokens without an outcome, which the sweep names.
      this.openUnit();
      const op = await this.recorder.beginOperation(this.runId, { nodeId, operationType: 'sink_write', input: { tokens: accepted.map((r) => r.tokenId) } });
      await this.commitUnit();
      let artifact;
      const ctx = this.context(nodeId, () => {
        throw new SealtrailError('invalid_argument', 'a sink has no node state during its write');
      });
      try {
        const result = (await sink.instance.write(accepted.map((r) => structuredClone(r.data)), ctx)) ?? {};
        const refused = new Map((result.rejected ?? []).map((x) => [x.index, x.reason]));
        artifact = await sink.instance.flush(ctx);
        for (const [i, r] of accepted.entries()) if (refused.has(i)) rejected.push({ row: r, reason: refused.get(i)! });
        accepted = accepted.filter((_, i) => !refused.has(i));
      } catch (e) {
        // Nothing of this write is recorded as written: no sink states, no outcomes.
        await this.recorder.completeOperation(this.runId, op.operation_id as string, { status: 'failed', errorMessage: `sink ${sink.name} write failed: ${message(e)}` });
        throw new SealtrailError('pipeline_plugin_failed', `sink ${sink.name} (plugin ${sink.def.name}) write failed: ${message(e)}`, { cause: e, details: { run_id: this.runId, node_id: nodeId, plugin: sink.def.name, phase: 'write' } });
      }
      // Only now, after the write and flush succeeded: the sink states and outcomes, one unit.
      this.openUnit();
      await this.recorder.completeOperation(this.runId, op.operation_id as string, { status: 'completed', output: { artifact, rows: accepted.length } });
      let first = true;
      for (const r of accepted) {
        const state = await this.recorder.openState(this.runId, { tokenId: r.tokenId, nodeId, stepIndex: step(r), input: r.data });
        await this.recorder.completeState(this.runId, state.state_id as string, { status: 'completed', output: r.data, successReason: { artifact_hash: artifact.contentHash } });
        if (first) {
          await this.recorder.recordArtifact(this.runId, { stateId: state.state_id as string, sinkNodeId: nodeId, ...artifact });
          first = false;
        }
        await this.outcome(r.tokenId, r.outcome, { sinkName: sink.name, ...(r.error === undefined ? {} : { error: r.error }) });
      }
      this.written[sink.name] = (this.written[sink.name] ?? 0) + accepted.length;
    }
    if (rejected.length > 0) this.openUnit();
    for (const { row: r, reason } of rejected) {
      const state = await this.recorder.openState(this.runId, { tokenId: r.tokenId, nodeId, stepIndex: step(r), input: r.data });
      await this.recorder.completeState(this.runId, state.state_id as string, { status: 'failed', error: { reason: 'rejected_by_sink', sink: sink.name, error: reason } });
      const why = `sink ${sink.name} rejected the row: ${reason}`;
      if (sink.failsink === 'discard') {
        await this.outcome(r.tokenId, 'diverted', { sinkName: '__discard__', error: why });
        continue;
      }
      await this.recorder.recordRouting(this.runId, state.state_id as string, [{ edgeId: this.edgeId(sink, '__failsink__'), mode: 'divert', reason: { reason: 'rejected_by_sink', sink: sink.name, error: reason } }]);
      this.enqueue(sink.failsink, { tokenId: r.tokenId, data: { ...r.data, _diversion_reason: why }, step: step(r) + 1, outcome: 'diverted', error: why });
    }
    await this.commitUnit();
  }

  // ---- batch units ----

  /** Records into a batch unit from now on (one is opened unless one is open). */
  private openUnit(): void {
    if (this.unit) return;
    this.unit = this.base.openBatch();
    this.recorder = this.unit.recorder;
    this.unitRows = 0;
  }

  /** Commits the open unit, if any: one transaction. A failure is remembered (see lostUnit) and rethrown. */
  private async commitUnit(): Promise<void> {
    const unit = this.unit;
    if (!unit) return;
    this.unit = null;
    this.recorder = this.base;
    this.unitRows = 0;
    try {
      await unit.commit();
    } catch (e) {
      this.lostUnit ??= e;
      throw e;
    }
    // A commit on SQLite never leaves the thread: let timers and signals run.
    await new Promise((r) => setImmediate(r));
  }
}

/** Rows recorded in one batch unit at most (a sink write commits the unit sooner). */
const MAX_UNIT_ROWS = 500;
/** Source rows between two turns of the event loop. */
const YIELD_EVERY = 32;

function isResult(v: unknown): v is TransformResult {
  return isRow(v) && ('row' in v || 'rows' in v || 'error' in v);
}

function replaceNonFinite(value: unknown): unknown {
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (Array.isArray(value)) return value.map(replaceNonFinite);
  if (isRow(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, replaceNonFinite(v)]));
  return value;
}
