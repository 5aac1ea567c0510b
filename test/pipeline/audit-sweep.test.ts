/**
 * The sweep: empty on a healthy finished run with a linear row, a fork and coalesce, a batch, an
 * operation and a call; each case plants one defect directly in the database and sees exactly
 * the findings that defect implies (usually one query; a few defects necessarily break two rules).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { sweepRun, SWEEP_QUERIES, type SweepQuery } from '../../src/pipeline/audit-sweep.js';
import type { PipelineRecorder } from '../../src/pipeline/pipeline-recorder.js';
import { BACKENDS } from '../helpers/databases.js';
import { dropIndex, tamper } from './db-tamper.js';
import { lifecycle, linearRun, withRecorder } from './pipeline-fixtures.js';

type Healthy = Awaited<ReturnType<typeof healthyRun>>;

async function healthyRun(recorder: PipelineRecorder) {
  const g = await linearRun(recorder);
  const runId = g.run.run_id as string;
  const linear = await lifecycle(recorder, g, 0);
  // Fork into a and b, coalesce, the merged token completes at the sink.
  const { token: forkParent } = await recorder.createRow(runId, { sourceNodeId: g.source.node_id as string, rowIndex: 1, data: { v: 1 } });
  const [a, b] = await recorder.forkToken(runId, forkParent.token_id as string, { branches: ['a', 'b'] });
  const merged = await recorder.coalesceTokens(runId, [a!.token_id as string, b!.token_id as string]);
  const sinkState = await recorder.openState(runId, { tokenId: merged.token_id as string, nodeId: g.sink.node_id as string, stepIndex: 2, input: { v: 1 } });
  await recorder.completeState(runId, sinkState.state_id as string, { status: 'completed', output: { v: 1 } });
  await recorder.recordOutcome(runId, merged.token_id as string, { outcome: 'completed', sinkName: 'jsonl' });
  // A batch: buffered, then consumed.
  const agg = await recorder.registerNode(runId, { nodeType: 'aggregation', pluginName: 'sum', pluginVersion: '1', determinism: 'deterministic', config: { count: 1 } });
  const { token: batched } = await recorder.createRow(runId, { sourceNodeId: g.source.node_id as string, rowIndex: 2, data: { v: 2 } });
  const batch = await recorder.createBatch(runId, { aggregationNodeId: agg.node_id as string });
  await recorder.bufferToken(runId, batch.batch_id as string, batched.token_id as string);
  await recorder.setBatchStatus(runId, batch.batch_id as string, { status: 'executing', triggerType: 'count' });
  const consumed = await recorder.recordOutcome(runId, batched.token_id as string, { outcome: 'consumed_in_batch', batchId: batch.batch_id as string });
  await recorder.setBatchStatus(runId, batch.batch_id as string, { status: 'completed' });
  const op = await recorder.beginOperation(runId, { nodeId: g.source.node_id as string, operationType: 'source_load' });
  await recorder.completeOperation(runId, op.operation_id as string, { status: 'completed' });
  const call = await recorder.recordCall(runId, { stateId: linear.states[1]!.state_id as string, callType: 'llm', status: 'success', request: { p: 1 }, response: { r: 1 } });
  await recorder.finishRun(runId, 'completed');
  const forked = (await recorder.getTerminalOutcome(runId, forkParent.token_id as string))!;
  const coalescedA = (await recorder.getTerminalOutcome(runId, a!.token_id as string))!;
  return { runId, g, linear, forkParent, forked, a: a!, b: b!, coalescedA, merged, batch, batched, consumed, op, call };
}

interface Defect {
  name: SweepQuery;
  plant: (h: Healthy, url: string) => Promise<unknown>;
  /** The findings expected, query → ids. */
  expect: (h: Healthy) => Partial<Record<SweepQuery, string[]>>;
}

const s = (v: unknown) => v as string;

