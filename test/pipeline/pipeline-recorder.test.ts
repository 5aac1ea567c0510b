import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { isSealtrailError } from '../../src/core/errors.js';
import type { Ledger } from '../../src/ledger/ledger.js';
import { scanTargets } from '../../src/ledger/scan.js';
import type { PipelineRecorder } from '../../src/pipeline/pipeline-recorder.js';
import { pipelineScanTargets } from '../../src/pipeline/scan-targets.js';
import { errorHash } from '../../src/pipeline/stable-hash.js';
import { BACKENDS } from '../helpers/databases.js';
import { tamper } from './db-tamper.js';
import { lifecycle, linearRun, withRecorder } from './pipeline-fixtures.js';

function code(expected: string, rule?: string) {
  return (err: unknown) => {
    assert.ok(isSealtrailError(err), `expected a SealtrailError, got ${String(err)}`);
    assert.equal(err.code, expected, err.message);
    if (rule !== undefined) assert.equal(err.details?.rule, rule, err.message);
    return true;
  };
}

async function counts(ledger: Ledger): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const t of ['pipeline_rows', 'pipeline_tokens', 'pipeline_token_parents', 'pipeline_token_outcomes', 'pipeline_node_states', 'pipeline_calls']) {
    const [r] = await ledger.store.query<{ n: unknown }>(`SELECT COUNT(*) AS n FROM ${t}`);
    out[t] = Number(r!.n);
  }
  out.ledger = (await ledger.head()).size;
  return out;
}

/** Runs `fn` and checks that it wrote nothing: no pipeline row and no ledger entry. */
async function writesNothing(ledger: Ledger, fn: () => Promise<unknown>, check: (err: unknown) => boolean): Promise<void> {
  const before = await counts(ledger);
  await assert.rejects(fn, check);
  assert.deepEqual(await counts(ledger), before);
}

async function scan(recorder: PipelineRecorder) {
  return scanTargets(recorder.ledger.store, pipelineScanTargets(recorder.ledger.store));
}

