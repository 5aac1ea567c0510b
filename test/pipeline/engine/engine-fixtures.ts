/** Shared set-up for the engine tests: input files in a temp dir, a run on a real database, its audit and sweep. */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openLedger, type Ledger } from '../../../src/ledger/ledger.js';
import { sweepRun } from '../../../src/pipeline/audit-sweep.js';
import { runPipeline, type PipelineResult, type RunPipelineOptions } from '../../../src/pipeline/engine/run-pipeline.js';
import { PayloadStore } from '../../../src/pipeline/payload-store.js';
import { PipelineRecorder, type RunAudit } from '../../../src/pipeline/pipeline-recorder.js';
import { tempDir } from '../../helpers/databases.js';

export interface EngineRun {
  result: PipelineResult;
  audit: RunAudit;
  dir: string;
  ledger: Ledger;
  /** Outcome per token id. */
  outcomeOf: Map<string, string>;
  read(file: string): string;
}

export function workDir(files: Record<string, string> = {}): string {
  const dir = tempDir('sealtrail-engine-');
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

/** Runs settings in `dir` against `url`, then loads the audit; the ledger stays open for the test (closed by `close`). */
export async function runIn(url: string, dir: string, settings: unknown, options: Omit<RunPipelineOptions, 'db' | 'baseDir'> = {}): Promise<EngineRun> {
  const ledger = await openLedger({ url });
  const result = await runPipeline(settings, { db: ledger, baseDir: dir, payloads: new PayloadStore(join(dir, 'payloads')), ...options });
  return inspect(ledger, dir, result);
}

export async function inspect(ledger: Ledger, dir: string, result: PipelineResult): Promise<EngineRun> {
  const audit = await new PipelineRecorder(ledger).runAudit(result.runId);
  const outcomeOf = new Map<string, string>();
  for (const o of audit.records.pipeline_token_outcomes) if (o.is_terminal === 1) outcomeOf.set(o.token_id as string, o.outcome as string);
  return { result, audit, dir, ledger, outcomeOf, read: (f) => readFileSync(join(dir, f), 'utf8') };
}

/** The sweep of the run, asserted empty. */
export async function assertSweepEmpty(ledger: Ledger, runId: string): Promise<void> {
  const report = await sweepRun(ledger.store, runId);
  assert.deepEqual(report.queries.filter((q) => q.ids.length > 0), [], 'the audit sweep finds nothing');
}

export function countBy<T>(items: T[], key: (t: T) => string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const i of items) out[key(i)] = (out[key(i)] ?? 0) + 1;
  return out;
}

export function csv(header: string, ...lines: string[]): string {
  return [header, ...lines].join('\n') + '\n';
}
