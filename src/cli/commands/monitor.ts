/** `sealtrail monitor`: the verify-and-alert loop (see src/anchor/monitor.ts). */
import { printable } from '../output.js';
import type { Command } from 'commander';
import { ALERT_FIELDS, validateAlertTable, type AlertTable } from '../../anchor/alerts.js';
import { loadSigners, signingKeyFromEnvironment } from '../../anchor/keys.js';
import { isSealtrailError, SealtrailError } from '../../core/errors.js';
import { runMonitor, type CycleReport } from '../../anchor/monitor.js';
import { parseDuration } from '../config.js';
import type { CommandContext, WithContext } from '../program.js';
import { withLedger } from './ledger.js';

interface MonitorOpts {
  interval?: string;
  window?: string;
  once?: boolean;
  state?: string;
  keyFile?: string[];
  sink?: string[];
  vkey?: string[];
  webhook?: string;
  sinkMaxAge?: string;
  sweep?: number;
  alertTable?: string;
  alertColumn?: string[];
  captureScan?: boolean;
}

export function register(program: Command, withContext: WithContext): void {
  program
    .command('monitor')
    .description('verify the ledger and its sinks every interval, checkpoint when due, alert on any break')
    .option('--interval <duration>', 'time between cycles and between checkpoints (default: config monitor.interval, 1h)')
    .option('--sweep <entries>', 'rolling sweep for very large ledgers: verify the tail plus this many old entries per cycle instead of the whole ledger (default: config monitor.sweep)', parseCount)
    .option('--window <duration>', 'with --sweep: entries appended within this window are re-verified every cycle too (default 24h)')
    .option('--once', 'run one cycle; exit 1 if a break was found')
    .option('--state <file>', 'trusted-state file, kept outside the database (default: config monitor.stateFile)')
    .option('--key-file <path...>', 'signing key file(s): issue checkpoints when due')
    .option('--sink <spec...>', 'sinks to verify and publish to (default: config sinks)')
    .option('--vkey <vkey...>', "trusted verifier keys for sink records (default: config vkeys, else the signing keys')")
    .option('--witness-vkey <vkey...>', 'cosigner key of a witness sink, <vkey> or <vkey>@<url> (default: config witnessVkeys)')
    .option('--webhook <url>', 'POST every new alert here as JSON (default: config monitor.webhook)')
    .option('--sink-max-age <duration>', 'warn when a sink has no checkpoint newer than this (default: config monitor.sinkMaxAge)')
    .option('--alert-table <table>', "also insert every alert into this existing table (default: config monitor.alertTable)")
    .option('--alert-column <field=column...>', `map an alert field onto a column of --alert-table (fields: ${ALERT_FIELDS.join(', ')})`)
    .option('--no-capture-scan', 'PostgreSQL: do not scan the watched tables each cycle')
    .action(
      withContext<MonitorOpts>(async (ctx, { opts }) => {
        const m = ctx.config.monitor;
        const keyFiles = opts.keyFile ?? (ctx.config.keyFile ? [ctx.config.keyFile] : []);
        const signers = keyFiles.length > 0 || signingKeyFromEnvironment() !== undefined ? loadSigners({ keyFiles, env: process.env }) : [];
        const sinkMaxAge = opts.sinkMaxAge ?? m.sinkMaxAge;
        const webhook = opts.webhook ?? m.webhook;
        const sweep = opts.sweep ?? m.sweep;
        const alertTable = resolveAlertTable(opts, m.alertTable);
        const controller = new AbortController();
        const stop = () => controller.abort();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        try {
          return await withLedger(ctx, async (ledger) => {
            const last = await runMonitor({
              ledger,
              stateFile: opts.state ?? m.stateFile,
              intervalMs: parseDuration(opts.interval ?? m.interval),
              windowMs: parseDuration(opts.window ?? m.window),
              ...(sweep !== undefined ? { sweep } : {}),
              ...(alertTable ? { alertTable } : {}),
              captureScan: opts.captureScan !== false,
              sinks: opts.sink ?? ctx.config.sinks,
              vkeys: opts.vkey ?? ctx.config.vkeys,
              witnessKeys: ctx.config.witnessVkeys,
              signers,
              ...(webhook ? { webhook } : {}),
              ...(sinkMaxAge ? { sinkMaxAgeMs: parseDuration(sinkMaxAge) } : {}),
              once: opts.once === true,
              signal: controller.signal,
              onCycle: (report) => printCycle(ctx, report),
              onError: (err) => ctx.out.note(`sealtrail monitor: cycle failed, retried next cycle: ${(err as Error).message}${isSealtrailError(err) ? ` [${err.code}]` : ''}`),
            });
            return opts.once && last && !last.ok ? 1 : 0;
          });
        } finally {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
        }
      }),
    );
}

