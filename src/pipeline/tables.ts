/**
 * The pipeline tables as the recorder writes them, the strict reader loads them and the scanner
 * re-hashes them: one column list per table, each column with its kind. A record is a plain object
 * with exactly these columns; its ledger payload is that object (kind = table name), so the payload
 * a row was chained under is recomputed from the row itself. JSON columns are kept as their
 * canonical text in records and payloads alike: any edit of the stored text changes the hash.
 */
import type { Row } from '../store/store.js';

export type ColumnKind = 'text' | 'int' | 'json' | 'time';

export interface TableSpec {
  name: PipelineTable;
  /** The columns forming the record's identity, in `pk` order (joined with `/`). */
  key: readonly string[];
  columns: Readonly<Record<string, ColumnKind>>;
  /** Columns that must never be null. */
  required: readonly string[];
  /** Records that change after insert (status transitions) are chained again as `<pk>#v<n>`. */
  mutable: boolean;
}

export const PIPELINE_TABLES = [
  'pipeline_runs',
  'pipeline_nodes',
  'pipeline_edges',
  'pipeline_rows',
  'pipeline_tokens',
  'pipeline_token_parents',
  'pipeline_token_outcomes',
  'pipeline_node_states',
  'pipeline_operations',
  'pipeline_calls',
  'pipeline_routing_events',
  'pipeline_batches',
  'pipeline_batch_members',
  'pipeline_artifacts',
  'pipeline_validation_errors',
  'pipeline_transform_errors',
  'pipeline_checkpoints',
] as const;
export type PipelineTable = (typeof PIPELINE_TABLES)[number];

function spec(name: PipelineTable, key: string[], columns: Record<string, ColumnKind>, required: string[], mutable = false): TableSpec {
  return { name, key, columns, required: [...key, ...required], mutable };
}

const t = 'text', i = 'int', j = 'json', ts = 'time';

export const TABLES: Readonly<Record<PipelineTable, TableSpec>> = {
  pipeline_runs: spec('pipeline_runs', ['run_id'], {
    run_id: t, started_at: ts, completed_at: ts, config_hash: t, settings_json: j, canonical_version: t, status: t,
    reproducibility_grade: t, lease_owner: t, lease_expires_at: ts, source_schema_json: j,
  }, ['started_at', 'config_hash', 'settings_json', 'canonical_version', 'status'], true),
  pipeline_nodes: spec('pipeline_nodes', ['run_id', 'node_id'], {
    node_id: t, run_id: t, plugin_name: t, node_type: t, plugin_version: t, determinism: t, config_hash: t, config_json: j,
    sequence_in_pipeline: i, registered_at: ts,
  }, ['plugin_name', 'node_type', 'plugin_version', 'determinism', 'config_hash', 'config_json', 'registered_at']),
  pipeline_edges: spec('pipeline_edges', ['edge_id'], {
    edge_id: t, run_id: t, from_node_id: t, to_node_id: t, label: t, default_mode: t, created_at: ts,
  }, ['run_id', 'from_node_id', 'to_node_id', 'label', 'default_mode', 'created_at']),
  pipeline_rows: spec('pipeline_rows', ['row_id'], {
    row_id: t, run_id: t, source_node_id: t, row_index: i, source_data_hash: t, source_data_ref: t, created_at: ts,
  }, ['run_id', 'source_node_id', 'row_index', 'source_data_hash', 'created_at']),
  pipeline_tokens: spec('pipeline_tokens', ['token_id'], {
    token_id: t, row_id: t, run_id: t, fork_group_id: t, join_group_id: t, expand_group_id: t, branch_name: t,
    step_in_pipeline: i, created_at: ts,
  }, ['row_id', 'run_id', 'created_at']),
  pipeline_token_parents: spec('pipeline_token_parents', ['token_id', 'parent_token_id'], {
    token_id: t, parent_token_id: t, ordinal: i,
  }, ['ordinal']),
  pipeline_token_outcomes: spec('pipeline_token_outcomes', ['outcome_id'], {
    outcome_id: t, run_id: t, token_id: t, outcome: t, is_terminal: i, recorded_at: ts, sink_name: t, batch_id: t,
    fork_group_id: t, join_group_id: t, expand_group_id: t, error_hash: t, context_json: j, expected_branches_json: j,
  }, ['run_id', 'token_id', 'outcome', 'is_terminal', 'recorded_at']),
  pipeline_node_states: spec('pipeline_node_states', ['state_id'], {
    state_id: t, token_id: t, run_id: t, node_id: t, step_index: i, attempt: i, status: t, input_hash: t, output_hash: t,
    context_before_json: j, context_after_json: j, duration_ms: i, error_json: j, success_reason_json: j, started_at: ts, completed_at: ts,
  }, ['token_id', 'run_id', 'node_id', 'step_index', 'attempt', 'status', 'input_hash', 'started_at'], true),
  pipeline_operations: spec('pipeline_operations', ['operation_id'], {
    operation_id: t, run_id: t, node_id: t, operation_type: t, started_at: ts, completed_at: ts, status: t, input_data_ref: t,
    output_data_ref: t, input_data_hash: t, output_data_hash: t, error_message: t, duration_ms: i,
  }, ['run_id', 'node_id', 'operation_type', 'started_at', 'status'], true),
  pipeline_calls: spec('pipeline_calls', ['call_id'], {
    call_id: t, state_id: t, operation_id: t, call_index: i, call_type: t, status: t, request_hash: t, request_ref: t,
    response_hash: t, response_ref: t, error_json: j, latency_ms: i, created_at: ts,
  }, ['call_index', 'call_type', 'status', 'request_hash', 'created_at']),
  pipeline_routing_events: spec('pipeline_routing_events', ['event_id'], {
    event_id: t, state_id: t, edge_id: t, routing_group_id: t, ordinal: i, mode: t, reason_hash: t, reason_ref: t, created_at: ts,
  }, ['state_id', 'edge_id', 'routing_group_id', 'ordinal', 'mode', 'created_at']),
  pipeline_batches: spec('pipeline_batches', ['batch_id'], {
    batch_id: t, run_id: t, aggregation_node_id: t, aggregation_state_id: t, trigger_type: t, trigger_reason: t, attempt: i,
    status: t, created_at: ts, first_accepted_at: ts, completed_at: ts,
  }, ['run_id', 'aggregation_node_id', 'attempt', 'status', 'created_at'], true),
  pipeline_batch_members: spec('pipeline_batch_members', ['batch_id', 'token_id'], { batch_id: t, token_id: t, ordinal: i }, ['ordinal']),
  pipeline_artifacts: spec('pipeline_artifacts', ['artifact_id'], {
    artifact_id: t, run_id: t, produced_by_state_id: t, sink_node_id: t, artifact_type: t, path_or_uri: t, content_hash: t,
    size_bytes: i, idempotency_key: t, created_at: ts,
  }, ['run_id', 'produced_by_state_id', 'sink_node_id', 'artifact_type', 'path_or_uri', 'content_hash', 'size_bytes', 'created_at']),
  pipeline_validation_errors: spec('pipeline_validation_errors', ['error_id'], {
    error_id: t, run_id: t, node_id: t, row_id: t, row_hash: t, row_data_json: j, error: t, schema_mode: t, destination: t,
    field: t, expected_type: t, actual_type: t, created_at: ts,
  }, ['run_id', 'row_hash', 'error', 'schema_mode', 'destination', 'created_at']),
  pipeline_transform_errors: spec('pipeline_transform_errors', ['error_id'], {
    error_id: t, run_id: t, token_id: t, transform_id: t, row_hash: t, row_data_json: j, error_details_json: j, destination: t, created_at: ts,
  }, ['run_id', 'token_id', 'transform_id', 'row_hash', 'destination', 'created_at']),
  pipeline_checkpoints: spec('pipeline_checkpoints', ['checkpoint_id'], {
    checkpoint_id: t, run_id: t, token_id: t, node_id: t, sequence_number: i, aggregation_state_json: j, coalesce_state_json: j,
    topology_hash: t, node_config_hash: t, format_version: i, created_at: ts,
  }, ['run_id', 'token_id', 'node_id', 'sequence_number', 'topology_hash', 'node_config_hash', 'format_version', 'created_at']),
};

