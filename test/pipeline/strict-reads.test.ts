/**
 * Tier 1 reads: a row corrupted directly in the database is refused with audit_integrity by every
 * read API, never coerced. Each case plants exactly one defect and checks the rule reported.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isSealtrailError } from '../../src/core/errors.js';
import type { PipelineRecorder } from '../../src/pipeline/pipeline-recorder.js';
import { BACKENDS } from '../helpers/databases.js';
import { dropIndex, tamper } from './db-tamper.js';
import { lifecycle, linearRun, withRecorder } from './pipeline-fixtures.js';

function integrity(rule: string, table?: string) {
  return (err: unknown) => {
    assert.ok(isSealtrailError(err, 'audit_integrity'), `expected audit_integrity, got ${String(err)}`);
    assert.equal(err.details?.rule, rule, err.message);
    if (table) assert.equal(err.details?.table, table, err.message);
    return true;
  };
}

interface Planted {
  name: string;
  sql: (ids: Ids) => [string, unknown[]];
  rule: string;
  table: string;
  /** PostgreSQL's column types refuse this corruption themselves. */
  sqliteOnly?: boolean;
}

interface Ids {
  runId: string;
  tokenId: string;
  outcomeId: string;
  stateId: string;
  openStateId: string;
  operationId: string;
}

const CASES: Planted[] = [
  { name: 'an unknown outcome', sql: (i) => ['UPDATE pipeline_token_outcomes SET outcome = ? WHERE outcome_id = ?', ['teleported', i.outcomeId]], rule: 'enum', table: 'pipeline_token_outcomes' },
  { name: 'an empty outcome', sql: (i) => ["UPDATE pipeline_token_outcomes SET outcome = '' WHERE outcome_id = ?", [i.outcomeId]], rule: 'empty', table: 'pipeline_token_outcomes' },
  { name: 'is_terminal 2', sql: (i) => ['UPDATE pipeline_token_outcomes SET is_terminal = 2 WHERE outcome_id = ?', [i.outcomeId]], rule: 'is_terminal', table: 'pipeline_token_outcomes' },
  { name: 'is_terminal 0 on a completed outcome', sql: (i) => ['UPDATE pipeline_token_outcomes SET is_terminal = 0 WHERE outcome_id = ?', [i.outcomeId]], rule: 'is_terminal', table: 'pipeline_token_outcomes' },
  { name: 'a completed outcome without sink_name', sql: (i) => ['UPDATE pipeline_token_outcomes SET sink_name = NULL WHERE outcome_id = ?', [i.outcomeId]], rule: 'outcome_fields', table: 'pipeline_token_outcomes' },
  { name: 'an open state with an output hash', sql: (i) => ["UPDATE pipeline_node_states SET output_hash = 'abc' WHERE state_id = ?", [i.openStateId]], rule: 'state_status', table: 'pipeline_node_states' },
  { name: 'a completed state without an output hash', sql: (i) => ['UPDATE pipeline_node_states SET output_hash = NULL WHERE state_id = ?', [i.stateId]], rule: 'state_status', table: 'pipeline_node_states' },
  { name: 'a failed state with a success reason', sql: (i) => ["UPDATE pipeline_node_states SET status = 'failed', error_json = '{}', success_reason_json = '{}' WHERE state_id = ?", [i.stateId]], rule: 'state_status', table: 'pipeline_node_states' },
  { name: 'an unknown state status', sql: (i) => ["UPDATE pipeline_node_states SET status = 'done' WHERE state_id = ?", [i.stateId]], rule: 'enum', table: 'pipeline_node_states' },
  { name: 'a run status nobody defined', sql: (i) => ["UPDATE pipeline_runs SET status = 'paused' WHERE run_id = ?", [i.runId]], rule: 'enum', table: 'pipeline_runs' },
  { name: 'a token with two group ids', sql: (i) => ["UPDATE pipeline_tokens SET fork_group_id = 'f', join_group_id = 'j' WHERE token_id = ?", [i.tokenId]], rule: 'token_groups', table: 'pipeline_tokens' },
  { name: 'text in an integer column', sql: (i) => ["UPDATE pipeline_node_states SET duration_ms = 'soon' WHERE state_id = ?", [i.stateId]], rule: 'type', table: 'pipeline_node_states', sqliteOnly: true },
  { name: 'non-canonical JSON', sql: (i) => ["UPDATE pipeline_node_states SET success_reason_json = '{ \"b\": 1, \"a\": 2 }' WHERE state_id = ?", [i.stateId]], rule: 'type', table: 'pipeline_node_states' },
  { name: 'a timestamp in another form', sql: (i) => ["UPDATE pipeline_token_outcomes SET recorded_at = '2026-01-01 00:00:00' WHERE outcome_id = ?", [i.outcomeId]], rule: 'type', table: 'pipeline_token_outcomes' },
];

async function plant(recorder: PipelineRecorder): Promise<Ids> {
  const g = await linearRun(recorder);
  const { token, states, outcome } = await lifecycle(recorder, g, 0);
  const open = await recorder.openState(g.run.run_id as string, { tokenId: token.token_id as string, nodeId: g.sink.node_id as string, stepIndex: 2, attempt: 1, input: {} });
  const op = await recorder.beginOperation(g.run.run_id as string, { nodeId: g.source.node_id as string, operationType: 'source_load' });
  return {
    operationId: op.operation_id as string,
    runId: g.run.run_id as string,
    tokenId: token.token_id as string,
    outcomeId: outcome.outcome_id as string,
    stateId: states[1]!.state_id as string,
    openStateId: open.state_id as string,
  };
}

