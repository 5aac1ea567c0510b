/**
 * The pipeline audit commands: runs, sweep, explain, export. Thin: parse, call src/pipeline, print
 * through ctx.out. They open the ledger without migrating; `runs` and `sweep` first mark
 * runs whose lease expired abandoned (an audited transition).
 */
import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { SealtrailError } from '../../core/errors.js';
import { openLedger, type Ledger } from '../../ledger/ledger.js';
import { sweepRun } from '../../pipeline/audit-sweep.js';
import { abandonExpiredRuns } from '../../pipeline/engine/run-lifecycle.js';
import { formatProofBundle } from '../../ledger/proof-bundle.js';
import { explain, lineageEntries, type Lineage } from '../../pipeline/lineage.js';
import { PayloadStore } from '../../pipeline/payload-store.js';
import { PipelineRecorder } from '../../pipeline/pipeline-recorder.js';
import { exportRunJsonl, openLineageEvents, outcomeCounts, postOpenLineage } from '../../pipeline/run-export.js';
import type { CommandContext, ExitStatus, WithContext } from '../program.js';

async function withRecorder<T>(ctx: CommandContext, payloads: string | undefined, fn: (recorder: PipelineRecorder, ledger: Ledger) => Promise<T>): Promise<T> {
  const ledger = await openLedger({ url: ctx.config.db, maxPayloadBytes: ctx.config.maxPayloadBytes, migrate: false });
  try {
    return await fn(new PipelineRecorder(ledger, payloads === undefined ? {} : { payloads: new PayloadStore(payloads) }), ledger);
  } finally {
    await ledger.close();
  }
}

/** `latest` is the most recently started run. */
async function resolveRun(recorder: PipelineRecorder, run: string): Promise<string> {
  if (run !== 'latest') return run;
  const [latest] = await recorder.listRuns(1);
  if (!latest) throw new SealtrailError('out_of_range', 'there is no pipeline run yet', { details: { run } });
  return latest.run_id as string;
}

function parseIndex(text: string): number {
  if (!/^[0-9]+$/.test(text) || !Number.isSafeInteger(Number(text))) throw new SealtrailError('invalid_argument', `--row must be a row index (a non-negative integer), not ${JSON.stringify(text)}`);
  return Number(text);
}

