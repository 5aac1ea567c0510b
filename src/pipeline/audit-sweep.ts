/**
 * The audit sweep: run-scoped queries that are each empty on a healthy, finished run. They read
 * raw rows (not through the strict reader), so a run whose rows are corrupted is still swept and
 * every defect is named; each query returns the offending ids. docs/pipeline.md lists them.
 */
import { parseJson } from '../core/canonical-json.js';
import { SealtrailError } from '../core/errors.js';
import type { Queryable, Store } from '../store/store.js';
import { pipelineSchemaInstalled } from './schema.js';

export interface SweepFinding {
  query: SweepQuery;
  ids: string[];
}

export interface SweepReport {
  run_id: string;
  run_status: string;
  ok: boolean;
  /** Every query, in this order, with the ids it found (empty when healthy). */
  queries: SweepFinding[];
}

export const SWEEP_QUERIES = [
  'missing_terminal_outcome',
  'duplicate_terminal_outcome',
  'outcome_missing_required_fields',
  'completed_without_sink_state',
  'sink_state_without_outcome',
  'group_child_without_parents',
  'parents_without_group_id',
  'token_with_several_group_ids',
  'node_state_still_open',
  'buffered_without_terminal',
  'fork_expand_child_count_mismatch',
  'coalesced_without_merged_token',
  'merged_token_parents_mismatch',
  'call_parent_violation',
  'call_in_another_run',
  'operation_still_open',
  'batch_not_finished',
  'batch_member_missing',
] as const;
export type SweepQuery = (typeof SWEEP_QUERIES)[number];

type Check = (db: Queryable, runId: string) => Promise<string[]>;

const ids = async (db: Queryable, sql: string, params: unknown[]): Promise<string[]> =>
  (await db.query<{ id: unknown }>(sql, params as string[])).map((r) => String(r.id));

const TERMINAL = (alias: string) => `EXISTS (SELECT 1 FROM pipeline_token_outcomes o2 WHERE o2.token_id = ${alias}.token_id AND o2.is_terminal = 1)`;

