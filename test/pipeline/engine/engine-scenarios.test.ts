/**
 * The scenarios of pipeline-model.md the engine supports, end to end on real files and both
 * backends: each run's records are checked against what the model says must exist, and the
 * audit sweep is asserted empty after every run that completed.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RetryableError, type TransformDefinition, type SinkDefinition } from '../../../src/pipeline/engine/plugin-api.js';
import { runPipeline } from '../../../src/pipeline/engine/run-pipeline.js';
import { PipelineRecorder } from '../../../src/pipeline/pipeline-recorder.js';
import { BACKENDS } from '../../helpers/databases.js';
import { assertSweepEmpty, countBy, csv, runIn, workDir } from './engine-fixtures.js';

const ROWS3 = csv('id,v,name', '1,1,alpha', '2,2,beta', '3,3,gamma');

const linear = (extra: Record<string, unknown> = {}) => ({
  source: { plugin: 'csv', on_success: 'raw', options: { path: 'in.csv', schema: { mode: 'fixed', fields: { id: 'int', v: 'int', name: 'str' } }, on_validation_failure: 'discard' } },
  transforms: [{ name: 'upper', plugin: 'field_mapper', input: 'raw', on_success: 'out', on_error: 'discard', options: { mapping: { name: 'label' } } }],
  sinks: { out: { plugin: 'json', options: { path: 'out.jsonl' } } },
  ...extra,
});

/** A transform failing `failures` times with a retryable error, then passing the row through. */
function flaky(failures: number): TransformDefinition {
  const seen = new Map<unknown, number>();
  return {
    kind: 'transform',
    name: 'flaky',
    version: '1',
    determinism: 'deterministic',
    create(options) {
      options.done();
      return {
        process(row) {
          const n = seen.get(row.id) ?? 0;
          seen.set(row.id, n + 1);
          if (n < failures) throw new RetryableError(`transient failure ${n + 1}`);
          return { row };
        },
      };
    },
  };
}

const failingSink: SinkDefinition = {
  kind: 'sink',
  name: 'broken',
  version: '1',
  determinism: 'io_write',
  create(options) {
    options.done();
    return {
      write() {
        throw new Error('disk full');
      },
      flush: () => ({ artifactType: 'file', pathOrUri: 'x', contentHash: 'x', sizeBytes: 0 }),
    };
  },
};

