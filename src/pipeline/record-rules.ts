/**
 * The one set of rules a pipeline record must satisfy, applied by the recorder before it writes
 * (so a wrong record is refused with nothing written) and by every read (so a row edited in the
 * database is refused rather than coerced). Any violation is `audit_integrity`, naming the
 * table, the record and the rule.
 */
import { canonicalize, parseJson } from '../core/canonical-json.js';
import { SealtrailError } from '../core/errors.js';
import { TABLES, type PipelineRecord, type PipelineTable } from './tables.js';

export const RUN_STATUSES = ['running', 'completed', 'failed', 'interrupted', 'abandoned'] as const;
export const NODE_TYPES = ['source', 'transform', 'gate', 'aggregation', 'coalesce', 'sink'] as const;
export const DETERMINISM = ['deterministic', 'seeded', 'io_read', 'io_write', 'external_call', 'non_deterministic'] as const;
export const ROUTING_MODES = ['move', 'copy', 'divert'] as const;
export const OUTCOMES = ['completed', 'routed', 'forked', 'failed', 'quarantined', 'diverted', 'consumed_in_batch', 'coalesced', 'expanded', 'buffered'] as const;
export const STATE_STATUSES = ['open', 'pending', 'completed', 'failed'] as const;
export const OPERATION_TYPES = ['source_load', 'sink_write'] as const;
export const OPERATION_STATUSES = ['open', 'completed', 'failed', 'pending'] as const;
export const CALL_TYPES = ['llm', 'http', 'http_redirect', 'sql', 'vector', 'filesystem'] as const;
export const CALL_STATUSES = ['success', 'error'] as const;
export const TRIGGER_TYPES = ['count', 'timeout', 'condition', 'end_of_source', 'manual'] as const;
export const BATCH_STATUSES = ['draft', 'executing', 'completed', 'failed'] as const;
export const REPRODUCIBILITY_GRADES = ['full_reproducible', 'replay_reproducible', 'attributable_only'] as const;
export const CANONICAL_VERSION = 'sha256-rfc8785-v1';

export type Outcome = (typeof OUTCOMES)[number];
export type StateStatus = (typeof STATE_STATUSES)[number];
export type RunStatus = (typeof RUN_STATUSES)[number];

const ENUMS: Partial<Record<PipelineTable, Record<string, readonly string[]>>> = {
  pipeline_runs: { status: RUN_STATUSES, reproducibility_grade: REPRODUCIBILITY_GRADES, canonical_version: [CANONICAL_VERSION] },
  pipeline_nodes: { node_type: NODE_TYPES, determinism: DETERMINISM },
  pipeline_edges: { default_mode: ROUTING_MODES },
  pipeline_token_outcomes: { outcome: OUTCOMES },
  pipeline_node_states: { status: STATE_STATUSES },
  pipeline_operations: { operation_type: OPERATION_TYPES, status: OPERATION_STATUSES },
  pipeline_calls: { call_type: CALL_TYPES, status: CALL_STATUSES },
  pipeline_routing_events: { mode: ROUTING_MODES },
  pipeline_batches: { trigger_type: TRIGGER_TYPES, status: BATCH_STATUSES },
};

/** Which fields each outcome needs (docs/pipeline.md, "Outcomes"). */
export const OUTCOME_REQUIRED: Readonly<Record<Outcome, readonly string[]>> = {
  completed: ['sink_name'],
  routed: ['sink_name'],
  forked: ['fork_group_id', 'expected_branches_json'],
  failed: ['error_hash'],
  quarantined: ['error_hash'],
  diverted: ['error_hash', 'sink_name'],
  consumed_in_batch: ['batch_id'],
  coalesced: ['join_group_id'],
  expanded: ['expand_group_id', 'expected_branches_json'],
  buffered: ['batch_id'],
};

/** Node state status rules: what must be set and what must be null. */
export const STATE_RULES: Readonly<Record<StateStatus, { set: readonly string[]; unset: readonly string[] }>> = {
  open: { set: ['input_hash', 'started_at'], unset: ['output_hash', 'completed_at', 'duration_ms', 'context_after_json', 'error_json', 'success_reason_json'] },
  pending: { set: ['completed_at', 'duration_ms'], unset: ['output_hash', 'error_json', 'success_reason_json'] },
  completed: { set: ['output_hash', 'completed_at', 'duration_ms'], unset: ['error_json'] },
  failed: { set: ['completed_at', 'duration_ms', 'error_json'], unset: ['success_reason_json'] },
};

const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

export function integrityError(table: PipelineTable, id: string, rule: string, message: string): SealtrailError {
  return new SealtrailError('audit_integrity', `${table} ${id}: ${message}`, { details: { table, id, rule } });
}