function parseCount(raw: string): number {
  const n = /^\d+$/.test(raw.trim()) ? Number(raw.trim()) : NaN;
  if (!Number.isSafeInteger(n) || n <= 0) throw new SealtrailError('invalid_argument', `--sweep must be a positive number of entries, got ${JSON.stringify(raw)}`);
  return n;
}

/** --alert-table / --alert-column override the config's alertTable (columns given on the command line replace the config's). */
function resolveAlertTable(opts: MonitorOpts, configured: AlertTable | undefined): AlertTable | undefined {
  if (opts.alertColumn && !opts.alertTable && !configured) throw new SealtrailError('invalid_argument', '--alert-column needs --alert-table (or config monitor.alertTable)');
  if (!opts.alertTable && !opts.alertColumn) return configured;
  const table = opts.alertTable ?? configured!.table;
  let columns = opts.alertColumn ? undefined : configured?.columns;
  if (opts.alertColumn) {
    const mapped: Record<string, string> = {};
    for (const pair of opts.alertColumn) {
      const eq = pair.indexOf('=');
      if (eq <= 0) throw new SealtrailError('invalid_argument', `--alert-column takes field=column, got ${JSON.stringify(pair)}`);
      mapped[pair.slice(0, eq).trim()] = pair.slice(eq + 1).trim();
    }
    columns = mapped as AlertTable['columns'];
  }
  return validateAlertTable({ table, ...(columns ? { columns } : {}) });
}

function printCycle(ctx: CommandContext, r: CycleReport): void {
  const swept = r.swept ? `; swept old seq ${r.swept.from}..${r.swept.to}` : '';
  const lines = [`${r.ok ? 'ok' : 'BREAK'}: verified seq ${r.verified.from}..${r.verified.to} (${r.verified.checked} entries${r.mode === 'sweep' ? ' since the trusted state' : ''})${swept}`];
  // Kinds, pks and messages come from the database: escaped, so they cannot forge or repaint a line.
  for (const b of r.breaks) lines.push(`  ${printable(b.source)}: ${b.reason}${b.seq !== null ? ` at seq ${b.seq}` : ''}${b.eventKind ? ` (${printable(b.eventKind)}/${printable(b.eventPk)})` : ''}: ${printable(b.message)}`);
  for (const w of r.warnings) lines.push(`  warning: ${w}`);
  for (const u of r.sinks?.notCheckable ?? []) lines.push(`  not checkable: ${printable(u.sink)}: ${printable(u.reason)}`);
  if (r.checkpoint) lines.push(`  checkpoint issued at size ${r.checkpoint.size}`);
  for (const p of r.publish?.results ?? []) if (p.status === 'failed' || p.status === 'conflict') lines.push(`  sink ${p.sink}: ${p.status}: ${p.error?.message ?? p.conflict?.message ?? ''}`);
  for (const a of r.alerts) lines.push(`  ALERT ${a.severity} ${a.kind}: ${a.reason} at seq ${a.seq ?? '?'}`);
  for (const e of r.webhookErrors) lines.push(`  webhook failed: ${e}`);
  if (r.alertTableError) lines.push(`  alert table failed: ${r.alertTableError}`);
  ctx.out.result(lines.join('\n'), {
    ok: r.ok,
    verified: r.verified,
    mode: r.mode,
    swept: r.swept,
    divergence: r.divergence,
    breaks: r.breaks,
    warnings: r.warnings,
    capture_findings: r.capture?.findings ?? [],
    sink_findings: r.sinks?.findings ?? [],
    sinks_not_checkable: r.sinks?.notCheckable ?? [],
    checkpoint: r.checkpoint,
    publish: r.publish?.results ?? [],
    alerts: r.alerts,
    webhook_errors: r.webhookErrors,
    alert_table_error: r.alertTableError,
  });
}