const DEFECTS: Defect[] = [
  { name: 'missing_terminal_outcome', plant: (h, u) => tamper(u, 'DELETE FROM pipeline_token_outcomes WHERE outcome_id = ?', [h.forked.outcome_id]), expect: (h) => ({ missing_terminal_outcome: [s(h.forkParent.token_id)] }) },
  { name: 'outcome_missing_required_fields', plant: (h, u) => tamper(u, 'UPDATE pipeline_token_outcomes SET batch_id = NULL WHERE outcome_id = ?', [h.consumed.outcome_id]), expect: (h) => ({ outcome_missing_required_fields: [s(h.consumed.outcome_id)] }) },
  { name: 'completed_without_sink_state', plant: (h, u) => tamper(u, "UPDATE pipeline_node_states SET status = 'failed', output_hash = NULL, error_json = '{}' WHERE state_id = ?", [h.linear.states[2]!.state_id]), expect: (h) => ({ completed_without_sink_state: [s(h.linear.outcome.outcome_id)] }) },
  { name: 'sink_state_without_outcome', plant: (h, u) => tamper(u, "UPDATE pipeline_token_outcomes SET sink_name = 'elsewhere' WHERE outcome_id = ?", [h.linear.outcome.outcome_id]), expect: (h) => ({ sink_state_without_outcome: [s(h.linear.states[2]!.state_id)] }) },
  { name: 'group_child_without_parents', plant: (h, u) => tamper(u, 'DELETE FROM pipeline_token_parents WHERE token_id = ?', [h.a.token_id]), expect: (h) => ({ group_child_without_parents: [s(h.a.token_id)] }) },
  { name: 'parents_without_group_id', plant: (h, u) => tamper(u, 'INSERT INTO pipeline_token_parents (token_id, parent_token_id, ordinal) VALUES (?, ?, 0)', [h.linear.token.token_id, h.forkParent.token_id]), expect: (h) => ({ parents_without_group_id: [s(h.linear.token.token_id)] }) },
  { name: 'token_with_several_group_ids', plant: (h, u) => tamper(u, "UPDATE pipeline_tokens SET expand_group_id = 'x' WHERE token_id = ?", [h.a.token_id]), expect: (h) => ({ token_with_several_group_ids: [s(h.a.token_id)] }) },
  { name: 'node_state_still_open', plant: (h, u) => tamper(u, "UPDATE pipeline_node_states SET status = 'open', output_hash = NULL, completed_at = NULL, duration_ms = NULL WHERE state_id = ?", [h.linear.states[0]!.state_id]), expect: (h) => ({ node_state_still_open: [s(h.linear.states[0]!.state_id)] }) },
  { name: 'buffered_without_terminal', plant: (h, u) => tamper(u, 'DELETE FROM pipeline_token_outcomes WHERE outcome_id = ?', [h.consumed.outcome_id]), expect: (h) => ({ buffered_without_terminal: [s(h.batched.token_id)], missing_terminal_outcome: [s(h.batched.token_id)] }) },
  { name: 'fork_expand_child_count_mismatch', plant: (h, u) => tamper(u, `UPDATE pipeline_token_outcomes SET expected_branches_json = '["a","b","c"]' WHERE outcome_id = ?`, [h.forked.outcome_id]), expect: (h) => ({ fork_expand_child_count_mismatch: [s(h.forked.outcome_id)] }) },
  { name: 'coalesced_without_merged_token', plant: (h, u) => tamper(u, "UPDATE pipeline_token_outcomes SET join_group_id = 'ghost' WHERE outcome_id = ?", [h.coalescedA.outcome_id]), expect: (h) => ({ coalesced_without_merged_token: [s(h.coalescedA.outcome_id)], merged_token_parents_mismatch: [s(h.merged.token_id)] }) },
  { name: 'merged_token_parents_mismatch', plant: (h, u) => tamper(u, 'DELETE FROM pipeline_token_parents WHERE token_id = ? AND parent_token_id = ?', [h.merged.token_id, h.b.token_id]), expect: (h) => ({ merged_token_parents_mismatch: [s(h.merged.token_id)] }) },
  { name: 'call_parent_violation', plant: (h, u) => tamper(u, 'UPDATE pipeline_calls SET operation_id = ? WHERE call_id = ?', [h.op.operation_id, h.call.call_id]), expect: (h) => ({ call_parent_violation: [s(h.call.call_id)] }) },
  { name: 'operation_still_open', plant: (h, u) => tamper(u, "UPDATE pipeline_operations SET status = 'open', completed_at = NULL, duration_ms = NULL WHERE operation_id = ?", [h.op.operation_id]), expect: (h) => ({ operation_still_open: [s(h.op.operation_id)] }) },
  { name: 'batch_not_finished', plant: (h, u) => tamper(u, "UPDATE pipeline_batches SET status = 'executing' WHERE batch_id = ?", [h.batch.batch_id]), expect: (h) => ({ batch_not_finished: [s(h.batch.batch_id)] }) },
  { name: 'batch_member_missing', plant: (h, u) => tamper(u, 'DELETE FROM pipeline_batch_members WHERE batch_id = ?', [h.batch.batch_id]), expect: (h) => ({ batch_member_missing: [s(h.batched.token_id)] }) },
  {
    name: 'call_in_another_run',
    async plant(h, u) {
      await tamper(u, "INSERT INTO pipeline_runs (run_id, started_at, config_hash, settings_json, canonical_version, status) VALUES ('other', '2026-01-01T00:00:00.000Z', 'c', '{}', 'sha256-rfc8785-v1', 'completed')");
      await tamper(u, "INSERT INTO pipeline_nodes SELECT node_id, 'other', plugin_name, node_type, plugin_version, determinism, config_hash, config_json, sequence_in_pipeline, registered_at FROM pipeline_nodes WHERE node_id = ? AND run_id = ?", [h.op.node_id, h.runId]);
      await tamper(u, "UPDATE pipeline_operations SET run_id = 'other' WHERE operation_id = ?", [h.op.operation_id]);
      return tamper(u, 'UPDATE pipeline_calls SET operation_id = ? WHERE call_id = ?', [h.op.operation_id, h.call.call_id]);
    },
    expect: (h) => ({ call_in_another_run: [s(h.call.call_id)], call_parent_violation: [s(h.call.call_id)] }),
  },
  {
    name: 'duplicate_terminal_outcome',
    async plant(h, u) {
      await dropIndex(u, 'pipeline_token_outcomes_one_terminal');
      return tamper(u, "INSERT INTO pipeline_token_outcomes (outcome_id, run_id, token_id, outcome, is_terminal, recorded_at, error_hash) VALUES ('dup', ?, ?, 'failed', 1, '2026-01-01T00:00:00.000Z', '0123456789abcdef')", [h.runId, h.linear.token.token_id]);
    },
    expect: (h) => ({ duplicate_terminal_outcome: [s(h.linear.token.token_id)] }),
  },
];

