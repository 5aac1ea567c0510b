/**
 * Property: whatever sequence of outcomes, forks and expansions the engine attempts, the recorder
 * accepts exactly those the model allows (one terminal per token; required fields present; after
 * `buffered` only the outcomes an aggregation can end in), a refused attempt writes nothing, and
 * the store afterwards holds exactly the model's terminal outcomes and scans clean.
 * Replay a failure with the seed printed by test/helpers/replay.ts.
 */
import '../helpers/replay.js';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isSealtrailError } from '../../src/core/errors.js';
import { scanTargets } from '../../src/ledger/scan.js';
import { pipelineScanTargets } from '../../src/pipeline/scan-targets.js';
import { OUTCOME_REQUIRED, type Outcome } from '../../src/pipeline/record-rules.js';
import { BACKENDS } from '../helpers/databases.js';
import { replayHint } from '../helpers/replay.js';
import { linearRun, withRecorder } from './pipeline-fixtures.js';

const PLAIN = ['completed', 'routed', 'failed', 'quarantined', 'diverted', 'consumed_in_batch', 'buffered'] as const;
const AFTER_BUFFERED: readonly string[] = ['completed', 'routed', 'failed', 'consumed_in_batch', 'quarantined'];

type Command =
  | { op: 'outcome'; token: number; outcome: (typeof PLAIN)[number]; sink: boolean; error: boolean; batch: boolean }
  | { op: 'fork' | 'expand'; token: number; n: number };

const command: fc.Arbitrary<Command> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('outcome' as const), token: fc.nat(5), outcome: fc.constantFrom(...PLAIN), sink: fc.boolean(), error: fc.boolean(), batch: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constantFrom('fork' as const, 'expand' as const), token: fc.nat(5), n: fc.integer({ min: 1, max: 3 }) }) },
);

function fieldsPresent(c: Extract<Command, { op: 'outcome' }>): boolean {
  const have: Record<string, boolean> = { sink_name: c.sink, error_hash: c.error, batch_id: c.batch };
  return OUTCOME_REQUIRED[c.outcome as Outcome].every((f) => have[f]);
}

for (const backend of BACKENDS) {
  describe(`outcome rules as a property on ${backend.name}`, () => {
    it('the recorder accepts exactly what the model allows and a refusal writes nothing', async () => {
      const url = await backend.freshUrl();
      await withRecorder(url, async (recorder, ledger) => {
        await fc.assert(
          fc.asyncProperty(fc.array(command, { minLength: 1, maxLength: 10 }), async (commands) => {
            const g = await linearRun(recorder);
            const runId = g.run.run_id as string;
            const agg = await recorder.registerNode(runId, { nodeType: 'aggregation', pluginName: 'agg', pluginVersion: '1', determinism: 'deterministic', config: {} });
            const batch = await recorder.createBatch(runId, { aggregationNodeId: agg.node_id as string });
            const { token } = await recorder.createRow(runId, { sourceNodeId: g.source.node_id as string, rowIndex: 0, data: { v: 0 } });
            const tokens: string[] = [token.token_id as string];
            const terminal = new Map<string, string>();
            const buffered = new Set<string>();
            for (const c of commands) {
              const id = tokens[c.token % tokens.length]!;
              const before = (await ledger.head()).size;
              let allowed: boolean;
              let attempt: () => Promise<unknown>;
              if (c.op === 'outcome') {
                allowed = fieldsPresent(c) && !terminal.has(id) && (!buffered.has(id) || c.outcome === 'buffered' || AFTER_BUFFERED.includes(c.outcome));
                attempt = () =>
                  recorder.recordOutcome(runId, id, {
                    outcome: c.outcome,
                    ...(c.sink ? { sinkName: 'sink' } : {}),
                    ...(c.error ? { error: 'boom' } : {}),
                    ...(c.batch ? { batchId: batch.batch_id as string } : {}),
                  });
              } else {
                allowed = !terminal.has(id) && !buffered.has(id);
                attempt = () => (c.op === 'fork' ? recorder.forkToken(runId, id, { branches: Array.from({ length: c.n }, (_, i) => `b${i}`) }) : recorder.expandToken(runId, id, { count: c.n }));
              }
              let result: unknown;
              try {
                result = await attempt();
              } catch (err) {
                assert.ok(isSealtrailError(err, 'audit_integrity'), `${JSON.stringify(c)}: ${String(err)}; ${replayHint()}`);
                assert.equal(allowed, false, `${JSON.stringify(c)} was refused: ${err.message}; ${replayHint()}`);
                assert.equal((await ledger.head()).size, before, 'a refusal writes nothing');
                continue;
              }
              assert.equal(allowed, true, `${JSON.stringify(c)} was accepted; ${replayHint()}`);
              if (c.op === 'outcome') {
                if (c.outcome === 'buffered') buffered.add(id);
                else terminal.set(id, c.outcome);
              } else {
                terminal.set(id, c.op === 'fork' ? 'forked' : 'expanded');
                for (const child of result as Array<{ token_id: string }>) tokens.push(child.token_id);
              }
            }
            const audit = await recorder.runAudit(runId);
            const stored = new Map(audit.records.pipeline_token_outcomes.filter((o) => o.is_terminal === 1).map((o) => [o.token_id as string, o.outcome as string]));
            assert.equal(stored.size, audit.records.pipeline_token_outcomes.filter((o) => o.is_terminal === 1).length, 'one terminal per token');
            assert.deepEqual(stored, terminal);
            assert.equal(audit.records.pipeline_tokens.length, tokens.length);
          }),
          { numRuns: backend.name === 'sqlite' ? 25 : 12 },
        );
        assert.deepEqual((await scanTargets(ledger.store, pipelineScanTargets(ledger.store))).findings, []);
      });
    });
  });
}
