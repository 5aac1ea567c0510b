/** `sealtrail monitor`: the verify-and-alert loop (see src/anchor/monitor.ts). */
import type { Command } from 'commander';
import { loadSigners } from '../../anchor/keys.js';
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
}

export function register(program: Command, withContext: WithContext): void {
  program
    .command('monitor')
    .description('verify the ledger and its sinks every interval, checkpoint when due, alert on any break')
    .option('--interval <duration>', 'time between cycles and between checkpoints (default: config monitor.interval, 1h)')
    .option('--window <duration>', 'entries appended within this window are re-verified every cycle (default 24h)')
    .option('--once', 'run one cycle; exit 1 if a break was found')
    .option('--state <file>', 'trusted-state file, kept outside the database (default: config monitor.stateFile)')
    .option('--key-file <path...>', 'signing key file(s): issue checkpoints when due')
    .option('--sink <spec...>', 'sinks to verify and publish to (default: config sinks)')
    .option('--vkey <vkey...>', "trusted verifier keys for sink records (default: config vkeys, else the signing keys')")
    .option('--witness-vkey <vkey...>', 'cosigner key of a witness sink, <vkey> or <vkey>@<url> (default: config witnessVkeys)')
    .option('--webhook <url>', 'POST every new alert here as JSON (default: config monitor.webhook)')
    .option('--sink-max-age <duration>', 'warn when a sink has no checkpoint newer than this (default: config monitor.sinkMaxAge)')
    .action(
      withContext<MonitorOpts>(async (ctx, { opts }) => {
        const m = ctx.config.monitor;
        const keyFiles = opts.keyFile ?? (ctx.config.keyFile ? [ctx.config.keyFile] : []);
        const signers = keyFiles.length > 0 || process.env['SEALTRAIL_SIGNING_KEY'] ? loadSigners({ keyFiles, env: process.env }) : [];
        const sinkMaxAge = opts.sinkMaxAge ?? m.sinkMaxAge;
        const webhook = opts.webhook ?? m.webhook;
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
              sinks: opts.sink ?? ctx.config.sinks,
              vkeys: opts.vkey ?? ctx.config.vkeys,
              witnessKeys: ctx.config.witnessVkeys,
              signers,
              ...(webhook ? { webhook } : {}),
              ...(sinkMaxAge ? { sinkMaxAgeMs: parseDuration(sinkMaxAge) } : {}),
              once: opts.once === true,
              signal: controller.signal,
              onCycle: (report) => printCycle(ctx, report),
            });
            return opts.once && !last.ok ? 1 : 0;
          });
        } finally {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
        }
      }),
    );
}

function printCycle(ctx: CommandContext, r: CycleReport): void {
  const lines = [`${r.ok ? 'ok' : 'BREAK'}: verified seq ${r.verified.from}..${r.verified.to} (${r.verified.checked} entries)`];
  if (r.divergence) lines.push(`  ledger: ${r.divergence.reason} at seq ${r.divergence.seq}${r.divergence.kind ? ` (${r.divergence.kind}/${r.divergence.pk})` : ''}`);
  for (const f of r.sinks?.findings ?? []) lines.push(`  sink ${f.sink}: ${f.reason} at seq ${f.seq ?? '?'}: ${f.message}`);
  if (r.checkpoint) lines.push(`  checkpoint issued at size ${r.checkpoint.size}`);
  for (const p of r.publish?.results ?? []) if (p.status === 'failed' || p.status === 'conflict') lines.push(`  sink ${p.sink}: ${p.status}: ${p.error?.message ?? p.conflict?.message ?? ''}`);
  for (const a of r.alerts) lines.push(`  ALERT ${a.severity} ${a.kind}: ${a.reason} at seq ${a.seq ?? '?'}`);
  for (const e of r.webhookErrors) lines.push(`  webhook failed: ${e}`);
  ctx.out.result(lines.join('\n'), {
    ok: r.ok,
    verified: r.verified,
    divergence: r.divergence,
    sink_findings: r.sinks?.findings ?? [],
    checkpoint: r.checkpoint,
    publish: r.publish?.results ?? [],
    alerts: r.alerts,
    webhook_errors: r.webhookErrors,
  });
}