export function register(program: Command, withContext: WithContext): void {
  program
    .command('runs')
    .description('recent pipeline runs with their status and the count of each terminal outcome')
    .option('--limit <n>', 'at most n runs', '20')
    .action(
      withContext<{ limit: string }>((ctx, { opts }) =>
        withRecorder(ctx, undefined, async (recorder): Promise<ExitStatus> => {
          const limit = Number(opts.limit);
          if (!Number.isSafeInteger(limit) || limit < 1 || limit > 500) throw new SealtrailError('invalid_limit', 'limit must be an integer from 1 to 500', { details: { limit: opts.limit, max: 500 } });
          // A run whose lease expired is marked abandoned first (an audited transition), never left running.
          const abandoned = await abandonExpiredRuns(recorder);
          const runs: Array<Record<string, unknown> & { rows: number; outcomes: Record<string, number> }> = [];
          for (const run of await recorder.listRuns(limit)) {
            const audit = await recorder.runAudit(run.run_id as string);
            runs.push({ ...run, rows: audit.records.pipeline_rows.length, outcomes: outcomeCounts(audit.records.pipeline_token_outcomes) });
          }
          ctx.out.result(
            () =>
              runs.length === 0
                ? 'no pipeline runs'
                : runs
                    .map((r) => {
                      const counts = Object.entries(r.outcomes).filter(([, n]) => n > 0).map(([o, n]) => `${o} ${n}`).join(', ');
                      return `${String(r.run_id)}  ${String(r.status)}  started ${String(r.started_at)}  ${r.rows} rows${counts ? `  (${counts})` : ''}`;
                    })
                    .join('\n'),
            { runs, abandoned },
          );
          return 0;
        }),
      ),
    );

  program
    .command('sweep')
    .description("check a run's audit for every defect the model rules out (missing or duplicate terminal outcomes, open states, broken parent links…); exit 1 on findings")
    .requiredOption('--run <id>', 'the run id, or latest')
    .action(
      withContext<{ run: string }>((ctx, { opts }) =>
        withRecorder(ctx, undefined, async (recorder, ledger): Promise<ExitStatus> => {
          await abandonExpiredRuns(recorder);
          const report = await sweepRun(ledger.store, await resolveRun(recorder, opts.run));
          ctx.out.result(
            () =>
              [
                `run ${report.run_id} (${report.run_status})`,
                ...report.queries.filter((q) => q.ids.length > 0).map((q) => `${q.query}: ${q.ids.join(', ')}`),
                report.ok ? `sweep: ok (${report.queries.length} queries empty)` : `sweep: ${report.queries.filter((q) => q.ids.length > 0).length} of ${report.queries.length} queries found defects`,
              ].join('\n'),
            report,
          );
          return report.ok ? 0 : 1;
        }),
      ),
    );

  program
    .command('explain')
    .description("a row's or token's complete lineage: source row and data, every node state, routing, calls, errors, parent tokens, the terminal outcome")
    .requiredOption('--run <id>', 'the run id, or latest')
    .option('--row <index>', 'the source row index')
    .option('--token <id>', 'a token id')
    .option('--sink <name>', 'with --row: the sink whose token to explain, when the row reached several')
    .option('--payloads <dir>', 'the payload store directory, to show the row data')
    .option('--prove', 'print a tlog-proof (check-proof can check it offline) for every record of the lineage, under the latest recorded checkpoint')
    .action(
      withContext<{ run: string; row?: string; token?: string; sink?: string; payloads?: string; prove?: boolean }>((ctx, { opts }) =>
        withRecorder(ctx, opts.payloads, async (recorder, ledger): Promise<ExitStatus> => {
          if ((opts.row === undefined) === (opts.token === undefined)) throw new SealtrailError('invalid_argument', 'give exactly one of --row and --token');
          const lineage = await explain(recorder, await resolveRun(recorder, opts.run), {
            ...(opts.row !== undefined ? { rowIndex: parseIndex(opts.row) } : {}),
            ...(opts.token !== undefined ? { tokenId: opts.token } : {}),
            ...(opts.sink !== undefined ? { sink: opts.sink } : {}),
          });
          if (opts.prove === true) {
            const entries = await lineageEntries(recorder, lineage);
            const last = Math.max(...entries.map((e) => e.seq));
            // Read-only: the proofs hang off a checkpoint already signed and recorded, never a new one.
            const checkpoint = (await ledger.checkpoints()).filter((c) => c.size >= last).pop();
            if (!checkpoint) throw new SealtrailError('invalid_argument', `no recorded checkpoint covers seq ${last}, the lineage's latest entry; sign one with \`sealtrail checkpoint\``, { details: { seq: last } });
            const proofs: Array<{ table: string; pk: string; seq: number; proof: string }> = [];
            for (const e of entries) {
              const proof = await ledger.proveInclusion(e.seq, checkpoint.size);
              proofs.push({ ...e, proof: formatProofBundle((await ledger.entry(e.seq))!, proof, checkpoint.note) });
            }
            ctx.out.result(() => proofs.map((p) => `# ${p.table} ${p.pk} (seq ${p.seq})\n${p.proof}`).join('\n'), { ...lineage, size: checkpoint.size, proofs });
            return 0;
          }
          ctx.out.result(() => renderLineage(lineage), lineage);
          return 0;
        }),
      ),
    );

  program
    .command('export')
    .description("a run's complete audit as JSON Lines (one record per line with its ledger seq), or as OpenLineage 2-0-2 run events")
    .requiredOption('--run <id>', 'the run id, or latest')
    .option('--format <format>', 'jsonl or openlineage', 'jsonl')
    .option('--out <file>', 'write to this file instead of stdout')
    .option('--post <url>', 'openlineage: POST each event to this endpoint (e.g. Marquez /api/v1/lineage)')
    .option('--namespace <ns>', 'openlineage: the job and dataset namespace', 'sealtrail')
    .action(
      withContext<{ run: string; format: string; out?: string; post?: string; namespace: string }>((ctx, { opts }) =>
        withRecorder(ctx, undefined, async (recorder): Promise<ExitStatus> => {
          if (opts.format !== 'jsonl' && opts.format !== 'openlineage') throw new SealtrailError('invalid_argument', `--format must be jsonl or openlineage, not ${JSON.stringify(opts.format)}`);
          if (opts.post !== undefined && opts.format !== 'openlineage') throw new SealtrailError('invalid_argument', '--post needs --format openlineage');
          const runId = await resolveRun(recorder, opts.run);
          const lines = opts.format === 'jsonl' ? await exportRunJsonl(recorder, runId) : (await openLineageEvents(recorder, runId, opts.namespace)).map((e) => JSON.stringify(e));
          if (opts.post !== undefined) {
            await postOpenLineage(opts.post, lines.map((l) => JSON.parse(l) as Record<string, unknown>));
            ctx.out.note(`posted ${lines.length} OpenLineage event(s)`);
          } else if (opts.out !== undefined) {
            writeFileSync(opts.out, lines.map((l) => `${l}\n`).join(''));
            ctx.out.note(`wrote ${lines.length} line(s) to ${opts.out}`);
          } else {
            // Already one JSON document per line, with or without --json.
            ctx.out.results(lines.map((l) => [l, JSON.parse(l) as unknown] as const));
          }
          return 0;
        }),
      ),
    );
}