/**
 * Checks a record (as built by the recorder or as read back) against its table's rules and returns
 * it typed. `value` may hold anything: a read passes the normalised database row unchanged.
 */
export function checkRecord(table: PipelineTable, value: Record<string, unknown>): PipelineRecord {
  const spec = TABLES[table];
  const id = spec.key.map((c) => (typeof value[c] === 'string' ? value[c] : '?')).join('/');
  const fail = (rule: string, message: string) => integrityError(table, id, rule, message);
  const out: PipelineRecord = {};
  for (const [column, kind] of Object.entries(spec.columns)) {
    const v = value[column] ?? null;
    if (v === null) {
      if (spec.required.includes(column)) throw fail('required', `${column} must be set`);
      out[column] = null;
      continue;
    }
    if (kind === 'int') {
      if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw fail('type', `${column} must be an integer, not ${JSON.stringify(v)}`);
      out[column] = v;
      continue;
    }
    if (typeof v !== 'string') throw fail('type', `${column} must be text, not ${JSON.stringify(v)}`);
    if (kind === 'time' && !ISO_MS.test(v)) throw fail('type', `${column} must be an ISO-8601 UTC timestamp with milliseconds, not ${JSON.stringify(v)}`);
    if (kind === 'json' && !isCanonicalJson(v)) throw fail('type', `${column} must hold canonical JSON`);
    if (kind === 'text' && v.length === 0) throw fail('empty', `${column} must not be empty`);
    out[column] = v;
  }
  for (const [column, allowed] of Object.entries(ENUMS[table] ?? {})) {
    const v = out[column];
    if (v !== null && !allowed.includes(v as string)) throw fail('enum', `${column} ${JSON.stringify(v)} is not one of ${allowed.join(', ')}`);
  }
  RULES[table]?.(out, fail);
  return out;
}

function isCanonicalJson(text: string): boolean {
  try {
    return canonicalize(parseJson(text)) === text;
  } catch {
    return false;
  }
}

type Fail = (rule: string, message: string) => SealtrailError;
const isSet = (r: PipelineRecord, c: string) => r[c] !== null && r[c] !== undefined;

const RULES: Partial<Record<PipelineTable, (r: PipelineRecord, fail: Fail) => void>> = {
  pipeline_token_outcomes(r, fail) {
    const outcome = r.outcome as Outcome;
    if (r.is_terminal !== 0 && r.is_terminal !== 1) throw fail('is_terminal', `is_terminal must be 0 or 1, not ${String(r.is_terminal)}`);
    if (r.is_terminal !== (outcome === 'buffered' ? 0 : 1)) throw fail('is_terminal', `is_terminal ${r.is_terminal} contradicts outcome ${outcome}`);
    for (const c of OUTCOME_REQUIRED[outcome]) if (!isSet(r, c)) throw fail('outcome_fields', `a ${outcome} outcome needs ${c}`);
    if (outcome === 'forked' && !Array.isArray(parseJson(r.expected_branches_json as string))) {
      throw fail('outcome_fields', 'a forked outcome needs expected_branches_json as a list of branch names');
    }
    if (outcome === 'expanded') {
      const expected = parseJson(r.expected_branches_json as string) as { count?: unknown } | null;
      if (typeof expected !== 'object' || expected === null || !Number.isSafeInteger(expected.count)) {
        throw fail('outcome_fields', 'an expanded outcome needs expected_branches_json as {"count": N}');
      }
    }
  },
  pipeline_node_states(r, fail) {
    const rule = STATE_RULES[r.status as StateStatus];
    for (const c of rule.set) if (!isSet(r, c)) throw fail('state_status', `a ${String(r.status)} state must have ${c}`);
    for (const c of rule.unset) if (isSet(r, c)) throw fail('state_status', `a ${String(r.status)} state must not have ${c}`);
  },
  pipeline_operations(r, fail) {
    if (r.status === 'failed' && !isSet(r, 'error_message')) throw fail('operation_status', 'a failed operation must have error_message');
    if (r.status === 'completed' && isSet(r, 'error_message')) throw fail('operation_status', 'a completed operation must not have error_message');
    if ((r.status === 'open') !== !isSet(r, 'duration_ms')) throw fail('operation_status', 'duration_ms is set exactly when the operation is no longer open');
  },
  pipeline_calls(r, fail) {
    if (isSet(r, 'state_id') === isSet(r, 'operation_id')) throw fail('call_parent', 'a call has exactly one parent: state_id or operation_id');
  },
  pipeline_tokens(r, fail) {
    const groups = ['fork_group_id', 'join_group_id', 'expand_group_id'].filter((c) => isSet(r, c));
    if (groups.length > 1) throw fail('token_groups', `a token has at most one group id, not ${groups.join(' and ')}`);
  },
};
