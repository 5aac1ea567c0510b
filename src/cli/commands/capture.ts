/**
 * PostgreSQL capture commands: watch, unwatch, sequence, backfill, scan. Thin: parse, call
 * src/capture, print through ctx.out.
 */
import type { Command } from 'commander';
import { SealtrailError } from '../../core/errors.js';
import { backfill, drainOutbox, runSequencer, scanCapture, unwatchTable, watchTables, type CaptureMode } from '../../capture/capture.js';
import { openLedger, type Ledger } from '../../ledger/ledger.js';
import { pipelineScanTargets } from '../../pipeline/scan-targets.js';
import { taskScanTargets } from '../../tasks/scan-targets.js';
import type { CommandContext, ExitStatus, WithContext } from '../program.js';
import { createProgress } from '../progress.js';
import { printable } from '../output.js';

async function withLedger<T>(ctx: CommandContext, fn: (ledger: Ledger) => Promise<T>): Promise<T> {
  const ledger = await openLedger({ url: ctx.config.db, maxPayloadBytes: ctx.config.maxPayloadBytes, migrate: false });
  try {
    return await fn(ledger);
  } finally {
    await ledger.close();
  }
}

export function register(program: Command, withContext: WithContext): void {
  program
    .command('watch')
    .description('chain every row inserted into these PostgreSQL tables (triggers)')
    .argument('<table...>', 'tables to watch')
    .option('--mode <mode>', 'sync (chained in the writer\'s transaction), queued (outbox + sequencer) or wal (logical decoding + sequencer)', 'sync')
    .option('--pk <columns>', 'key columns, comma-separated (only for tables without a primary key)')
    .option('--updates', 'also chain every UPDATE of a row as a new version of it (<pk>#update@<seq>)')
    .option('--deletes', 'also chain every DELETE of a row as its final version (<pk>#delete@<seq>)')
    .option('--if-exists', 'watch the listed tables that exist and list the missing ones (exit 0), for one script across migration levels')
    .action(
      withContext<{ mode: string; pk?: string; updates?: boolean; deletes?: boolean; ifExists?: boolean }>(async (ctx, { args, opts }) => {
        if (opts.mode !== 'sync' && opts.mode !== 'queued' && opts.mode !== 'wal') throw new SealtrailError('invalid_argument', `--mode must be sync, queued or wal, not ${JSON.stringify(opts.mode)}`);
        const pk = opts.pk?.split(',').map((c) => c.trim()).filter((c) => c !== '');
        return withLedger(ctx, async (ledger): Promise<ExitStatus> => {
          const { watched, failed } = await watchTables(ledger.store, args, {
            mode: opts.mode as CaptureMode,
            pk,
            updates: opts.updates === true,
            deletes: opts.deletes === true,
          });
          // --if-exists: a table that does not exist (yet) is reported, not a failure.
          const missing = opts.ifExists ? failed.filter((f) => f.error.code === 'table_not_found').map((f) => f.table) : [];
          const errors = failed.filter((f) => !missing.includes(f.table));
          for (const f of errors) ctx.out.note(`sealtrail: ${printable(f.table)}: ${printable(f.error.message)} [${f.error.code}]`);
          ctx.out.result(
            () =>
              [
                ...watched.map((w) => {
                  const versions = [w.updates ? 'updates' : '', w.deletes ? 'deletes' : ''].filter((x) => x !== '').join(' and ');
                  return `watching ${printable(w.table)} (${w.mode}, key ${w.pkColumns.map((c) => printable(c)).join(', ')}, kind ${printable(w.kind)}${versions ? `, ${versions} as versions` : ''})`;
                }),
                ...missing.map((t) => `not watching ${printable(t)}: no such table`),
              ].join('\n'),
            { watched, ...(opts.ifExists ? { missing } : {}), failed: errors.map((f) => ({ table: f.table, error: f.error.toJSON() })) },
          );
          return errors.length > 0 ? 2 : 0;
        });
      }),
    );

  program
    .command('unwatch')
    .description('stop capturing a table (the trigger drop is itself chained)')
    .argument('<table>', 'table to stop watching')
    .action(
      withContext(async (ctx, { args }) =>
        withLedger(ctx, async (ledger): Promise<ExitStatus> => {
          const table = args[0]!;
          const was = await unwatchTable(ledger.store, table);
          ctx.out.result(was ? `no longer watching ${printable(table)}` : `${printable(table)} was not watched`, { table, unwatched: was });
          return 0;
        }),
      ),
    );

  program
    .command('sequence')
    .description('chain queued and wal capture events: run until stopped (one leader at a time), or --once to drain and exit')
    .option('--once', 'drain the outbox and the slot, and exit')
    .option('--batch <n>', 'events per transaction', '10000')
    .action(
      withContext<{ once?: boolean; batch: string }>(async (ctx, { opts }) => {
        const batchSize = Number(opts.batch);
        if (!Number.isSafeInteger(batchSize) || batchSize < 1) throw new SealtrailError('invalid_argument', '--batch must be a positive integer');
        return withLedger(ctx, async (ledger): Promise<ExitStatus> => {
          const progress = createProgress({ label: 'sequence' });
          if (opts.once) {
            const chained = await drainOutbox(ledger, { batchSize, onBatch: (n) => progress.tick(n) });
            progress.done();
            ctx.out.result(`chained ${chained} captured events (queued and wal)`, { chained });
            return 0;
          }
          const stop = new AbortController();
          const onSignal = () => stop.abort();
          process.once('SIGINT', onSignal);
          process.once('SIGTERM', onSignal);
          try {
            const chained = await runSequencer(ledger, {
              batchSize,
              signal: stop.signal,
              onBatch: (n) => progress.tick(n),
              onRole: (role) => ctx.out.note(role === 'leader' ? 'sequencer: leading' : 'sequencer: standby (another sequencer leads)'),
            });
            progress.done();
            ctx.out.result(`sequencer stopped after chaining ${chained} events`, { chained });
          } finally {
            process.off('SIGINT', onSignal);
            process.off('SIGTERM', onSignal);
          }
          return 0;
        });
      }),
    );

  program
    .command('backfill')
    .description('chain rows that existed before their table was watched (idempotent, resumable)')
    .argument('[table...]', 'watched tables (default: all)')
    .action(
      withContext(async (ctx, { args }) =>
        withLedger(ctx, async (ledger): Promise<ExitStatus> => {
          let progress: ReturnType<typeof createProgress> | null = null;
          let current = '';
          let lastDone = 0;
          const results = await backfill(ledger, args.length > 0 ? args : undefined, {
            onProgress: (table, done, total) => {
              if (table !== current) {
                progress?.done();
                current = table;
                progress = createProgress({ label: `backfill ${printable(table)}`, total });
                progress.tick(done);
              } else {
                progress?.tick(done - lastDone);
              }
              lastDone = done;
            },
          });
          (progress as ReturnType<typeof createProgress> | null)?.done();
          ctx.out.result(() => results.map((r) => `${printable(r.table)}: ${r.chained} chained, ${r.rows - r.chained} already chained`).join('\n'), { tables: results });
          return 0;
        }),
      ),
    );

  program
    .command('scan')
    .description(
      'check every watched row against the chain (edited, deleted, unchained rows), capture itself against the chained watches (capture_disabled), and list DDL evidence; exit 1 on findings or unexplained evidence',
    )
    .option('--since <seq>', 'report DDL evidence chained after this seq only (your last reviewed, trusted state); default: all')
    .action(
      withContext<{ since?: string }>(async (ctx, { opts }) => {
        const since = opts.since === undefined ? 0 : /^[0-9]+$/.test(opts.since) ? Number(opts.since) : NaN;
        if (!Number.isSafeInteger(since)) throw new SealtrailError('invalid_argument', `--since must be a seq (a non-negative integer), not ${JSON.stringify(opts.since)}`);
        return withLedger(ctx, async (ledger): Promise<ExitStatus> => {
          let progress: ReturnType<typeof createProgress> | null = null;
          let current = '';
          let last = 0;
          const report = await scanCapture(ledger.store, (q) => [...taskScanTargets(q), ...pipelineScanTargets(q)], {
            since,
            onProgress: (kind, rows) => {
              if (kind !== current) {
                progress?.done();
                current = kind;
                last = 0;
                progress = createProgress({ label: `scan ${printable(kind)}` });
              }
              progress!.tick(rows - last);
              last = rows;
            },
          });
          (progress as ReturnType<typeof createProgress> | null)?.done();
          const unexplained = report.ddlEvidence.filter((e) => !e.by_sealtrail || e.weakens_capture);
          // Every name below comes from the database (table names, pks, roles, DDL text): escaped,
          // so a pk holding "\nscan: ok" or terminal escapes cannot forge or repaint a line.
          const show = (value: unknown) => printable(String(value));
          const describe = (p: Record<string, unknown>) =>
            [p.command_tag ?? p.operation, p.object_identity ?? p.table, p.role === undefined ? '' : `by ${show(p.role)}`]
              .filter((x) => x !== undefined && x !== '')
              .map(show)
              .join(' ');
          ctx.out.result(
            () =>
              [
                ...report.tables.map((t) => `${show(t.kind)}: ${t.rows} rows, ${t.chained} chained`),
                ...report.findings.map(
                  (f) => `${show(f.type)}: ${show(f.event_kind)} ${show(f.event_pk)}${f.reason === undefined ? '' : ` [${show(f.reason)}]`}${f.seq === null ? '' : ` (seq ${f.seq})`}`,
                ),
                ...unexplained.map((e) =>
                  e.weakens_capture
                    ? `capture weakened: seq ${e.seq} ${show(e.event_kind)} ${show(e.payload.kind)} (${show(e.payload.table)}) by ${show(e.payload.role)}`
                    : `ddl evidence: seq ${e.seq} ${show(e.event_kind)} ${describe(e.payload)}`,
                ),
                report.ddlEvidence.length > unexplained.length ? `ddl evidence: ${report.ddlEvidence.length - unexplained.length} event(s) from sealtrail's own operations (--json lists them)` : '',
                report.ok ? 'scan: ok' : `scan: ${report.findings.length} finding(s), ${unexplained.length} evidence event(s) to review (acknowledge with --since)`,
              ]
                .filter((line) => line !== '')
                .join('\n'),
            report,
          );
          return report.ok ? 0 : 1;
        });
      }),
    );
}