for (const backend of BACKENDS) {
  describe(`pipeline engine scenarios (${backend.name})`, () => {
    it('1. linear source → transform → sink over 3 rows', async () => {
      const dir = workDir({ 'in.csv': ROWS3 });
      const r = await runIn(await backend.freshUrl(), dir, linear());
      try {
        const rec = r.audit.records;
        assert.equal(r.result.status, 'completed');
        assert.equal(rec.pipeline_rows.length, 3);
        assert.equal(rec.pipeline_tokens.length, 3);
        for (const t of rec.pipeline_tokens) {
          const states = rec.pipeline_node_states.filter((s) => s.token_id === t.token_id);
          assert.deepEqual(states.map((s) => [s.step_index, s.status]), [[0, 'completed'], [1, 'completed'], [2, 'completed']]);
        }
        assert.deepEqual(countBy(rec.pipeline_token_outcomes, (o) => `${String(o.outcome)}@${String(o.sink_name)}`), { 'completed@out': 3 });
        assert.equal(rec.pipeline_artifacts.length, 1);
        assert.deepEqual(countBy(rec.pipeline_operations, (o) => `${String(o.operation_type)}:${String(o.status)}`), { 'source_load:completed': 1, 'sink_write:completed': 1 });
        assert.equal(rec.pipeline_checkpoints.length, 0);
        assert.equal(r.audit.run.status, 'completed');
        assert.equal(r.audit.run.config_hash, r.result.settingsHash);
        assert.equal(r.audit.run.reproducibility_grade, 'replay_reproducible');
        assert.deepEqual(r.read('out.jsonl').trim().split('\n').map((l) => JSON.parse(l) as unknown), [
          { id: 1, v: 1, label: 'alpha' },
          { id: 2, v: 2, label: 'beta' },
          { id: 3, v: 3, label: 'gamma' },
        ]);
        // The artifact is the bytes written: its hash and size match the file.
        const { createHash } = await import('node:crypto');
        assert.equal(rec.pipeline_artifacts[0]!.content_hash, createHash('sha256').update(r.read('out.jsonl')).digest('hex'));
        assert.equal(rec.pipeline_artifacts[0]!.size_bytes, Buffer.byteLength(r.read('out.jsonl')));
        // Node ids are deterministic from the canonical config: a second run registers the same ids.
        await assertSweepEmpty(r.ledger, r.result.runId);
        const again = await runPipeline(linear(), { db: r.ledger, baseDir: dir });
        const ids = async (runId: string) => (await new PipelineRecorder(r.ledger).runAudit(runId)).records.pipeline_nodes.map((n) => n.node_id);
        assert.deepEqual(await ids(again.runId), await ids(r.result.runId));
        assert.equal(again.settingsHash, r.result.settingsHash);
      } finally {
        await r.ledger.close();
      }
    });

    it('2. empty source: completed, no rows, tokens, outcomes or sink_write', async () => {
      const dir = workDir({ 'in.csv': 'id,v,name\n' });
      const r = await runIn(await backend.freshUrl(), dir, linear());
      try {
        assert.equal(r.result.status, 'completed');
        const rec = r.audit.records;
        assert.deepEqual([rec.pipeline_rows.length, rec.pipeline_tokens.length, rec.pipeline_token_outcomes.length], [0, 0, 0]);
        assert.deepEqual(rec.pipeline_operations.map((o) => o.operation_type), ['source_load']);
        await assertSweepEmpty(r.ledger, r.result.runId);
      } finally {
        await r.ledger.close();
      }
    });

    it('3. gate row.v > 1: true → a sink, false → the next connection', async () => {
      const dir = workDir({ 'in.csv': ROWS3 });
      const settings = linear({
        source: { plugin: 'csv', on_success: 'raw', options: { path: 'in.csv', schema: { mode: 'fixed', fields: { id: 'int', v: 'int', name: 'str' } }, on_validation_failure: 'discard' } },
        gates: [{ name: 'size', input: 'raw', condition: 'row.v > 1', routes: { true: 'big', false: 'small' } }],
        transforms: [{ name: 'keep', plugin: 'passthrough', input: 'small', on_success: 'out', on_error: 'discard' }],
        sinks: { out: { plugin: 'json', options: { path: 'out.jsonl' } }, big: { plugin: 'csv', options: { path: 'big.csv' } } },
      });
      const r = await runIn(await backend.freshUrl(), dir, settings);
      try {
        const rec = r.audit.records;
        assert.deepEqual(countBy(rec.pipeline_token_outcomes, (o) => `${String(o.outcome)}@${String(o.sink_name)}`), { 'routed@big': 2, 'completed@out': 1 });
        assert.equal(r.read('big.csv'), csv('id,v,name', '2,2,beta', '3,3,gamma'));
        // One routing event per gate decision, each with its reason.
        assert.equal(rec.pipeline_routing_events.length, 3);
        assert.ok(rec.pipeline_routing_events.every((e) => e.reason_hash !== null));
        const labels = rec.pipeline_routing_events.map((e) => rec.pipeline_edges.find((x) => x.edge_id === e.edge_id)!.label).sort();
        assert.deepEqual(labels, ['false', 'true', 'true']);
        await assertSweepEmpty(r.ledger, r.result.runId);
      } finally {
        await r.ledger.close();
      }
    });

    it('3b. a gate evaluation error or a label without a route fails that token, never the run', async () => {
      const dir = workDir({ 'in.json': JSON.stringify([{ v: 1 }, { w: 2 }, { v: 'x' }]) });
      const settings = {
        source: { plugin: 'json', on_success: 'raw', options: { path: 'in.json', on_validation_failure: 'discard' } },
        gates: [{ name: 'g', input: 'raw', condition: 'row.v == 1 ? "one" : "other"', routes: { one: 'out' } }],
        sinks: { out: { plugin: 'json', options: { path: 'out.jsonl' } } },
      };
      const r = await runIn(await backend.freshUrl(), dir, settings);
      try {
        assert.equal(r.result.status, 'completed');
        assert.deepEqual(countBy([...r.outcomeOf.values()], (o) => o), { routed: 1, failed: 2 });
        const failed = r.audit.records.pipeline_node_states.filter((s) => s.status === 'failed').map((s) => JSON.parse(String(s.error_json)) as { reason: string });
        assert.deepEqual(failed.map((f) => f.reason).sort(), ['evaluation_error', 'no_route']);
        await assertSweepEmpty(r.ledger, r.result.runId);
      } finally {
        await r.ledger.close();
      }
    });

    it('4. transform error with on_error: discard, and with on_error: <sink>', async () => {
      for (const onError of ['discard', 'errors']) {
        const dir = workDir({ 'in.csv': csv('id,text', '1,fine', '2,this is SPAM', '3,ok') });
        const settings = {
          source: { plugin: 'csv', on_success: 'raw', options: { path: 'in.csv', on_validation_failure: 'discard' } },
          transforms: [{ name: 'filter', plugin: 'keyword_filter', input: 'raw', on_success: 'out', on_error: onError, options: { blocked: ['spam'] } }],
          sinks: { out: { plugin: 'json', options: { path: 'out.jsonl' } }, errors: { plugin: 'json', options: { path: 'errors.jsonl' } } },
        };
        if (onError === 'discard') delete (settings.sinks as Record<string, unknown>).errors;
        const r = await runIn(await backend.freshUrl(), dir, settings);
        try {
          const rec = r.audit.records;
          assert.equal(rec.pipeline_transform_errors.length, 1);
          assert.equal(rec.pipeline_transform_errors[0]!.destination, onError);
          const bad = rec.pipeline_transform_errors[0]!.token_id as string;
          const o = rec.pipeline_token_outcomes.find((x) => x.token_id === bad)!;
          if (onError === 'discard') {
            assert.deepEqual([o.outcome, o.sink_name], ['quarantined', null]);
            assert.equal(rec.pipeline_routing_events.length, 0);
          } else {
            assert.deepEqual([o.outcome, o.sink_name], ['routed', 'errors']);
            assert.equal(rec.pipeline_edges.find((e) => e.edge_id === rec.pipeline_routing_events[0]!.edge_id)!.label, '__error_filter__');
            assert.equal(JSON.parse(r.read('errors.jsonl')).text, 'this is SPAM');
          }
          assert.ok(o.error_hash);
          assert.deepEqual(countBy([...r.outcomeOf.values()], (x) => x).completed, 2);
          await assertSweepEmpty(r.ledger, r.result.runId);
        } finally {
          await r.ledger.close();
        }
      }
    });

    it('5. source validation failure to a quarantine sink, and with discard', async () => {
      for (const dest of ['quarantine', 'discard']) {
        const dir = workDir({ 'in.csv': csv('id,v', '1,10', 'two,20', '3,NaN') });
        const settings = {
          source: { plugin: 'csv', on_success: 'out', options: { path: 'in.csv', schema: { mode: 'fixed', fields: { id: 'int', v: 'float' } }, on_validation_failure: dest } },
          sinks: { out: { plugin: 'json', options: { path: 'out.jsonl' } }, ...(dest === 'discard' ? {} : { quarantine: { plugin: 'json', options: { path: 'q.jsonl' } } }) },
        };
        const r = await runIn(await backend.freshUrl(), dir, settings);
        try {
          const rec = r.audit.records;
          assert.equal(rec.pipeline_validation_errors.length, 2);
          assert.ok(rec.pipeline_validation_errors.every((v) => v.destination === dest));
          if (dest === 'discard') {
            assert.equal(rec.pipeline_rows.length, 1);
            assert.ok(rec.pipeline_validation_errors.every((v) => v.row_id === null));
            assert.deepEqual([...r.outcomeOf.values()], ['completed']);
          } else {
            assert.deepEqual(rec.pipeline_rows.map((x) => x.row_index), [0, 1, 2]);
            assert.ok(rec.pipeline_validation_errors.every((v) => v.row_id !== null));
            assert.deepEqual(countBy(rec.pipeline_token_outcomes, (o) => `${String(o.outcome)}@${String(o.sink_name)}`), { 'completed@out': 1, 'quarantined@quarantine': 2 });
            assert.equal(r.read('q.jsonl').trim().split('\n').length, 2);
          }
          await assertSweepEmpty(r.ledger, r.result.runId);
        } finally {
          await r.ledger.close();
        }
      }
    });

    it('fork_to: one row forked into two branches, each to its own sink', async () => {
      const dir = workDir({ 'in.csv': csv('id', '1') });
      const settings = {
        source: { plugin: 'csv', on_success: 'raw', options: { path: 'in.csv', on_validation_failure: 'discard' } },
        gates: [{ name: 'split', input: 'raw', condition: 'true', routes: { true: 'fork' }, fork_to: ['a', 'b'] }],
        transforms: [{ name: 'ta', plugin: 'passthrough', input: 'a', on_success: 'sa', on_error: 'discard' }],
        sinks: { sa: { plugin: 'json', options: { path: 'a.jsonl' } }, b: { plugin: 'json', options: { path: 'b.jsonl' } } },
      };
      const r = await runIn(await backend.freshUrl(), dir, settings);
      try {
        const rec = r.audit.records;
        assert.equal(rec.pipeline_tokens.length, 3);
        const children = rec.pipeline_tokens.filter((t) => t.fork_group_id !== null);
        assert.deepEqual(children.map((t) => t.branch_name).sort(), ['a', 'b']);
        assert.deepEqual(countBy([...r.outcomeOf.values()], (o) => o), { forked: 1, completed: 1, routed: 1 });
        const events = rec.pipeline_routing_events;
        assert.equal(events.length, 2);
        assert.equal(new Set(events.map((e) => e.routing_group_id)).size, 1);
        assert.ok(events.every((e) => e.mode === 'copy'));
        await assertSweepEmpty(r.ledger, r.result.runId);
      } finally {
        await r.ledger.close();
      }
    });

    it('10. deaggregation: rows with 2, 1 and 3 items', async () => {
      const dir = workDir({ 'in.jsonl': ['{"id":1,"items":[1,2]}', '{"id":2,"items":[3]}', '{"id":3,"items":[4,5,6]}'].join('\n') });
      const settings = {
        source: { plugin: 'json', on_success: 'raw', options: { path: 'in.jsonl', on_validation_failure: 'discard' } },
        transforms: [{ name: 'explode', plugin: 'json_explode', input: 'raw', on_success: 'out', on_error: 'discard', options: { field: 'items', output_field: 'item' } }],
        sinks: { out: { plugin: 'json', options: { path: 'out.jsonl' } } },
      };
      const r = await runIn(await backend.freshUrl(), dir, settings);
      try {
        const rec = r.audit.records;
        const expanded = rec.pipeline_token_outcomes.filter((o) => o.outcome === 'expanded');
        assert.deepEqual(expanded.map((o) => JSON.parse(String(o.expected_branches_json)) as unknown), [{ count: 2 }, { count: 1 }, { count: 3 }]);
        assert.equal(rec.pipeline_token_parents.length, 6);
        assert.deepEqual(countBy([...r.outcomeOf.values()], (o) => o), { expanded: 3, completed: 6 });
        assert.deepEqual(r.read('out.jsonl').trim().split('\n').map((l) => (JSON.parse(l) as { item: number }).item), [1, 2, 3, 4, 5, 6]);
        await assertSweepEmpty(r.ledger, r.result.runId);
      } finally {
        await r.ledger.close();
      }
    });

    it('11. retry: fails twice then succeeds; always fails; an error result is not retried', async () => {
      const retry = { max_attempts: 3, initial_delay_ms: 1, max_delay_ms: 5, jitter_ms: 1 };
      const settingsFor = (plugin: string) => ({
        source: { plugin: 'csv', on_success: 'raw', options: { path: 'in.csv', on_validation_failure: 'discard' } },
        transforms: [{ name: 't', plugin, input: 'raw', on_success: 'out', on_error: 'discard', options: plugin === 'keyword_filter' ? { blocked: ['x'] } : {} }],
        sinks: { out: { plugin: 'json', options: { path: 'out.jsonl' } } },
        retry,
      });
      const attemptsOf = (r: Awaited<ReturnType<typeof runIn>>) => r.audit.records.pipeline_node_states.filter((s) => s.step_index === 1).map((s) => [s.attempt, s.status]);
      const url = await backend.freshUrl();
      const ok = await runIn(url, workDir({ 'in.csv': csv('id', '1') }), settingsFor('flaky'), { plugins: [flaky(2)] });
      try {
        assert.deepEqual(attemptsOf(ok), [[0, 'failed'], [1, 'failed'], [2, 'completed']]);
        assert.deepEqual([...ok.outcomeOf.values()], ['completed']);
        await assertSweepEmpty(ok.ledger, ok.result.runId);
      } finally {
        await ok.ledger.close();
      }
      const never = await runIn(url, workDir({ 'in.csv': csv('id', '1') }), settingsFor('flaky'), { plugins: [flaky(99)] });
      try {
        assert.deepEqual(attemptsOf(never), [[0, 'failed'], [1, 'failed'], [2, 'failed']]);
        assert.deepEqual([...never.outcomeOf.values()], ['failed']);
        await assertSweepEmpty(never.ledger, never.result.runId);
      } finally {
        await never.ledger.close();
      }
      const errorResult = await runIn(url, workDir({ 'in.csv': csv('id', 'x') }), settingsFor('keyword_filter'));
      try {
        assert.deepEqual(attemptsOf(errorResult), [[0, 'failed']]);
        assert.deepEqual([...errorResult.outcomeOf.values()], ['quarantined']);
        await assertSweepEmpty(errorResult.ledger, errorResult.result.runId);
      } finally {
        await errorResult.ledger.close();
      }
      // Without retry configured, a retryable failure becomes an error result routed by on_error.
      const noRetry = { ...settingsFor('flaky'), retry: undefined };
      const converted = await runIn(url, workDir({ 'in.csv': csv('id', '1') }), noRetry, { plugins: [flaky(1)] });
      try {
        assert.deepEqual(attemptsOf(converted), [[0, 'failed']]);
        assert.deepEqual([...converted.outcomeOf.values()], ['quarantined']);
        assert.equal(converted.audit.records.pipeline_transform_errors.length, 1);
        await assertSweepEmpty(converted.ledger, converted.result.runId);
      } finally {
        await converted.ledger.close();
      }
    });

    it('12. a sink rejecting rows diverts them to its failsink; required fields are checked', async () => {
      const dir = workDir({ 'in.json': JSON.stringify([{ id: 1, name: 'a' }, { id: 2 }, { id: 3, name: 'c', extra: true }]) });
      const settings = {
        source: { plugin: 'json', on_success: 'out', options: { path: 'in.json', on_validation_failure: 'discard' } },
        sinks: {
          out: { plugin: 'csv', options: { path: 'out.csv', fields: ['id', 'name'] }, required_fields: ['name'], failsink: 'rejects' },
          rejects: { plugin: 'json', options: { path: 'rejects.jsonl' } },
        },
      };
      const r = await runIn(await backend.freshUrl(), dir, settings);
      try {
        const rec = r.audit.records;
        assert.deepEqual(countBy(rec.pipeline_token_outcomes, (o) => `${String(o.outcome)}@${String(o.sink_name)}`), { 'completed@out': 1, 'diverted@rejects': 2 });
        assert.equal(r.read('out.csv'), csv('id,name', '1,a'));
        const rejected = r.read('rejects.jsonl').trim().split('\n').map((l) => JSON.parse(l) as { id: number; _diversion_reason: string });
        assert.deepEqual(rejected.map((x) => x.id).sort(), [2, 3]);
        assert.ok(rejected.every((x) => x._diversion_reason.startsWith('sink out rejected the row')));
        assert.equal(rec.pipeline_artifacts.length, 2);
        assert.equal(rec.pipeline_routing_events.filter((e) => e.mode === 'divert').length, 2);
        await assertSweepEmpty(r.ledger, r.result.runId);
      } finally {
        await r.ledger.close();
      }
    });

    it('12b. a sink whose write raises: a failed sink_write, no sink states or outcomes, the run failed', async () => {
      const dir = workDir({ 'in.csv': ROWS3 });
      const url = await backend.freshUrl();
      const settings = { ...linear(), sinks: { out: { plugin: 'broken' } } };
      await assert.rejects(runIn(url, dir, settings, { plugins: [failingSink] }), (e: { code?: string; message: string }) => e.code === 'pipeline_plugin_failed' && /disk full/.test(e.message));
      const { openLedger } = await import('../../../src/ledger/ledger.js');
      const { PipelineRecorder } = await import('../../../src/pipeline/pipeline-recorder.js');
      const { sweepRun } = await import('../../../src/pipeline/audit-sweep.js');
      const ledger = await openLedger({ url });
      try {
        const recorder = new PipelineRecorder(ledger);
        const [run] = await recorder.listRuns();
        assert.equal(run!.status, 'failed');
        const rec = (await recorder.runAudit(run!.run_id as string)).records;
        const write = rec.pipeline_operations.find((o) => o.operation_type === 'sink_write')!;
        assert.equal(write.status, 'failed');
        assert.match(String(write.error_message), /disk full/);
        assert.equal(rec.pipeline_token_outcomes.length, 0);
        assert.equal(rec.pipeline_artifacts.length, 0);
        const sinkNode = rec.pipeline_nodes.find((n) => n.node_type === 'sink')!;
        assert.equal(rec.pipeline_node_states.filter((s) => s.node_id === sinkNode.node_id).length, 0);
        // The sweep names exactly the unfinished tokens of the failed run, nothing else.
        const report = await sweepRun(ledger.store, run!.run_id as string);
        const found = report.queries.filter((q) => q.ids.length > 0);
        assert.deepEqual(found.map((q) => q.query), ['missing_terminal_outcome']);
        assert.deepEqual(found[0]!.ids, rec.pipeline_tokens.map((t) => t.token_id as string).sort());
      } finally {
        await ledger.close();
      }
    });

    it('a graceful stop after row 2 of 5 writes what is done and marks the run interrupted', async () => {
      const dir = workDir({ 'in.csv': csv('id,v,name', '1,1,a', '2,2,b', '3,3,c', '4,4,d', '5,5,e') });
      const controller = new AbortController();
      const r = await runIn(await backend.freshUrl(), dir, linear(), {
        signal: controller.signal,
        onProgress: (p) => {
          if (p.rowsRead === 2) controller.abort();
        },
      });
      try {
        assert.equal(r.result.status, 'interrupted');
        assert.equal(r.audit.run.status, 'interrupted');
        assert.equal(r.audit.records.pipeline_rows.length, 2);
        assert.deepEqual([...r.outcomeOf.values()], ['completed', 'completed']);
        assert.equal(r.read('out.jsonl').trim().split('\n').length, 2);
        await assertSweepEmpty(r.ledger, r.result.runId);
      } finally {
        await r.ledger.close();
      }
    });
  });
}