for (const backend of BACKENDS) {
  describe(`strict reads on ${backend.name}`, () => {
    // One database for all cases: each case corrupts a fresh run of its own.
    let url: string;
    for (const c of CASES.filter((c) => backend.name === 'sqlite' || !c.sqliteOnly)) {
      it(`refuses ${c.name} (${c.rule})`, async () => {
        url ??= await backend.freshUrl();
        await withRecorder(url, async (recorder) => {
          const ids = await plant(recorder);
          const [sql, params] = c.sql(ids);
          assert.equal(await tamper(url, sql, params), 1);
          await assert.rejects(() => recorder.runAudit(ids.runId), integrity(c.rule, c.table));
          if (c.table === 'pipeline_token_outcomes') await assert.rejects(() => recorder.getTerminalOutcome(ids.runId, ids.tokenId), integrity(c.rule, c.table));
          if (c.table === 'pipeline_node_states') await assert.rejects(() => recorder.getNodeState(ids.runId, c.name.startsWith('an open') ? ids.openStateId : ids.stateId), integrity(c.rule, c.table));
          if (c.table === 'pipeline_tokens') await assert.rejects(() => recorder.getToken(ids.runId, ids.tokenId), integrity(c.rule, c.table));
          if (c.table === 'pipeline_runs') await assert.rejects(() => recorder.getRun(ids.runId), integrity(c.rule, c.table));
        });
      });
    }

    it('a fetch-one matching two terminal outcomes throws instead of picking one', async () => {
      const fresh = await backend.freshUrl();
      await withRecorder(fresh, async (recorder) => {
        const ids = await plant(recorder);
        await dropIndex(fresh, 'pipeline_token_outcomes_one_terminal');
        await tamper(
          fresh,
          `INSERT INTO pipeline_token_outcomes (outcome_id, run_id, token_id, outcome, is_terminal, recorded_at, error_hash) VALUES ('dup', ?, ?, 'failed', 1, '2026-01-01T00:00:00.000Z', '0123456789abcdef')`,
          [ids.runId, ids.tokenId],
        );
        await assert.rejects(() => recorder.getTerminalOutcome(ids.runId, ids.tokenId), integrity('fetch_one', 'pipeline_token_outcomes'));
      });
    });

    it('the database itself refuses what the recorder refuses (constraint backstops)', async () => {
      const fresh = await backend.freshUrl();
      await withRecorder(fresh, async (recorder) => {
        const ids = await plant(recorder);
        const store = recorder.ledger.store;
        const refused = (err: unknown) => isSealtrailError(err, 'database_error');
        await assert.rejects(
          () => store.run(`INSERT INTO pipeline_token_outcomes (outcome_id, run_id, token_id, outcome, is_terminal, recorded_at, error_hash) VALUES ('x', ?, ?, 'failed', 1, '2026-01-01T00:00:00.000Z', 'e')`, [ids.runId, ids.tokenId]),
          refused,
          'a second terminal outcome',
        );
        await assert.rejects(
          () => store.run(`INSERT INTO pipeline_token_outcomes (outcome_id, run_id, token_id, outcome, is_terminal, recorded_at, batch_id) VALUES ('y', ?, ?, 'buffered', 1, '2026-01-01T00:00:00.000Z', 'b')`, [ids.runId, ids.tokenId]),
          refused,
          'is_terminal contradicting the outcome',
        );
        for (const parents of [[null, null], [ids.stateId, ids.operationId]]) {
          await assert.rejects(
            () => store.run(`INSERT INTO pipeline_calls (call_id, state_id, operation_id, call_index, call_type, status, request_hash, created_at) VALUES (?, ?, ?, 9, 'http', 'success', 'h', '2026-01-01T00:00:00.000Z')`, [`c${String(parents[0])}`, parents[0]!, parents[1]!]),
            refused,
            'a call with no parent or two',
          );
        }
        await store.run(`INSERT INTO pipeline_calls (call_id, state_id, call_index, call_type, status, request_hash, created_at) VALUES ('c1', ?, 0, 'http', 'success', 'h', '2026-01-01T00:00:00.000Z')`, [ids.stateId]);
        await assert.rejects(
          () => store.run(`INSERT INTO pipeline_calls (call_id, state_id, call_index, call_type, status, request_hash, created_at) VALUES ('c2', ?, 0, 'http', 'success', 'h', '2026-01-01T00:00:00.000Z')`, [ids.stateId]),
          refused,
          'a duplicate call index',
        );
        // Any number of buffered rows is allowed next to the one terminal.
        for (const id of ['b1', 'b2']) {
          await store.run(`INSERT INTO pipeline_token_outcomes (outcome_id, run_id, token_id, outcome, is_terminal, recorded_at, batch_id) VALUES (?, ?, ?, 'buffered', 0, '2026-01-01T00:00:00.000Z', 'b')`, [id, ids.runId, ids.tokenId]);
        }
      });
    });
  });
}
