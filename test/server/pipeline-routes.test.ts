/** The pipeline routes over real HTTP on both backends, on a run the recorder wrote. */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { PipelineRecorder } from '../../src/pipeline/pipeline-recorder.js';
import { join } from 'node:path';
import { PayloadStore } from '../../src/pipeline/payload-store.js';
import { postgresUrl, sqliteUrl, tempDir } from '../helpers/databases.js';
import { lifecycle, linearRun } from '../pipeline/pipeline-fixtures.js';
import { startApi, type Api } from './api-client.js';

type Obj = Record<string, unknown>;
const BACKENDS = [
  ['sqlite', async () => sqliteUrl()],
  ['postgres', () => postgresUrl()],
] as const;

for (const [backend, makeUrl] of BACKENDS) {
  describe(`pipeline routes on ${backend}`, () => {
    let api: Api;
    let runId: string;
    let forkedB: string;
    let nodes: string[];
    before(async () => {
      api = await startApi(await makeUrl());
      // Before any pipeline table exists: no runs, and an unknown run is a 404.
      assert.deepEqual((await api.request('GET', '/api/runs', { token: api.tokens.reader })).json, []);
      const recorder = new PipelineRecorder(api.ledger);
      const g = await linearRun(recorder);
      runId = g.run.run_id as string;
      nodes = [g.source, g.transform, g.sink].map((n) => n.node_id as string);
      await lifecycle(recorder, g, 0, { id: 0, name: 'Ada' });
      await lifecycle(recorder, g, 1);
      // Row 2 forks and reaches two sinks.
      const { token } = await recorder.createRow(runId, { sourceNodeId: g.source.node_id as string, rowIndex: 2, data: { id: 2 } });
      const [a, b] = await recorder.forkToken(runId, token.token_id as string, { branches: ['a', 'b'] });
      await recorder.recordOutcome(runId, a!.token_id as string, { outcome: 'routed', sinkName: 'left' });
      await recorder.recordOutcome(runId, b!.token_id as string, { outcome: 'routed', sinkName: 'right' });
      forkedB = b!.token_id as string;
      await recorder.finishRun(runId, 'completed');
    });
    after(async () => {
      await api.close();
    });

    it('lists runs and answers one run with its row and outcome counts', async () => {
      const runs = await api.request('GET', '/api/runs', { token: api.tokens.reader });
      assert.equal(runs.status, 200);
      const listed = runs.json as Array<Obj & { outcomes: Record<string, number> }>;
      assert.deepEqual(listed.map((r) => [r['run_id'], r['status'], r['rows'], r.outcomes['completed'], r.outcomes['routed'], r.outcomes['forked']]), [[runId, 'completed', 3, 2, 2, 1]]);
      const one = await api.request('GET', `/api/runs/${runId}`, { token: api.tokens.reader });
      assert.equal(one.status, 200);
      assert.deepEqual(one.json, listed[0]);
      const unknown = await api.request('GET', '/api/runs/no-such-run', { token: api.tokens.reader });
      assert.equal(unknown.status, 404);
      assert.equal((unknown.json as Obj)['code'], 'out_of_range');
      for (const limit of ['0', '501', 'x']) {
        const bad = await api.request('GET', `/api/runs?limit=${limit}`, { token: api.tokens.reader });
        assert.equal(bad.status, 400, limit);
        assert.equal((bad.json as Obj)['code'], 'invalid_limit');
      }
    });

    it('answers the graph: nodes in pipeline order and the edges between them', async () => {
      const graph = await api.request('GET', `/api/runs/${runId}/graph`, { token: api.tokens.reader });
      assert.equal(graph.status, 200);
      const g = graph.json as { run_id: string; nodes: Obj[]; edges: Obj[] };
      assert.equal(g.run_id, runId);
      assert.deepEqual(g.nodes.map((n) => [n['node_id'], n['node_type']]), [[nodes[0], 'source'], [nodes[1], 'transform'], [nodes[2], 'sink']]);
      assert.deepEqual(g.edges.map((e) => [e['from_node_id'], e['to_node_id'], e['label']]), [[nodes[0], nodes[1], 'continue'], [nodes[1], nodes[2], 'continue']]);
      // Rows 0 and 1 went through every node; row 2 only through the source before forking.
      assert.deepEqual(g.nodes.map((n) => n['state_counts']), [{ completed: 2 }, { completed: 2 }, { completed: 2 }]);
      assert.equal((await api.request('GET', '/api/runs/nope/graph', { token: api.tokens.reader })).status, 404);
    });

    it("explains a row's lineage; a row at several sinks needs ?sink= (400 naming them)", async () => {
      const lineage = await api.request('GET', `/api/runs/${runId}/rows/0/lineage`, { token: api.tokens.reader });
      assert.equal(lineage.status, 200);
      const l = lineage.json as { row: Obj; ancestry: Array<{ states: Obj[] }>; outcome: Obj };
      assert.equal(l.row['row_index'], 0);
      assert.equal(l.row['data_status'], 'not_stored', 'the server has no payload store');
      assert.deepEqual(l.ancestry[0]!.states.map((s) => [s['step_index'], s['status']]), [[0, 'completed'], [1, 'completed'], [2, 'completed']]);
      assert.deepEqual([l.outcome['outcome'], l.outcome['sink_name']], ['completed', 'jsonl']);

      const ambiguous = await api.request('GET', `/api/runs/${runId}/rows/2/lineage`, { token: api.tokens.reader });
      assert.equal(ambiguous.status, 400);
      assert.equal((ambiguous.json as Obj)['code'], 'invalid_argument');
      assert.match((ambiguous.json as Obj)['detail'] as string, /several sinks \(left, right\); pick one with \?sink=/);
      const picked = await api.request('GET', `/api/runs/${runId}/rows/2/lineage?sink=right`, { token: api.tokens.reader });
      assert.equal(picked.status, 200);
      assert.equal((picked.json as Obj)['token_id'], forkedB);
      assert.equal(((picked.json as Obj)['ancestry'] as unknown[]).length, 2, 'the branch token and its forked parent');
      const noSink = await api.request('GET', `/api/runs/${runId}/rows/2/lineage?sink=elsewhere`, { token: api.tokens.reader });
      assert.equal(noSink.status, 400);
      assert.equal((await api.request('GET', `/api/runs/${runId}/rows/99/lineage`, { token: api.tokens.reader })).status, 404);
      const badIndex = await api.request('GET', `/api/runs/${runId}/rows/-1/lineage`, { token: api.tokens.reader });
      assert.equal(badIndex.status, 400);
      assert.equal((badIndex.json as Obj)['field'], 'params.row_index');
      assert.equal((await api.request('GET', `/api/runs/nope/rows/0/lineage`, { token: api.tokens.reader })).status, 404);
    });

    it('sweeps a run: ok on a healthy run, the offending ids after a defect', async () => {
      const healthy = await api.request('GET', `/api/runs/${runId}/sweep`, { token: api.tokens.reader });
      assert.equal(healthy.status, 200);
      const report = healthy.json as { ok: boolean; run_status: string; queries: Array<{ query: string; ids: string[] }> };
      assert.equal(report.ok, true);
      assert.equal(report.run_status, 'completed');
      assert.ok(report.queries.length > 10 && report.queries.every((q) => q.ids.length === 0));
      // A second run with a token that never got an outcome.
      const recorder = new PipelineRecorder(api.ledger);
      const g = await linearRun(recorder);
      const open = await recorder.createRow(g.run.run_id as string, { sourceNodeId: g.source.node_id as string, rowIndex: 0, data: { id: 0 } });
      const broken = await api.request('GET', `/api/runs/${g.run.run_id as string}/sweep`, { token: api.tokens.reader });
      assert.equal(broken.status, 200);
      const b = broken.json as typeof report;
      assert.equal(b.ok, false);
      assert.deepEqual(b.queries.find((q) => q.query === 'missing_terminal_outcome')!.ids, [open.token.token_id]);
      assert.equal((await api.request('GET', '/api/runs/nope/sweep', { token: api.tokens.reader })).status, 404);
      assert.equal(((await api.request('GET', '/api/runs', { token: api.tokens.reader })).json as unknown[]).length, 2);
    });

    it('with the payload store (serve --payloads), lineage carries the row data and the routing reasons', async () => {
      const dir = join(tempDir(), 'payloads');
      const withPayloads = await startApi(await makeUrl(), { payloads: dir });
      try {
        const rec = new PipelineRecorder(withPayloads.ledger, { payloads: new PayloadStore(dir) });
        const g = await linearRun(rec);
        const { states } = await lifecycle(rec, g, 0, { id: 7, name: 'Grace' });
        await rec.recordRouting(g.run.run_id as string, states[1]!.state_id as string, [{ edgeId: g.edges[1]!.edge_id as string, mode: 'move', reason: { rule: 'amount > 100', value: 250 } }]);
        const r = await withPayloads.request('GET', `/api/runs/${g.run.run_id as string}/rows/0/lineage`, { token: withPayloads.tokens.reader });
        assert.equal(r.status, 200);
        const l = r.json as { row: Obj; ancestry: Array<{ states: Array<{ routing: Obj[] }> }> };
        assert.equal(l.row['data_status'], 'available');
        assert.deepEqual(l.row['data'], { id: 7, name: 'Grace' });
        const routing = l.ancestry[0]!.states[1]!.routing;
        assert.deepEqual(routing.map((e) => [e['reason_status'], e['reason']]), [['available', { rule: 'amount > 100', value: 250 }]]);
        // Without the store the same lineage says why the content is missing, never fails.
        const without = await api.request('GET', `/api/runs/${runId}/rows/0/lineage`, { token: api.tokens.reader });
        assert.equal(((without.json as { row: Obj }).row)['data_status'], 'not_stored');
      } finally {
        await withPayloads.close();
      }
    });

    it('needs a token with the reader role (every role reads)', async () => {
      for (const p of ['/api/runs', `/api/runs/${runId}`, `/api/runs/${runId}/graph`, `/api/runs/${runId}/rows/0/lineage`, `/api/runs/${runId}/sweep`]) {
        assert.equal((await api.request('GET', p, { token: null })).status, 401, p);
        assert.equal((await api.request('GET', p, { token: api.tokens.revoked })).status, 401, p);
        for (const role of ['reader', 'writer', 'admin'] as const) assert.equal((await api.request('GET', p, { token: api.tokens[role] })).status, 200, `${p} as ${role}`);
      }
    });
  });
}
