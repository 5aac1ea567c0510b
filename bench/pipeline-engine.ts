/**
 * Pipeline engine throughput: source rows per second through csv source → field_mapper → truncate
 * → keyword_filter → gate → 2 sinks with full audit (every row, state, routing event, outcome and
 * artifact recorded and chained), on SQLite and, with SEALTRAIL_BENCH_PG_URL (an admin URL), on a
 * fresh PostgreSQL database; and the ratio to a plain loop doing the same transforms and writes
 * (same plugins, same files, fsync per 100 rows) without audit, measured in the same run.
 * Rows: PIPELINE_BENCH_ROWS (default 1000).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { OptionReader, type PipelineRow, type TransformResult } from '../src/pipeline/engine/plugin-api.js';
import { compileSettings } from '../src/pipeline/engine/pipeline-settings.js';
import { runPipeline } from '../src/pipeline/engine/run-pipeline.js';
import { csvSink, jsonSink } from '../src/pipeline/plugins/sink-plugins.js';
import { csvSource } from '../src/pipeline/plugins/source-plugins.js';
import type { Report } from './run.js';
import { round } from './util.js';

const ROWS = Number(process.env.PIPELINE_BENCH_ROWS ?? 1000);

const settings = {
  source: { plugin: 'csv', on_success: 'raw', options: { path: 'in.csv', schema: { mode: 'fixed', fields: { id: 'int', name: 'str', amount: 'float', note: 'str' } }, on_validation_failure: 'discard' } },
  transforms: [
    { name: 'rename', plugin: 'field_mapper', input: 'raw', on_success: 'a', on_error: 'discard', options: { mapping: { name: 'customer' } } },
    { name: 'cut', plugin: 'truncate', input: 'a', on_success: 'b', on_error: 'discard', options: { fields: { note: 16 } } },
    { name: 'screen', plugin: 'keyword_filter', input: 'b', on_success: 'c', on_error: 'discard', options: { blocked: ['fraud'] } },
  ],
  gates: [{ name: 'split', input: 'c', condition: 'row.amount >= 50.0', routes: { true: 'large', false: 'small' } }],
  sinks: { large: { plugin: 'csv', options: { path: 'large.csv' } }, small: { plugin: 'json', options: { path: 'small.jsonl' } } },
};

function input(dir: string): void {
  const lines = Array.from({ length: ROWS }, (_, i) => `${i},customer ${i},${(i * 37) % 100}.5,note number ${i} ${i % 50 === 0 ? 'fraud' : 'fine'} and more text`);
  writeFileSync(join(dir, 'in.csv'), `id,name,amount,note\n${lines.join('\n')}\n`);
}

/** The same work without audit: read, validate, 3 transforms, gate, 2 file sinks fsynced every 100 rows. */
async function plain(dir: string): Promise<number> {
  const compiled = compileSettings(settings, { baseDir: dir });
  const src = csvSource.create(new OptionReader({ path: 'in.csv', schema: settings.source.options.schema }, 'source.options', dir));
  const sinks = { large: csvSink.create(new OptionReader({ path: 'plain-large.csv' }, 's', dir)), small: jsonSink.create(new OptionReader({ path: 'plain-small.jsonl' }, 's', dir)) };
  const pending: Record<'large' | 'small', PipelineRow[]> = { large: [], small: [] };
  const ctx = { runId: '', nodeId: '', db: null as never, recordCall: async () => {} };
  const flush = async (k: 'large' | 'small') => {
    await sinks[k].write(pending[k].splice(0), ctx);
    await sinks[k].flush(ctx);
  };
  const started = performance.now();
  for (const item of src.load(ctx) as Iterable<{ row?: PipelineRow }>) {
    if (!item.row) continue;
    let row: PipelineRow | null = item.row;
    for (const t of compiled.transforms.values()) {
      const r: TransformResult = await t.instance.process(row, ctx);
      row = 'row' in r ? r.row : null;
      if (!row) break;
    }
    if (!row) continue;
    const k = compiled.gates.get('split')!.evaluate(row) === true ? 'large' : 'small';
    pending[k].push(row);
    if (pending[k].length >= 100) await flush(k);
  }
  for (const k of ['large', 'small'] as const) if (pending[k].length > 0) await flush(k);
  return performance.now() - started;
}

async function audited(dir: string, db: string): Promise<number> {
  const started = performance.now();
  await runPipeline(settings, { db, baseDir: dir });
  return performance.now() - started;
}

export default async function bench(report: Report): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'sealtrail-bench-pipeline-'));
  try {
    input(dir);
    const plainMs = await plain(dir);
    const plainRate = ROWS / (plainMs / 1000);
    report({ name: 'plain_loop', rows: ROWS, rows_per_s: round(plainRate, 0) });
    const targets: [string, string][] = [['sqlite', join(dir, 'ledger.db')]];
    const admin = process.env.SEALTRAIL_BENCH_PG_URL;
    let dbName: string | null = null;
    if (admin) {
      dbName = `sealtrail_bench_pipeline_${process.pid}`;
      const c = new pg.Client({ connectionString: admin });
      await c.connect();
      await c.query(`CREATE DATABASE ${dbName}`);
      await c.end();
      const u = new URL(admin);
      u.pathname = `/${dbName}`;
      targets.push(['postgres', u.toString()]);
    }
    try {
      for (const [backend, db] of targets) {
        const ms = await audited(dir, db);
        const rate = ROWS / (ms / 1000);
        report({ name: `audited_${backend}`, rows: ROWS, rows_per_s: round(rate, 0), ratio_to_plain: round(rate / plainRate, 4) });
      }
    } finally {
      if (dbName) {
        const c = new pg.Client({ connectionString: admin });
        await c.connect();
        await c.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
        await c.end();
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