/** A record: column → value (text, safe integer, or null; JSON columns as canonical text). */
export type PipelineRecord = Record<string, string | number | null | undefined>;

export function columnsOf(table: PipelineTable): string[] {
  return Object.keys(TABLES[table].columns);
}

/** The ledger pk of a record: its key columns joined with `/` (ids never contain one). */
export function recordPk(table: PipelineTable, record: PipelineRecord): string {
  return TABLES[table].key.map((c) => String(record[c])).join('/');
}

/** Version `n` (1, 2, …) of a mutable record: each status transition is chained under its own pk. */
export function versionPk(pk: string, n: number): string {
  return `${pk}#v${n}`;
}

/** Deleting a record that must go (checkpoints when their run completes) is chained as a tombstone. */
export function tombstonePk(pk: string): string {
  return `${pk}#deleted`;
}

const VERSION_SUFFIX = /#(?:v[0-9]+|deleted)$/;

/** The record pk a chained pk belongs to. */
export function basePk(eventPk: string): string {
  return eventPk.replace(VERSION_SUFFIX, '');
}

/** The canonical ledger payload of a record: exactly its columns, in the table's order. */
export function recordPayload(table: PipelineTable, record: PipelineRecord): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const c of columnsOf(table)) out[c] = record[c] ?? null;
  return out;
}

/**
 * A row as read back, normalised the way both backends must agree on (SQLite returns integers as
 * bigint, PostgreSQL BIGINT as number) but never coerced beyond that: a value of the wrong type
 * stays of the wrong type, so a strict read refuses it and a scan hashes it differently.
 */
export function rawRecord(table: PipelineTable, row: Row): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const c of columnsOf(table)) {
    const v = row[c];
    if (typeof v === 'bigint') out[c] = v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : { $bigint: v.toString() };
    else if (v instanceof Uint8Array) out[c] = { $bytes: Buffer.from(v).toString('hex') };
    else out[c] = v === undefined ? null : v;
  }
  return out;
}

/** SELECT list for a table (every column, in order). */
export function selectList(table: PipelineTable, alias?: string): string {
  return columnsOf(table).map((c) => (alias ? `${alias}.${c}` : c)).join(', ');
}