for (const backend of BACKENDS) {
  describe(`pipeline recorder on ${backend.name}`, () => {
    it('records a linear run of 3 rows: every record chained, the scan clean, the run completed', async () => {
      await withRecorder(await backend.freshUrl(), async (recorder, ledger) => {
        const g = await linearRun(recorder);
        const runId = g.run.run_id as string;
        for (let i = 0; i < 3; i++) await lifecycle(recorder, g, i);
        const done = await recorder.finishRun(runId, 'completed');
        assert.equal(done.reproducibility_grade, 'replay_reproducible');
        const audit = await recorder.runAudit(runId);
        assert.equal(audit.records.pipeline_rows.length, 3);
        assert.equal(audit.records.pipeline_tokens.length, 3);
        assert.equal(audit.records.pipeline_node_states.length, 9);
        assert.ok(audit.records.pipeline_node_states.every((s) => s.status === 'completed'));
        assert.deepEqual(audit.records.pipeline_token_outcomes.map((o) => [o.outcome, o.sink_name, o.is_terminal]), Array(3).fill(['completed', 'jsonl', 1]));
        // 1 run + 3 nodes + 2 edges + per row (row, token, 3 × open + 3 × complete, outcome) + the run's completion.
        assert.equal((await ledger.head()).size, 1 + 3 + 2 + 3 * 9 + 1);
        const [entry] = await ledger.store.query<{ event_pk: string }>("SELECT event_pk FROM audit_chain WHERE event_kind = 'pipeline_runs' ORDER BY seq DESC LIMIT 1");
        assert.equal(entry!.event_pk, `${runId}#v1`);
        const report = await scan(recorder);
        assert.deepEqual(report.findings, []);
        assert.equal((await ledger.verify()).ok, true);
      });
    });

    it('forks, coalesces and expands in one transaction each, with parent links, group ids and parent outcomes', async () => {
      await withRecorder(await backend.freshUrl(), async (recorder, ledger) => {
        const g = await linearRun(recorder);
        const runId = g.run.run_id as string;
        const { token } = await recorder.createRow(runId, { sourceNodeId: g.source.node_id as string, rowIndex: 0, data: { v: 1 } });
        const children = await recorder.forkToken(runId, token.token_id as string, { branches: ['a', 'b'] });
        assert.deepEqual(children.map((c) => c.branch_name), ['a', 'b']);
        assert.ok(children.every((c) => c.fork_group_id !== null && c.row_id === token.row_id && c.run_id === runId));
        const forked = await recorder.getTerminalOutcome(runId, token.token_id as string);
        assert.equal(forked!.outcome, 'forked');
        assert.equal(forked!.expected_branches_json, '["a","b"]');
        const merged = await recorder.coalesceTokens(runId, [children[1]!.token_id as string, children[0]!.token_id as string]);
        assert.notEqual(merged.join_group_id, null);
        const audit = await recorder.runAudit(runId);
        const links = audit.records.pipeline_token_parents.filter((l) => l.token_id === merged.token_id);
        assert.deepEqual(links.map((l) => [l.parent_token_id, l.ordinal]), [[children[1]!.token_id, 0], [children[0]!.token_id, 1]]);
        for (const c of children) assert.equal((await recorder.getTerminalOutcome(runId, c.token_id as string))!.join_group_id, merged.join_group_id);
        const expanded = await recorder.expandToken(runId, merged.token_id as string, { count: 3 });
        assert.equal(expanded.length, 3);
        assert.equal((await recorder.getTerminalOutcome(runId, merged.token_id as string))!.expected_branches_json, '{"count":3}');
        assert.deepEqual((await scan(recorder)).findings, []);
        assert.equal((await ledger.verify()).ok, true);
      });
    });

    it('refuses outcomes without their required fields, before writing anything', async () => {
      await withRecorder(await backend.freshUrl(), async (recorder, ledger) => {
        const g = await linearRun(recorder);
        const runId = g.run.run_id as string;
        const { token } = await recorder.createRow(runId, { sourceNodeId: g.source.node_id as string, rowIndex: 0, data: { v: 1 } });
        const id = token.token_id as string;
        const missing = code('audit_integrity', 'outcome_fields');
        await writesNothing(ledger, () => recorder.recordOutcome(runId, id, { outcome: 'completed' }), missing);
        await writesNothing(ledger, () => recorder.recordOutcome(runId, id, { outcome: 'routed' }), missing);
        await writesNothing(ledger, () => recorder.recordOutcome(runId, id, { outcome: 'failed' }), missing);
        await writesNothing(ledger, () => recorder.recordOutcome(runId, id, { outcome: 'quarantined', sinkName: 'q' }), missing);
        await writesNothing(ledger, () => recorder.recordOutcome(runId, id, { outcome: 'diverted', error: 'rejected' }), missing);
        await writesNothing(ledger, () => recorder.recordOutcome(runId, id, { outcome: 'diverted', sinkName: '__discard__' }), missing);
        await writesNothing(ledger, () => recorder.recordOutcome(runId, id, { outcome: 'buffered' }), missing);
        await writesNothing(ledger, () => recorder.recordOutcome(runId, id, { outcome: 'consumed_in_batch' }), missing);
        await writesNothing(ledger, () => recorder.recordOutcome(runId, id, { outcome: 'forked' as 'failed', error: 'x' }), code('invalid_argument'));
        const diverted = await recorder.recordOutcome(runId, id, { outcome: 'diverted', sinkName: '__discard__', error: 'rejected by sink' });
        assert.equal(diverted.error_hash, errorHash('rejected by sink'));
        assert.equal(diverted.error_hash, createHash('sha256').update('rejected by sink', 'utf8').digest('hex').slice(0, 16));
      });
    });

    it('refuses a second terminal outcome, a token of another run, a state that is not open, and a call without exactly one parent', async () => {
      await withRecorder(await backend.freshUrl(), async (recorder, ledger) => {
        const g = await linearRun(recorder);
        const runId = g.run.run_id as string;
        const other = await linearRun(recorder);
        const { token } = await recorder.createRow(runId, { sourceNodeId: g.source.node_id as string, rowIndex: 0, data: { v: 1 } });
        const id = token.token_id as string;
        await recorder.recordOutcome(runId, id, { outcome: 'completed', sinkName: 'jsonl' });
        await writesNothing(ledger, () => recorder.recordOutcome(runId, id, { outcome: 'failed', error: 'late' }), code('audit_integrity', 'one_terminal'));
        await writesNothing(ledger, () => recorder.forkToken(runId, id, { branches: ['a'] }), code('audit_integrity', 'one_terminal'));
        await writesNothing(ledger, () => recorder.recordOutcome(other.run.run_id as string, id, { outcome: 'completed', sinkName: 'x' }), code('audit_integrity', 'ownership'));
        await writesNothing(ledger, () => recorder.openState(other.run.run_id as string, { tokenId: id, nodeId: other.source.node_id as string, stepIndex: 0, input: {} }), code('audit_integrity', 'ownership'));
        // Node ids repeat across runs: run 2's node is not run 1's even with the same id.
        const { token: t2 } = await recorder.createRow(other.run.run_id as string, { sourceNodeId: other.source.node_id as string, rowIndex: 0, data: { v: 2 } });
        assert.equal(other.source.node_id, g.source.node_id);
        const state = await recorder.openState(runId, { tokenId: id, nodeId: g.sink.node_id as string, stepIndex: 2, input: { v: 1 } });
        await recorder.completeState(runId, state.state_id as string, { status: 'completed', output: { v: 1 } });
        await writesNothing(ledger, () => recorder.completeState(runId, state.state_id as string, { status: 'failed', error: { e: 1 } }), code('audit_integrity', 'state_status'));
        await writesNothing(ledger, () => recorder.recordCall(runId, { callType: 'http', status: 'success', request: { u: 1 } }), code('audit_integrity', 'call_parent'));
        const op = await recorder.beginOperation(runId, { nodeId: g.source.node_id as string, operationType: 'source_load' });
        await writesNothing(ledger, () => recorder.recordCall(runId, { stateId: state.state_id as string, operationId: op.operation_id as string, callType: 'http', status: 'success', request: {} }), code('audit_integrity', 'call_parent'));
        await writesNothing(ledger, () => recorder.recordCall(other.run.run_id as string, { stateId: state.state_id as string, callType: 'http', status: 'success', request: {} }), code('audit_integrity', 'ownership'));
        const c0 = await recorder.recordCall(runId, { stateId: state.state_id as string, callType: 'llm', status: 'success', request: { prompt: 'p' }, response: { text: 'r' } });
        const c1 = await recorder.recordCall(runId, { stateId: state.state_id as string, callType: 'llm', status: 'error', request: { prompt: 'q' }, error: { reason: 'timeout' } });
        assert.deepEqual([c0.call_index, c1.call_index], [0, 1]);
        await writesNothing(ledger, () => recorder.recordOutcome(other.run.run_id as string, t2.token_id as string, { outcome: 'completed', sinkName: 'jsonl', context: { bad: NaN } }), code('non_canonical_value'));
        await writesNothing(ledger, () => recorder.createRow(runId, { sourceNodeId: g.source.node_id as string, rowIndex: 1, data: { v: Infinity } }), code('non_canonical_value'));
        await recorder.finishRun(runId, 'completed');
        await writesNothing(ledger, () => recorder.createRow(runId, { sourceNodeId: g.source.node_id as string, rowIndex: 5, data: {} }), code('audit_integrity', 'run_status'));
        await assert.rejects(() => recorder.finishRun(runId, 'failed'), code('audit_integrity', 'run_status'));
      });
    });

    it('concurrent recorders on one token never produce two terminal outcomes, and calls on one state get distinct indexes', async () => {
      await withRecorder(await backend.freshUrl(), async (recorder) => {
        const g = await linearRun(recorder);
        const runId = g.run.run_id as string;
        const { token } = await recorder.createRow(runId, { sourceNodeId: g.source.node_id as string, rowIndex: 0, data: { v: 1 } });
        const attempts = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => recorder.recordOutcome(runId, token.token_id as string, { outcome: 'completed', sinkName: `s${i}` })));
        assert.equal(attempts.filter((a) => a.status === 'fulfilled').length, 1);
        for (const a of attempts) if (a.status === 'rejected') code('audit_integrity')(a.reason);
        const state = await recorder.openState(runId, { tokenId: token.token_id as string, nodeId: g.transform.node_id as string, stepIndex: 1, input: {} });
        const calls = await Promise.allSettled(Array.from({ length: 6 }, (_, i) => recorder.recordCall(runId, { stateId: state.state_id as string, callType: 'http', status: 'success', request: { i } })));
        const audit = await recorder.runAudit(runId);
        const indexes = audit.records.pipeline_calls.map((c) => c.call_index as number).sort();
        assert.equal(new Set(indexes).size, indexes.length, 'no two calls share an index');
        assert.equal(indexes.length, calls.filter((c) => c.status === 'fulfilled').length);
        assert.ok(indexes.length >= 1);
        assert.deepEqual((await scan(recorder)).findings, []);
      });
    });

    it('tamper: editing or deleting pipeline rows is caught by scan; editing their ledger payload by verify', async () => {
      const url = await backend.freshUrl();
      const ids = await withRecorder(url, async (recorder) => {
        const g = await linearRun(recorder);
        const a = await lifecycle(recorder, g, 0);
        const b = await lifecycle(recorder, g, 1);
        return { a, b, runId: g.run.run_id as string };
      });
      await withRecorder(url, async (recorder, ledger) => {
        assert.deepEqual((await scan(recorder)).findings, []);
        await tamper(url, 'UPDATE pipeline_token_outcomes SET sink_name = ? WHERE outcome_id = ?', ['elsewhere', ids.a.outcome.outcome_id]);
        await tamper(url, 'DELETE FROM pipeline_token_outcomes WHERE outcome_id = ?', [ids.b.outcome.outcome_id]);
        // A completed state put back to open: the row no longer matches its latest version.
        await tamper(url, "UPDATE pipeline_node_states SET status = 'open', output_hash = NULL, completed_at = NULL, duration_ms = NULL WHERE state_id = ?", [ids.a.states[2]!.state_id]);
        const findings = (await scan(recorder)).findings.map((f) => [f.type, f.event_kind, f.event_pk]);
        assert.deepEqual(
          findings.sort(),
          [
            ['deleted', 'pipeline_token_outcomes', ids.b.outcome.outcome_id],
            ['edited', 'pipeline_node_states', `${String(ids.a.states[2]!.state_id)}#v1`],
            ['edited', 'pipeline_token_outcomes', ids.a.outcome.outcome_id],
          ].sort(),
        );
        assert.equal((await ledger.verify()).ok, true, 'the ledger itself is intact');
        await tamper(url, 'UPDATE audit_chain SET payload = ? WHERE event_kind = ? AND event_pk = ?', ['{"forged":true}', 'pipeline_rows', ids.a.row.row_id]);
        const report = await ledger.verify();
        assert.equal(report.ok, false);
      });
    });
  });
}