function findings(report: Awaited<ReturnType<typeof sweepRun>>): Partial<Record<SweepQuery, string[]>> {
  return Object.fromEntries(report.queries.filter((q) => q.ids.length > 0).map((q) => [q.query, q.ids]));
}

for (const backend of BACKENDS) {
  describe(`audit sweep on ${backend.name}`, () => {
    it('every query is covered by a planted defect', () => {
      assert.deepEqual(DEFECTS.map((d) => d.name).sort(), [...SWEEP_QUERIES].sort());
    });

    // Runs share one database (the sweep is run-scoped); the case that drops an index runs last.
    let url: string;
    it('is empty on a healthy finished run', async () => {
      url ??= await backend.freshUrl();
      await withRecorder(url, async (recorder) => {
        const h = await healthyRun(recorder);
        const report = await sweepRun(recorder.ledger.store, h.runId);
        assert.deepEqual(findings(report), {});
        assert.equal(report.ok, true);
        assert.deepEqual(report.queries.map((q) => q.query), [...SWEEP_QUERIES]);
      });
    });

    for (const defect of DEFECTS) {
      it(`finds ${defect.name}`, async () => {
        url ??= await backend.freshUrl();
        await withRecorder(url, async (recorder) => {
          const h = await healthyRun(recorder);
          await defect.plant(h, url);
          const report = await sweepRun(recorder.ledger.store, h.runId);
          assert.equal(report.ok, false);
          assert.deepEqual(findings(report), defect.expect(h));
        });
      });
    }
  });
}
