/**
 * Shared set-up for the pipeline tests: a recorder on a real database with a payload store, a
 * linear source → transform → sink topology, and the realistic token lifecycle (row, token, three
 * node states, outcome) the bench also measures.
 */
import { join } from 'node:path';
import { openLedger, type Ledger } from '../../src/ledger/ledger.js';
import { PayloadStore } from '../../src/pipeline/payload-store.js';
import { PipelineRecorder } from '../../src/pipeline/pipeline-recorder.js';
import type { PipelineRecord } from '../../src/pipeline/tables.js';
import { tempDir } from '../helpers/databases.js';

export interface Linear {
  run: PipelineRecord;
  source: PipelineRecord;
  transform: PipelineRecord;
  sink: PipelineRecord;
  edges: PipelineRecord[];
}

export async function withRecorder<T>(url: string, fn: (recorder: PipelineRecorder, ledger: Ledger) => Promise<T>, payloadDir = join(tempDir(), 'payloads')): Promise<T> {
  const ledger = await openLedger({ url });
  try {
    return await fn(new PipelineRecorder(ledger, { payloads: new PayloadStore(payloadDir) }), ledger);
  } finally {
    await ledger.close();
  }
}

export async function linearRun(recorder: PipelineRecorder): Promise<Linear> {
  const run = await recorder.beginRun({ settings: { pipeline: 'linear', version: 1 } });
  const runId = run.run_id as string;
  const source = await recorder.registerNode(runId, { nodeType: 'source', pluginName: 'csv', pluginVersion: '1.0', determinism: 'io_read', config: { path: 'in.csv' }, sequenceInPipeline: 0 });
  const transform = await recorder.registerNode(runId, { nodeType: 'transform', pluginName: 'upper', pluginVersion: '1.0', determinism: 'deterministic', config: { field: 'name' }, sequenceInPipeline: 1 });
  const sink = await recorder.registerNode(runId, { nodeType: 'sink', pluginName: 'jsonl', pluginVersion: '1.0', determinism: 'io_write', config: { path: 'out.jsonl' }, sequenceInPipeline: 2 });
  const edges = [
    await recorder.registerEdge(runId, { fromNodeId: source.node_id as string, toNodeId: transform.node_id as string, label: 'continue' }),
    await recorder.registerEdge(runId, { fromNodeId: transform.node_id as string, toNodeId: sink.node_id as string, label: 'continue' }),
  ];
  return { run, source, transform, sink, edges };
}

/** One row through source, transform and sink: row, token, three completed states, completed outcome. */
export async function lifecycle(recorder: PipelineRecorder, g: Linear, rowIndex: number, data: unknown = { id: rowIndex, name: `row ${rowIndex}` }) {
  const runId = g.run.run_id as string;
  const { row, token } = await recorder.createRow(runId, { sourceNodeId: g.source.node_id as string, rowIndex, data });
  const tokenId = token.token_id as string;
  const states: PipelineRecord[] = [];
  let value: unknown = data;
  for (const [step, node] of [g.source, g.transform, g.sink].entries()) {
    const state = await recorder.openState(runId, { tokenId, nodeId: node.node_id as string, stepIndex: step, input: value });
    value = step === 1 ? { ...(value as object), upper: true } : value;
    states.push(await recorder.completeState(runId, state.state_id as string, { status: 'completed', output: value }));
  }
  const outcome = await recorder.recordOutcome(runId, tokenId, { outcome: 'completed', sinkName: 'jsonl' });
  return { row, token, states, outcome };
}
