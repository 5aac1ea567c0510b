/** `sealtrail pipeline`: run an auditable data pipeline from a settings file (docs/pipelines.md). */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { SealtrailError } from '../../core/errors.js';
import { openLedger } from '../../ledger/ledger.js';
import { compileSettings, parseSettingsYaml } from '../../pipeline/engine/pipeline-settings.js';
import { runPipeline, type PipelineResult } from '../../pipeline/engine/run-pipeline.js';
import { PayloadStore } from '../../pipeline/payload-store.js';
import { createProgress } from '../progress.js';
import type { WithContext } from '../program.js';

interface RunOptions {
  runId?: string;
  payloads?: string;
  leaseSeconds?: string;
}

export function register(program: Command, withContext: WithContext): void {
  const pipeline = program.command('pipeline').description('auditable data pipelines: every row reaches exactly one recorded outcome');

  pipeline
    .command('run <settings>')
    .description('run the pipeline a settings YAML file describes, recording everything in the ledger (--db, else landscape.url, else the configured database)')
    .option('--run-id <id>', 'use this run id (32 lower-case hex) instead of a random one')
    .option('--lease-seconds <n>', 'lease length; the run renews it every third of that while alive, and a run whose lease expired is marked abandoned', '30')
    .option('--payloads <dir>', 'keep row data and call payloads in this directory (default: <settings dir>/.sealtrail-payloads)')
    .action(
      withContext<RunOptions>(async (ctx, { args, opts, command }) => {
        const file = resolve(args[0]!);
        let text: string;
        try {
          text = readFileSync(file, 'utf8');
        } catch (cause) {
          throw new SealtrailError('invalid_argument', `cannot read the settings file ${file}: ${(cause as Error).message}`, { details: { path: file } });
        }
        if (opts.runId !== undefined && !/^[0-9a-f]{32}$/.test(opts.runId)) throw new SealtrailError('invalid_argument', '--run-id must be 32 lower-case hex characters', { details: { runId: opts.runId } });
        const settings = parseSettingsYaml(text);
        const baseDir = dirname(file);
        // Validate before touching any database: a bad file records nothing anywhere.
        const compiled = compileSettings(settings, { baseDir });
        const explicitDb = (command.optsWithGlobals() as { db?: string }).db;
        const landscape = compiled.landscapeUrl;
        // A landscape path (not a URL) is relative to the settings file, like every other path in it.
        const url = explicitDb ?? (landscape === null ? ctx.config.db : /^[a-z][a-z0-9+.-]*:\/\//i.test(landscape) ? landscape : resolve(baseDir, landscape));
        const ledger = await openLedger({ url, maxPayloadBytes: ctx.config.maxPayloadBytes });
        const controller = new AbortController();
        let signals = 0;
        const onSignal = (sig: NodeJS.Signals) => {
          signals++;
          if (signals > 1) process.exit(130);
          ctx.out.note(`${sig}: stopping after the current row (again to stop at once)`);
          controller.abort();
        };
        process.on('SIGINT', onSignal);
        process.on('SIGTERM', onSignal);
        const progress = createProgress({ label: 'rows' });
        let seen = 0;
        let result: PipelineResult;
        try {
          result = await runPipeline(settings, {
            db: ledger,
            baseDir,
            runId: opts.runId,
            leaseSeconds: parseLease(opts.leaseSeconds),
            signal: controller.signal,
            payloads: new PayloadStore(resolve(opts.payloads ?? resolve(baseDir, '.sealtrail-payloads'))),
            onProgress: (p) => {
              progress.tick(p.rowsRead - seen);
              seen = p.rowsRead;
            },
          });
        } finally {
          progress.done();
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
          await ledger.close();
        }
        const fmt = (m: Record<string, number>) => Object.entries(m).map(([k, v]) => `${k}=${v}`).join(' ') || 'none';
        ctx.out.result(
          () => `run ${result.runId} ${result.status}: ${result.rowsRead} rows read in ${result.durationMs} ms; outcomes: ${fmt(result.outcomes)}; written: ${fmt(result.written)}`,
          { run: result },
        );
        return 0;
      }),
    );
}

function parseLease(text: string | undefined): number {
  const n = Number(text ?? '30');
  if (!Number.isSafeInteger(n) || n < 1) throw new SealtrailError('invalid_argument', '--lease-seconds must be a positive integer', { details: { leaseSeconds: text } });
  return n;
}
