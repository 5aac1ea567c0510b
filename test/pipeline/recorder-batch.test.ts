/**
 * recorder.batch(): many recorder calls committed as ONE transaction, with the same validation and
 * guards as the calls alone, all or nothing, on both backends.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isSealtrailError } from '../../src/core/errors.js';
import { sweepRun } from '../../src/pipeline/audit-sweep.js';
import type { Queryable } from '../../src/store/store.js';
import { BACKENDS } from '../helpers/databases.js';
import { lifecycle, linearRun, withRecorder } from './pipeline-fixtures.js';

async function counts(db: Queryable) {
  const tables = ['pipeline_rows', 'pipeline_tokens', 'pipeline_node_states', 'pipeline_token_outcomes', 'pipeline_calls', 'pipeline_routing_events'];
  const out: Record<string, number> = {};
  for (const t of tables) out[t] = Number((await db.query<{ n: unknown }>(`SELECT COUNT(*) AS n FROM ${t}`))[0]!.n);
  return out;
}

for (const backend of BACKENDS) {
  describe(`recorder batch units on ${backend.name}`, () => {
    it('commits many lifecycles in one ledger transaction, the same records as call by call', async () => {
      await withRecorder(await backend.freshUrl(), async (recorder, ledger) => {
        const g = await linearRun(recorder);
        const runId = g.run.run_id as string;
        const before = (await ledger.head()).size;
        const tokens = await recorder.batch(async (b) => {
          const out = [];
          for (let i = 0; i < 5; i++) out.push((await lifecycle(b, g, i)).token.token_id as string);
          // A state opened in the unit takes calls and routing before the unit commits.
          const { token } = await b.createRow(runId, { sourceNodeId: g.source.node_id as string, rowIndex: 5, data: { id: 5 } });
          const state = await b.openState(runId, { tokenId: token.token_id as string, nodeId: g.sink.node_id as string, stepIndex: 2, input: { id: 5 } });
          const c0 = await b.recordCall(runId, { stateId: state.state_id as string, callType: 'http', status: 'success', request: { n: 0 }, response: { ok: true } });
          const c1 = await b.recordCall(runId, { stateId: state.state_id as string, callType: 'http', status: 'success', request: { n: 1 }, response: { ok: true } });
          assert.deepEqual([c0.call_index, c1.call_index], [0, 1]);
          await b.recordRouting(runId, state.state_id as string, [{ edgeId: g.edges[1]!.edge_id as string }]);
          await b.completeState(runId, state.state_id as string, { status: 'completed', output: { id: 5 } });
          await b.recordOutcome(runId, token.token_id as string, { outcome: 'completed', sinkName: 'jsonl' });
          // Nothing is in the database before the unit ends.
          assert.equal((await ledger.head()).size, before);
          return out;
        });
        assert.equal(tokens.length, 5);
        // 5 × 9 + (row, token, open, 2 calls, routing, complete, outcome).
        assert.equal((await ledger.head()).size, before + 5 * 9 + 8);
        const audit = await recorder.runAudit(runId);
        assert.equal(audit.records.pipeline_tokens.length, 6);
        assert.equal(audit.records.pipeline_calls.length, 2);
        assert.ok(audit.records.pipeline_node_states.every((s) => s.status === 'completed'));
        for (const t of tokens) assert.equal((await recorder.getTerminalOutcome(runId, t))!.outcome, 'completed');
        await recorder.finishRun(runId, 'completed');
        assert.deepEqual((await sweepRun(ledger.store, runId)).queries.filter((q) => q.ids.length > 0), []);
        assert.equal((await ledger.verify()).ok, true);
      });
    });

    it('a unit whose last call fails its guard leaves nothing of the unit, and the coded error surfaces', async () => {
      await withRecorder(await backend.freshUrl(), async (recorder, ledger) => {
        const g = await linearRun(recorder);
        const runId = g.run.run_id as string;
        const done = await lifecycle(recorder, g, 0);
        const head = await ledger.head();
        const rows = await counts(ledger.store);
        await assert.rejects(
          recorder.batch(async (b) => {
            for (let i = 1; i < 4; i++) await lifecycle(b, g, i);
            // The last call: a second terminal outcome for a token completed before the unit.
            await b.recordOutcome(runId, done.token.token_id as string, { outcome: 'failed', error: 'again' });
          }),
          (e: unknown) => isSealtrailError(e) && e.code === 'audit_integrity' && e.details?.rule === 'one_terminal',
        );
        assert.deepEqual(await ledger.head(), head);
        assert.deepEqual(await counts(ledger.store), rows);
        // The recorder's caches kept nothing of the unit: its tokens are unknown.
        assert.equal((await recorder.runAudit(runId)).records.pipeline_tokens.length, 1);
        // Two terminal outcomes within one unit are refused the same way.
        await assert.rejects(
          recorder.batch(async (b) => {
            const { token } = await b.createRow(runId, { sourceNodeId: g.source.node_id as string, rowIndex: 9, data: { id: 9 } });
            await b.recordOutcome(runId, token.token_id as string, { outcome: 'completed', sinkName: 'jsonl' });
            await b.recordOutcome(runId, token.token_id as string, { outcome: 'failed', error: 'twice' });
          }),
          (e: unknown) => isSealtrailError(e) && e.code === 'audit_integrity' && e.details?.rule === 'one_terminal',
        );
        assert.deepEqual(await counts(ledger.store), rows);
        assert.equal((await ledger.verify()).ok, true);
      });
    });

    it('a call that fails validation throws at once and, left to end the unit, writes nothing; an ended unit refuses calls', async () => {
      await withRecorder(await backend.freshUrl(), async (recorder, ledger) => {
        const g = await linearRun(recorder);
        const runId = g.run.run_id as string;
        const head = await ledger.head();
        let kept: typeof recorder | undefined;
        await assert.rejects(
          recorder.batch(async (b) => {
            kept = b;
            await lifecycle(b, g, 0);
            await b.openState(runId, { tokenId: '', nodeId: g.source.node_id as string, stepIndex: 0, input: {} });
          }),
          (e: unknown) => isSealtrailError(e) && e.code === 'invalid_argument',
        );
        assert.deepEqual(await ledger.head(), head);
        await assert.rejects(kept!.createRow(runId, { sourceNodeId: g.source.node_id as string, rowIndex: 1, data: {} }), (e: unknown) => isSealtrailError(e) && e.code === 'invalid_argument');
        await assert.rejects(
          recorder.batch((b) => b.finishRun(runId, 'completed')),
          (e: unknown) => isSealtrailError(e) && e.code === 'invalid_argument',
        );
        assert.deepEqual(await ledger.head(), head);
        assert.equal((await recorder.getRun(runId))!.status, 'running');
      });
    });

    it('a state opened in an unfinished unit is unknown to the recorder, and ownership is still checked', async () => {
      await withRecorder(await backend.freshUrl(), async (recorder) => {
        const g = await linearRun(recorder);
        const runId = g.run.run_id as string;
        const other = await recorder.beginRun({ settings: { other: true } });
        await assert.rejects(
          recorder.batch(async (b) => {
            const { token } = await b.createRow(runId, { sourceNodeId: g.source.node_id as string, rowIndex: 0, data: {} });
            // A token of this run recorded under another run's id: refused inside the transaction.
            await b.openState(other.run_id as string, { tokenId: token.token_id as string, nodeId: g.source.node_id as string, stepIndex: 0, input: {} });
          }),
          (e: unknown) => isSealtrailError(e) && e.code === 'audit_integrity' && e.details?.rule === 'ownership',
        );
        assert.equal((await recorder.runAudit(runId)).records.pipeline_rows.length, 0);
      });
    });
  });
}