for (const backend of BACKENDS) {
  describe(`every record kind chained and scanned on ${backend.name}`, () => {
    it('pending → completed states, routing, artifacts, errors and checkpoints: scan clean, deletions only as chained tombstones', async () => {
      const url = await backend.freshUrl();
      await withRecorder(url, async (recorder, ledger) => {
        const g = await linearRun(recorder);
        const runId = g.run.run_id as string;
        const { row, token } = await recorder.createRow(runId, { sourceNodeId: g.source.node_id as string, rowIndex: 0, data: { v: 1 } });
        const tokenId = token.token_id as string;
        const state = await recorder.openState(runId, { tokenId, nodeId: g.sink.node_id as string, stepIndex: 2, input: { v: 1 } });
        const pending = await recorder.completeState(runId, state.state_id as string, { status: 'pending' });
        assert.equal(pending.output_hash, null);
        await assert.rejects(() => recorder.completeState(runId, state.state_id as string, { status: 'pending' }), code('audit_integrity', 'state_status'));
        const done = await recorder.completeState(runId, state.state_id as string, { status: 'completed', output: { v: 1 }, successReason: { wrote: 1 } });
        assert.equal(done.status, 'completed');
        await recorder.recordRouting(runId, state.state_id as string, [{ edgeId: g.edges[1]!.edge_id as string, reason: { rule: 'v > 0' } }]);
        await assert.rejects(() => recorder.recordRouting(runId, state.state_id as string, [{ edgeId: 'nope' }]), code('audit_integrity', 'ownership'));
        await recorder.recordArtifact(runId, { stateId: state.state_id as string, sinkNodeId: g.sink.node_id as string, artifactType: 'file', pathOrUri: 'out.jsonl', contentHash: 'ab'.repeat(32), sizeBytes: 12 });
        await recorder.recordValidationError(runId, { nodeId: g.source.node_id as string, rowId: row.row_id as string, row: { v: NaN }, error: 'v is not a number', schemaMode: 'strict', destination: 'discard' });
        await recorder.recordTransformError(runId, { tokenId, transformId: g.transform.node_id as string, row: { v: 1 }, details: { reason: 'x' }, destination: 'discard' });
        await assert.rejects(
          () => recorder.createCheckpoint(runId, { tokenId, nodeId: g.sink.node_id as string, sequenceNumber: 1, topologyHash: 't', nodeConfigHash: 'n', formatVersion: 1 }),
          code('audit_integrity', 'checkpoint_durable'),
        );
        await recorder.recordOutcome(runId, tokenId, { outcome: 'completed', sinkName: 'jsonl' });
        const cp = await recorder.createCheckpoint(runId, { tokenId, nodeId: g.sink.node_id as string, sequenceNumber: 1, aggregationState: { buffers: [] }, topologyHash: 't', nodeConfigHash: 'n', formatVersion: 1 });
        const op = await recorder.beginOperation(runId, { nodeId: g.sink.node_id as string, operationType: 'sink_write', input: { rows: 1 } });
        await assert.rejects(() => recorder.completeOperation(runId, op.operation_id as string, { status: 'failed' }), code('audit_integrity', 'operation_status'));
        await recorder.completeOperation(runId, op.operation_id as string, { status: 'completed', output: { written: 1 } });
        assert.deepEqual((await scan(recorder)).findings, []);
        await recorder.finishRun(runId, 'completed');
        const audit = await recorder.runAudit(runId);
        assert.equal(audit.records.pipeline_checkpoints.length, 0, 'checkpoints go when the run completes');
        const [tomb] = await ledger.store.query<{ event_pk: string }>("SELECT event_pk FROM audit_chain WHERE event_kind = 'pipeline_checkpoints' ORDER BY seq DESC LIMIT 1");
        assert.equal(tomb!.event_pk, `${String(cp.checkpoint_id)}#deleted`);
        const [states] = await ledger.store.query<{ event_pk: string }>("SELECT event_pk FROM audit_chain WHERE event_kind = 'pipeline_node_states' ORDER BY seq DESC LIMIT 1");
        assert.equal(states!.event_pk, `${String(state.state_id)}#v2`);
        assert.deepEqual((await scan(recorder)).findings, []);
        // A checkpoint row put back after its chained deletion is an edit of the tombstone, not history.
        await tamper(url, `INSERT INTO pipeline_checkpoints (checkpoint_id, run_id, token_id, node_id, sequence_number, topology_hash, node_config_hash, format_version, created_at) VALUES (?, ?, ?, ?, 1, 't', 'n', 1, ?)`, [cp.checkpoint_id, runId, tokenId, g.sink.node_id, cp.created_at]);
        assert.deepEqual((await scan(recorder)).findings.map((f) => [f.type, f.event_pk]), [['edited', `${String(cp.checkpoint_id)}#deleted`]]);
        // Deleting the artifact (never deleted by the recorder) is a finding.
        await tamper(url, 'DELETE FROM pipeline_artifacts');
        assert.ok((await scan(recorder)).findings.some((f) => f.type === 'deleted' && f.event_kind === 'pipeline_artifacts'));
        assert.equal((await ledger.verify()).ok, true);
      });
    });
  });
}