const CHECKS: Record<SweepQuery, Check> = {
  missing_terminal_outcome: (db, run) => ids(db, `SELECT t.token_id AS id FROM pipeline_tokens t WHERE t.run_id = ? AND NOT ${TERMINAL('t')} ORDER BY t.token_id`, [run]),
  duplicate_terminal_outcome: (db, run) =>
    ids(db, 'SELECT token_id AS id FROM pipeline_token_outcomes WHERE run_id = ? AND is_terminal = 1 GROUP BY token_id HAVING COUNT(*) > 1 ORDER BY token_id', [run]),
  outcome_missing_required_fields: (db, run) =>
    ids(
      db,
      `SELECT outcome_id AS id FROM pipeline_token_outcomes WHERE run_id = ? AND (
         (outcome IN ('completed', 'routed', 'diverted') AND sink_name IS NULL)
      OR (outcome IN ('failed', 'quarantined', 'diverted') AND error_hash IS NULL)
      OR (outcome = 'forked' AND (fork_group_id IS NULL OR expected_branches_json IS NULL))
      OR (outcome = 'coalesced' AND join_group_id IS NULL)
      OR (outcome = 'expanded' AND (expand_group_id IS NULL OR expected_branches_json IS NULL))
      OR (outcome IN ('buffered', 'consumed_in_batch') AND batch_id IS NULL)) ORDER BY outcome_id`,
      [run],
    ),
  completed_without_sink_state: (db, run) =>
    ids(
      db,
      `SELECT o.outcome_id AS id FROM pipeline_token_outcomes o WHERE o.run_id = ? AND o.outcome = 'completed' AND NOT EXISTS (
         SELECT 1 FROM pipeline_node_states s JOIN pipeline_nodes n ON n.node_id = s.node_id AND n.run_id = s.run_id
         WHERE s.token_id = o.token_id AND s.status = 'completed' AND n.node_type = 'sink') ORDER BY o.outcome_id`,
      [run],
    ),
  // A sink is named by its config's `name` when it has one (the engine's sinks: several sinks may
  // share a plugin), else by its plugin name; the token's terminal outcome must name that sink.
  async sink_state_without_outcome(db, run) {
    const states = await db.query<{ id: string; plugin_name: string; config_json: unknown; sink_name: string | null }>(
      `SELECT s.state_id AS id, n.plugin_name, n.config_json, o.sink_name FROM pipeline_node_states s
       JOIN pipeline_nodes n ON n.node_id = s.node_id AND n.run_id = s.run_id
       LEFT JOIN pipeline_token_outcomes o ON o.token_id = s.token_id AND o.is_terminal = 1
       WHERE s.run_id = ? AND n.node_type = 'sink' AND s.status = 'completed' ORDER BY s.state_id`,
      [run],
    );
    const byState = new Map<string, boolean>();
    for (const st of states) {
      let name: unknown = st.plugin_name;
      try {
        const config = parseJson(String(st.config_json)) as { name?: unknown } | null;
        if (typeof config?.name === 'string') name = config.name;
      } catch {
        // An unreadable config: the plugin name stands.
      }
      byState.set(st.id, (byState.get(st.id) ?? false) || (st.sink_name !== null && st.sink_name === name));
    }
    return [...byState].filter(([, ok]) => !ok).map(([id]) => id);
  },
  group_child_without_parents: (db, run) =>
    ids(
      db,
      `SELECT t.token_id AS id FROM pipeline_tokens t WHERE t.run_id = ? AND (t.fork_group_id IS NOT NULL OR t.join_group_id IS NOT NULL OR t.expand_group_id IS NOT NULL)
       AND NOT EXISTS (SELECT 1 FROM pipeline_token_parents p WHERE p.token_id = t.token_id) ORDER BY t.token_id`,
      [run],
    ),
  parents_without_group_id: (db, run) =>
    ids(
      db,
      `SELECT t.token_id AS id FROM pipeline_tokens t WHERE t.run_id = ? AND t.fork_group_id IS NULL AND t.join_group_id IS NULL AND t.expand_group_id IS NULL
       AND EXISTS (SELECT 1 FROM pipeline_token_parents p WHERE p.token_id = t.token_id) ORDER BY t.token_id`,
      [run],
    ),
  token_with_several_group_ids: (db, run) =>
    ids(
      db,
      `SELECT token_id AS id FROM pipeline_tokens WHERE run_id = ? AND
       (CASE WHEN fork_group_id IS NULL THEN 0 ELSE 1 END) + (CASE WHEN join_group_id IS NULL THEN 0 ELSE 1 END) + (CASE WHEN expand_group_id IS NULL THEN 0 ELSE 1 END) > 1 ORDER BY token_id`,
      [run],
    ),
  node_state_still_open: (db, run) => ids(db, "SELECT state_id AS id FROM pipeline_node_states WHERE run_id = ? AND status = 'open' ORDER BY state_id", [run]),
  buffered_without_terminal: (db, run) =>
    ids(db, `SELECT DISTINCT o.token_id AS id FROM pipeline_token_outcomes o WHERE o.run_id = ? AND o.outcome = 'buffered' AND NOT ${TERMINAL('o')} ORDER BY o.token_id`, [run]),
  async fork_expand_child_count_mismatch(db, run) {
    const parents = await db.query<{ outcome_id: string; outcome: string; fork_group_id: string | null; expand_group_id: string | null; expected_branches_json: unknown }>(
      `SELECT outcome_id, outcome, fork_group_id, expand_group_id, expected_branches_json FROM pipeline_token_outcomes
       WHERE run_id = ? AND outcome IN ('forked', 'expanded') ORDER BY outcome_id`,
      [run],
    );
    const out: string[] = [];
    for (const p of parents) {
      const group = p.outcome === 'forked' ? p.fork_group_id : p.expand_group_id;
      const column = p.outcome === 'forked' ? 'fork_group_id' : 'expand_group_id';
      const [row] = await db.query<{ n: unknown }>(`SELECT COUNT(*) AS n FROM pipeline_tokens WHERE run_id = ? AND ${column} = ?`, [run, group ?? '']);
      if (expectedCount(p.outcome, p.expected_branches_json) !== Number(row!.n)) out.push(p.outcome_id);
    }
    return out;
  },
  coalesced_without_merged_token: (db, run) =>
    ids(
      db,
      `SELECT o.outcome_id AS id FROM pipeline_token_outcomes o WHERE o.run_id = ? AND o.outcome = 'coalesced'
       AND NOT EXISTS (SELECT 1 FROM pipeline_tokens m WHERE m.run_id = o.run_id AND m.join_group_id = o.join_group_id) ORDER BY o.outcome_id`,
      [run],
    ),
  async merged_token_parents_mismatch(db, run) {
    const merged = await db.query<{ token_id: string; join_group_id: string }>(
      'SELECT token_id, join_group_id FROM pipeline_tokens WHERE run_id = ? AND join_group_id IS NOT NULL ORDER BY token_id',
      [run],
    );
    const out: string[] = [];
    for (const m of merged) {
      const parents = (await db.query<{ id: string }>('SELECT parent_token_id AS id FROM pipeline_token_parents WHERE token_id = ? ORDER BY parent_token_id', [m.token_id])).map((r) => r.id);
      const coalesced = (await db.query<{ id: string }>("SELECT token_id AS id FROM pipeline_token_outcomes WHERE run_id = ? AND outcome = 'coalesced' AND join_group_id = ? ORDER BY token_id", [run, m.join_group_id])).map((r) => r.id);
      if (parents.join(',') !== coalesced.join(',')) out.push(m.token_id);
    }
    return out;
  },
  call_parent_violation: (db, run) =>
    ids(
      db,
      `SELECT c.call_id AS id FROM pipeline_calls c WHERE ((c.state_id IS NULL) = (c.operation_id IS NULL))
       AND (c.state_id IN (SELECT state_id FROM pipeline_node_states WHERE run_id = ?) OR c.operation_id IN (SELECT operation_id FROM pipeline_operations WHERE run_id = ?)
            OR (c.state_id IS NULL AND c.operation_id IS NULL)) ORDER BY c.call_id`,
      [run, run],
    ),
  call_in_another_run: (db, run) =>
    ids(
      db,
      `SELECT c.call_id AS id FROM pipeline_calls c
       LEFT JOIN pipeline_node_states s ON s.state_id = c.state_id
       LEFT JOIN pipeline_operations op ON op.operation_id = c.operation_id
       LEFT JOIN pipeline_tokens t ON t.token_id = s.token_id
       WHERE (s.run_id = ? OR op.run_id = ?) AND ((s.run_id IS NOT NULL AND op.run_id IS NOT NULL AND s.run_id <> op.run_id) OR (t.run_id IS NOT NULL AND t.run_id <> s.run_id))
       ORDER BY c.call_id`,
      [run, run],
    ),
  operation_still_open: (db, run) => ids(db, "SELECT operation_id AS id FROM pipeline_operations WHERE run_id = ? AND status = 'open' ORDER BY operation_id", [run]),
  batch_not_finished: (db, run) => ids(db, "SELECT batch_id AS id FROM pipeline_batches WHERE run_id = ? AND status NOT IN ('completed', 'failed') ORDER BY batch_id", [run]),
  batch_member_missing: (db, run) =>
    ids(
      db,
      `SELECT DISTINCT o.token_id AS id FROM pipeline_token_outcomes o WHERE o.run_id = ? AND o.outcome IN ('buffered', 'consumed_in_batch') AND o.batch_id IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM pipeline_batch_members m WHERE m.batch_id = o.batch_id AND m.token_id = o.token_id) ORDER BY o.token_id`,
      [run],
    ),
};

function expectedCount(outcome: string, json: unknown): number | null {
  try {
    const value = parseJson(String(json));
    if (outcome === 'forked') return Array.isArray(value) ? value.length : null;
    const n = (value as { count?: unknown } | null)?.count;
    return typeof n === 'number' ? n : null;
  } catch {
    return null;
  }
}

/** Sweeps one run; `ok` when every query came back empty. */
export async function sweepRun(db: Store, runId: string): Promise<SweepReport> {
  const run = (await pipelineSchemaInstalled(db)) ? await db.query<{ status: unknown }>('SELECT status FROM pipeline_runs WHERE run_id = ?', [runId]) : [];
  if (run.length === 0) throw new SealtrailError('out_of_range', `no pipeline run ${runId}`, { details: { runId } });
  const queries: SweepFinding[] = [];
  for (const query of SWEEP_QUERIES) queries.push({ query, ids: [...new Set(await CHECKS[query](db, runId))] });
  return { run_id: runId, run_status: String(run[0]!.status), ok: queries.every((q) => q.ids.length === 0), queries };
}
