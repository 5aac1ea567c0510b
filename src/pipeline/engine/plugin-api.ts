/**
 * The plugin interface of the pipeline engine (docs/pipelines.md, "Writing a plugin"). A plugin is
 * a definition (kind, name, version, determinism class: mandatory, it sets the run's
 * reproducibility grade) whose `create` validates its options and returns the instance the engine
 * drives. Plugins never write the audit store: the engine records every state, call and outcome
 * around them, so a plugin cannot leave a row half-recorded.
 */
import { resolve } from 'node:path';
import { SealtrailError } from '../../core/errors.js';
import type { Store } from '../../store/store.js';

export type Determinism = 'deterministic' | 'seeded' | 'io_read' | 'io_write' | 'external_call' | 'non_deterministic';
export type PipelineRow = Record<string, unknown>;

/** What a source yields per record: a valid row, or an invalid one with why. */
export type SourceItem = { row: PipelineRow } | { invalid: { row: unknown; error: string; field?: string; expectedType?: string; actualType?: string } };

export interface CallRecord {
  callType: 'llm' | 'http' | 'http_redirect' | 'sql' | 'vector' | 'filesystem';
  status: 'success' | 'error';
  request: unknown;
  response?: unknown;
  error?: unknown;
  latencyMs?: number;
}

export interface PluginContext {
  runId: string;
  nodeId: string;
  /** The ledger database (the `database` sink writes its table here). */
  db: Store;
  /** Records an external call under the current node state (transforms) before the result is used. */
  recordCall(call: CallRecord): Promise<void>;
}

export interface SourceInstance {
  /** The schema as configured, recorded on the run (source_schema_json). */
  schema?: unknown;
  load(ctx: PluginContext): AsyncIterable<SourceItem> | Iterable<SourceItem>;
}

/** A transform's result: one row, several rows (only for plugins with `createsTokens`), or an error result. */
export type TransformResult = { row: PipelineRow; reason?: unknown } | { rows: PipelineRow[]; reason?: unknown } | { error: unknown };

export interface TransformInstance {
  process(row: PipelineRow, ctx: PluginContext): TransformResult | Promise<TransformResult>;
}

export interface WriteResult {
  /** Rows (by index in the batch given to write) the sink refused; they are diverted to its failsink. */
  rejected?: { index: number; reason: string }[];
}

export interface ArtifactDescriptor {
  artifactType: string;
  pathOrUri: string;
  /** SHA-256 hex of the bytes (or rows) this write made durable. */
  contentHash: string;
  sizeBytes: number;
  idempotencyKey?: string;
}

export interface SinkInstance {
  /** Writes rows (not yet durable). Throwing fails the whole write: no states, no outcomes. */
  write(rows: PipelineRow[], ctx: PluginContext): Promise<WriteResult> | WriteResult;
  /** Makes the last write durable and describes it; the engine records outcomes only after this returns. */
  flush(ctx: PluginContext): Promise<ArtifactDescriptor> | ArtifactDescriptor;
  close?(): Promise<void> | void;
}

interface DefinitionBase {
  name: string;
  version: string;
  determinism: Determinism;
}

export interface SourceDefinition extends DefinitionBase {
  kind: 'source';
  create(options: OptionReader): SourceInstance;
}

export interface TransformDefinition extends DefinitionBase {
  kind: 'transform';
  /** One row may become several (→ an `expanded` parent and child tokens). */
  createsTokens?: boolean;
  create(options: OptionReader): TransformInstance;
}

export interface SinkDefinition extends DefinitionBase {
  kind: 'sink';
  create(options: OptionReader): SinkInstance;
}

export type PluginDefinition = SourceDefinition | TransformDefinition | SinkDefinition;

/**
 * A failure worth retrying (a timeout, a refused connection, a 5xx). With `retry` configured the
 * engine tries again; without it the failure becomes an error result routed by `on_error`. Any
 * other exception from a plugin is a bug and fails the run.
 */