function renderLineage(l: Lineage): string {
  const out: string[] = [];
  out.push(`run ${l.run_id}, token ${l.token_id}`);
  out.push(`row ${String(l.row.row_index)} (${String(l.row.row_id)}): data ${l.row.data_status === 'available' ? JSON.stringify(l.row.data) : `unavailable (${l.row.data_status})`}, hash ${String(l.row.source_data_hash)}`);
  for (const e of l.validation_errors) out.push(`  validation error: ${String(e.error)} → ${String(e.destination)}`);
  for (const t of l.ancestry) {
    out.push(`token ${String(t.token.token_id)}${t.token.branch_name ? ` [branch ${String(t.token.branch_name)}]` : ''}${t.parents.length ? ` ← parents ${t.parents.join(', ')}` : ''}`);
    for (const s of t.states) {
      out.push(`  step ${String(s.step_index)} ${String(s.node_id)} attempt ${String(s.attempt)}: ${String(s.status)} in ${String(s.input_hash).slice(0, 12)} out ${s.output_hash ? String(s.output_hash).slice(0, 12) : '-'}`);
      for (const r of s.routing) out.push(`    routed via edge ${String(r.edge_id)} (${String(r.mode)})`);
      for (const c of s.calls) out.push(`    call ${String(c.call_index)} ${String(c.call_type)}: ${String(c.status)}`);
    }
    for (const e of t.transform_errors) out.push(`  transform error in ${String(e.transform_id)} → ${String(e.destination)}`);
    for (const o of t.outcomes) out.push(`  outcome ${String(o.outcome)}${o.sink_name ? ` at ${String(o.sink_name)}` : ''}${o.error_hash ? ` (error ${String(o.error_hash)})` : ''}`);
  }
  out.push(l.outcome ? `final: ${String(l.outcome.outcome)}${l.outcome.sink_name ? ` at ${String(l.outcome.sink_name)}` : ''}` : 'final: no terminal outcome');
  return out.join('\n');
}
