/**
 * `npm run bench -- pipeline`: the recorder's write rate for a realistic token lifecycle (row and
 * token, three node states opened and completed, the outcome: 9 chained records in 8 recorder
 * transactions), as a ratio of the ledger's own append rate measured in the same run on the same
 * backend with the same concurrency (32 writers, each waiting for durability, group commit doing
 * the batching) and as a ratio of one bulk appendBatch; then the same lifecycles with each one a
 * recorder.batch() unit (9 records, one transaction). SQLite always; PostgreSQL when
 * SEALTRAIL_BENCH_PG_URL (an admin URL) is set. SEALTRAIL_BENCH_SCALE scales the sizes.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { openLedger } from '../src/ledger/ledger.js';
import { PayloadStore } from '../src/pipeline/payload-store.js';
import { PipelineRecorder } from '../src/pipeline/pipeline-recorder.js';
import type { Report } from './run.js';
import { round, timeAsync } from './util.js';

const SCALE = Number(process.env.SEALTRAIL_BENCH_SCALE ?? '1');
const WRITERS = 32;

export default async function bench(report: Report): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'sealtrail-bench-pipeline-'));
  try {
    await compare(report, 'sqlite', () => join(dir, `p-${Math.random()}.db`), dir);
    const admin = process.env.SEALTRAIL_BENCH_PG_URL;
    if (admin) await compare(report, 'postgres', () => freshPg(admin), dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function freshPg(admin: string): Promise<string> {
  const name = `sealtrail_bench_${Date.now()}_${Math.floor(Math.random() * 1e6)}`;
  const c = new pg.Client({ connectionString: admin });
  await c.connect();
  await c.query(`CREATE DATABASE ${name}`);
  await c.end();
  const u = new URL(admin);
  u.pathname = `/${name}`;
  return u.toString();
}

async function compare(report: Report, backend: string, freshUrl: () => string | Promise<string>, dir: string): Promise<void> {
  const lifecycles = Math.max(WRITERS, Math.round((backend === 'sqlite' ? 640 : 960) * SCALE));
  const perWriter = Math.ceil(lifecycles / WRITERS);

  // Baseline 1: the ledger alone, 32 concurrent appenders of single events (what each recorder call amounts to).
  const entries = perWriter * WRITERS * 9;
  const ledger = await openLedger({ url: await freshUrl() });
  const appendSeconds = await timeAsync(async () => {
    await Promise.all(
      Array.from({ length: WRITERS }, async (_, w) => {
        for (let i = 0; i < entries / WRITERS; i++) await ledger.append('bench', `w${w}-${i}`, { w, i, at: '2026-12-02T00:00:00.000Z', hash: 'ab'.repeat(32) });
      }),
    );
  });
  // Baseline 2: the same number of entries in bulk batches of 1000.
  const bulkSeconds = await timeAsync(async () => {
    for (let from = 0; from < entries; from += 1000) {
      await ledger.appendBatch(Array.from({ length: Math.min(1000, entries - from) }, (_, i) => ({ kind: 'bulk', pk: `b${from + i}`, payload: { i: from + i, hash: 'ab'.repeat(32) } })));
    }
  });
  await ledger.close();

  const recLedger = await openLedger({ url: await freshUrl() });
  const recorder = new PipelineRecorder(recLedger, { payloads: new PayloadStore(join(dir, `payloads-${backend}`)) });
  const run = await recorder.beginRun({ settings: { bench: true } });
  const runId = run.run_id as string;
  const nodes: string[] = [];
  for (const [i, type] of (['source', 'transform', 'sink'] as const).entries()) {
    nodes.push((await recorder.registerNode(runId, { nodeType: type, pluginName: `p${i}`, pluginVersion: '1', determinism: 'deterministic', config: { i } })).node_id as string);
  }
  const before = (await recLedger.head()).size;
  const recorderSeconds = await timeAsync(async () => {
    await Promise.all(
      Array.from({ length: WRITERS }, async (_, w) => {
        for (let i = 0; i < perWriter; i++) {
          const data = { w, i, name: `row ${i}`, amount: i * 3 };
          const { token } = await recorder.createRow(runId, { sourceNodeId: nodes[0]!, rowIndex: w * perWriter + i, data });
          for (const [step, node] of nodes.entries()) {
            const state = await recorder.openState(runId, { tokenId: token.token_id as string, nodeId: node, stepIndex: step, input: data });
            await recorder.completeState(runId, state.state_id as string, { status: 'completed', output: data });
          }
          await recorder.recordOutcome(runId, token.token_id as string, { outcome: 'completed', sinkName: 'p2' });
        }
      }),
    );
  });
  const recorded = (await recLedger.head()).size - before;

  // The same lifecycles, each one batch unit (one transaction per lifecycle), same 32 writers.
  const beforeBatched = (await recLedger.head()).size;
  const batchedSeconds = await timeAsync(async () => {
    await Promise.all(
      Array.from({ length: WRITERS }, async (_, w) => {
        for (let i = 0; i < perWriter; i++) {
          const data = { w, i, name: `row ${i}`, amount: i * 3 };
          await recorder.batch(async (b) => {
            const { token } = await b.createRow(runId, { sourceNodeId: nodes[0]!, rowIndex: (WRITERS + w) * perWriter + i, data });
            for (const [step, node] of nodes.entries()) {
              const state = await b.openState(runId, { tokenId: token.token_id as string, nodeId: node, stepIndex: step, input: data });
              await b.completeState(runId, state.state_id as string, { status: 'completed', output: data });
            }
            await b.recordOutcome(runId, token.token_id as string, { outcome: 'completed', sinkName: 'p2' });
          });
        }
      }),
    );
  });
  const recordedBatched = (await recLedger.head()).size - beforeBatched;
  await recLedger.close();

  const appendRate = entries / appendSeconds;
  const bulkRate = entries / bulkSeconds;
  const recorderRate = recorded / recorderSeconds;
  report({
    name: `recorder lifecycle, ${WRITERS} writers (${backend})`,
    lifecycles: perWriter * WRITERS,
    records: recorded,
    records_per_s: round(recorderRate, 0),
    lifecycles_per_s: round((perWriter * WRITERS) / recorderSeconds, 0),
    ledger_appends_per_s: round(appendRate, 0),
    ledger_bulk_per_s: round(bulkRate, 0),
    ratio_vs_concurrent_append: round(recorderRate / appendRate, 3),
    ratio_vs_bulk_append: round(recorderRate / bulkRate, 3),
  });
  const batchedRate = recordedBatched / batchedSeconds;
  report({
    name: `recorder lifecycle in batch units, ${WRITERS} writers (${backend})`,
    lifecycles: perWriter * WRITERS,
    records: recordedBatched,
    records_per_s: round(batchedRate, 0),
    lifecycles_per_s: round((perWriter * WRITERS) / batchedSeconds, 0),
    ratio_vs_concurrent_append: round(batchedRate / appendRate, 3),
    ratio_vs_bulk_append: round(batchedRate / bulkRate, 3),
  });
}