export class RetryableError extends Error {
  override readonly name = 'RetryableError';
  readonly details: unknown;
  constructor(message: string, details?: unknown) {
    super(message);
    this.details = details;
  }
}

const RETRYABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT']);

/** Retryable: a RetryableError, an error declaring `retryable: true`, or a connection-level failure. */
export function isRetryable(error: unknown): boolean {
  if (error instanceof RetryableError) return true;
  if (error === null || typeof error !== 'object') return false;
  const e = error as { retryable?: unknown; code?: unknown; name?: unknown; cause?: unknown };
  if (e.retryable === true) return true;
  if (typeof e.code === 'string' && RETRYABLE_CODES.has(e.code)) return true;
  if (e.name === 'TimeoutError') return true;
  return e.cause !== undefined && e.cause !== error && isRetryable(e.cause);
}

export function settingsError(path: string, rule: string, message: string): SealtrailError {
  return new SealtrailError('pipeline_settings_invalid', `${path}: ${message}`, { details: { path, rule } });
}

/**
 * Reads a plugin's options and refuses what it does not know: every read marks the key used, and
 * `done()` rejects the rest, so a typo in a YAML file is an error naming its path, never ignored.
 */
export class OptionReader {
  readonly path: string;
  /** Relative file options resolve against this (the settings file's directory). */
  readonly baseDir: string;
  private readonly values: Record<string, unknown>;
  private readonly used = new Set<string>();

  constructor(values: unknown, path: string, baseDir = process.cwd()) {
    this.baseDir = baseDir;
    if (values !== undefined && (values === null || typeof values !== 'object' || Array.isArray(values))) throw settingsError(path, 'type', 'must be a mapping');
    this.values = (values ?? {}) as Record<string, unknown>;
    this.path = path;
  }

  has(key: string): boolean {
    return this.values[key] !== undefined;
  }

  raw(key: string): unknown {
    this.used.add(key);
    return this.values[key];
  }

  string(key: string): string {
    const v = this.raw(key);
    if (typeof v !== 'string' || v.length === 0) throw settingsError(`${this.path}.${key}`, v === undefined ? 'required' : 'type', 'must be a non-empty string');
    return v;
  }

  /** A file path option, resolved against baseDir. */
  file(key: string): string {
    return resolve(this.baseDir, this.string(key));
  }

  optString(key: string): string | undefined {
    return this.has(key) ? this.string(key) : (this.used.add(key), undefined);
  }

  int(key: string, fallback?: number, min = 0): number {
    const v = this.raw(key) ?? fallback;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) throw settingsError(`${this.path}.${key}`, v === undefined ? 'required' : 'type', `must be an integer ≥ ${min}`);
    return v;
  }

  bool(key: string, fallback: boolean): boolean {
    const v = this.raw(key) ?? fallback;
    if (typeof v !== 'boolean') throw settingsError(`${this.path}.${key}`, 'type', 'must be true or false');
    return v;
  }

  stringList(key: string, fallback?: string[]): string[] {
    const v = this.raw(key) ?? fallback;
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string' || x.length === 0)) throw settingsError(`${this.path}.${key}`, v === undefined ? 'required' : 'type', 'must be a list of non-empty strings');
    return v as string[];
  }

  stringMap(key: string, fallback?: Record<string, string>): Record<string, string> {
    const v = this.raw(key) ?? fallback;
    if (v === null || typeof v !== 'object' || Array.isArray(v) || Object.values(v).some((x) => typeof x !== 'string')) {
      throw settingsError(`${this.path}.${key}`, v === undefined ? 'required' : 'type', 'must be a mapping of strings');
    }
    return v as Record<string, string>;
  }

  /** Refuses every key nobody read. */
  done(): void {
    for (const key of Object.keys(this.values)) if (!this.used.has(key)) throw settingsError(`${this.path}.${key}`, 'unknown_key', 'unknown option');
  }
}