for (const backend of BACKENDS) {
  describe(`two recorders on separate connections on ${backend.name}`, () => {
    it('race for one token and one state: one terminal outcome, distinct call indexes', async () => {
      const url = await backend.freshUrl();
      await withRecorder(url, async (first) => {
        const g = await linearRun(first);
        const runId = g.run.run_id as string;
        const { token } = await first.createRow(runId, { sourceNodeId: g.source.node_id as string, rowIndex: 0, data: { v: 1 } });
        const state = await first.openState(runId, { tokenId: token.token_id as string, nodeId: g.transform.node_id as string, stepIndex: 1, input: {} });
        await withRecorder(url, async (second) => {
          const both = [first, second];
          const outcomes = await Promise.allSettled(both.flatMap((r, i) => [0, 1, 2].map((k) => r.recordOutcome(runId, token.token_id as string, { outcome: 'failed', error: `e${i}${k}` }))));
          assert.equal(outcomes.filter((o) => o.status === 'fulfilled').length, 1);
          const calls = await Promise.allSettled(both.flatMap((r) => [0, 1, 2].map((k) => r.recordCall(runId, { stateId: state.state_id as string, callType: 'sql', status: 'success', request: { k } }))));
          const audit = await second.runAudit(runId);
          const indexes = audit.records.pipeline_calls.map((c) => c.call_index);
          assert.equal(new Set(indexes).size, indexes.length);
          assert.equal(indexes.length, calls.filter((c) => c.status === 'fulfilled').length);
          for (const c of [...outcomes, ...calls]) if (c.status === 'rejected') assert.ok(isSealtrailError(c.reason), String(c.reason));
          assert.deepEqual((await scan(second)).findings, []);
        });
      });
    });
  });
}
