/**
 * Pipeline audits over HTTP (docs/pipeline.md): runs, a run's graph, a row's lineage and the audit
 * sweep. Thin over src/pipeline, answering what `sealtrail runs|explain|sweep --json` print.
 */
import { Type } from 'typebox';
import { SealtrailError, isSealtrailError } from '../../core/errors.js';
import { sweepRun } from '../../pipeline/audit-sweep.js';
import { explain } from '../../pipeline/lineage.js';
import type { PayloadStore } from '../../pipeline/payload-store.js';
import { PipelineRecorder } from '../../pipeline/pipeline-recorder.js';
import { outcomeCounts } from '../../pipeline/run-export.js';
import { Limit, Report, responses, secured } from '../schemas.js';
import type { ServerContext, TypedApp } from '../server-context.js';

const tags = ['pipeline'];

const RunId = Type.String({ minLength: 1, maxLength: 200, description: 'a pipeline run id' });
// A run is a pipeline_runs record as stored (its columns vary with the schema version), plus counts.
const Run = Type.Object(
  { run_id: Type.String(), status: Type.String(), started_at: Type.String(), rows: Type.Integer({ minimum: 0 }), outcomes: Type.Record(Type.String(), Type.Integer({ minimum: 0 })) },
  { additionalProperties: true },
);

const GraphNode = Type.Object({ node_id: Type.String(), state_counts: Type.Record(Type.String(), Type.Integer({ minimum: 0 })) }, { additionalProperties: true });

export interface PipelineRoutesOptions {
  /** The payload store, so lineage shows row data; without it a row's data is `not_stored`. */
  payloads?: PayloadStore;
}

export function registerPipelineRoutes(app: TypedApp, ctx: ServerContext, options: PipelineRoutesOptions = {}): void {
  const recorder = new PipelineRecorder(ctx.ledger, options.payloads === undefined ? {} : { payloads: options.payloads });

  const runJson = async (runId: string) => {
    const audit = await recorder.runAudit(runId);
    return { ...audit.run, rows: audit.records.pipeline_rows.length, outcomes: outcomeCounts(audit.records.pipeline_token_outcomes) };
  };

  app.get(
    '/api/runs',
    {
      config: { role: 'reader' },
      schema: {
        tags,
        summary: 'recent pipeline runs, newest first, with their row count and the count of each terminal outcome',
        ...secured('reader'),
        querystring: Type.Object({ limit: Type.Optional(Type.Integer({ ...Limit, description: '1..500, default 20' })) }),
        response: responses({ 200: Type.Array(Run) }),
      },
    },
    async (request) => {
      const out = [];
      for (const run of await recorder.listRuns(request.query.limit ?? 20)) out.push(await runJson(run.run_id as string));
      return out;
    },
  );

  app.get(
    '/api/runs/:run_id',
    {
      config: { role: 'reader' },
      schema: { tags, summary: 'one run with its counts', ...secured('reader'), params: Type.Object({ run_id: RunId }), response: responses({ 200: Run }) },
    },
    async (request) => runJson(request.params.run_id),
  );

  app.get(
    '/api/runs/:run_id/graph',
    {
      config: { role: 'reader' },
      schema: {
        tags,
        summary: "the run's registered nodes (in pipeline order, each with `state_counts`: its node states by status) and edges",
        ...secured('reader'),
        params: Type.Object({ run_id: RunId }),
        response: responses({ 200: Type.Object({ run_id: Type.String(), nodes: Type.Array(GraphNode), edges: Type.Array(Report) }) }),
      },
    },
    async (request) => {
      const { run, records } = await recorder.runAudit(request.params.run_id);
      // Per-node counts for drawing the graph: how many node states each node holds, by status.
      const counts = new Map<string, Record<string, number>>();
      for (const st of records.pipeline_node_states) {
        const c = counts.get(st.node_id as string) ?? {};
        c[st.status as string] = (c[st.status as string] ?? 0) + 1;
        counts.set(st.node_id as string, c);
      }
      return { run_id: run.run_id as string, nodes: records.pipeline_nodes.map((n) => ({ ...n, state_counts: counts.get(n.node_id as string) ?? {} })), edges: records.pipeline_edges };
    },
  );

  app.get(
    '/api/runs/:run_id/rows/:row_index/lineage',
    {
      config: { role: 'reader' },
      schema: {
        tags,
        summary:
          "a source row's complete lineage (as `sealtrail explain --row`): the row, every token back to it with node states, routing, calls, errors and the terminal outcome; a row that reached several sinks needs ?sink=",
        ...secured('reader'),
        params: Type.Object({ run_id: RunId, row_index: Type.Integer({ minimum: 0 }) }),
        querystring: Type.Object({ sink: Type.Optional(Type.String({ minLength: 1 })) }),
        response: responses({
          200: Type.Object(
            { run_id: Type.String(), token_id: Type.String(), row: Report, validation_errors: Type.Array(Report), ancestry: Type.Array(Report), outcome: Type.Union([Report, Type.Null()]) },
            { additionalProperties: false },
          ),
        }),
      },
    },
    async (request) => {
      try {
        return await explain(recorder, request.params.run_id, { rowIndex: request.params.row_index, ...(request.query.sink === undefined ? {} : { sink: request.query.sink }) });
      } catch (err) {
        // explain words its choices as CLI options; over HTTP the choice is the sink query parameter.
        if (isSealtrailError(err, 'invalid_argument') && err.message.includes('--sink')) {
          throw new SealtrailError('invalid_argument', err.message.replace('pick one with --sink', 'pick one with ?sink=<name>'), { details: { ...err.details } });
        }
        throw err;
      }
    },
  );

  app.get(
    '/api/runs/:run_id/sweep',
    {
      config: { role: 'reader' },
      schema: {
        tags,
        summary: "the audit sweep of a run (as `sealtrail sweep`): every defect query with the ids it found; 200 with ok false on findings",
        ...secured('reader'),
        params: Type.Object({ run_id: RunId }),
        response: responses({
          200: Type.Object(
            { run_id: Type.String(), run_status: Type.String(), ok: Type.Boolean(), queries: Type.Array(Type.Object({ query: Type.String(), ids: Type.Array(Type.String()) })) },
            { additionalProperties: false },
          ),
        }),
      },
    },
    async (request) => sweepRun(ctx.ledger.store, request.params.run_id),
  );
}
