/** `sealtrail config`: shows the configuration every other command would run with, and why. */
import type { Command } from 'commander';
import { redact } from '../../core/redact.js';
import type { ConfigSource, ResolvedConfig } from '../config.js';
import type { WithContext } from '../program.js';

export function register(program: Command, withContext: WithContext): void {
  program
    .command('config')
    .description('print the resolved configuration and where each setting came from')
    .action(
      withContext(async (ctx) => {
        const shown = displayable(ctx.config);
        ctx.out.result(() => renderConfig(shown), shown);
        return 0;
      }),
    );
}

/** The configuration with the secret parts of URLs masked (core/redact.ts). It holds no key material: only the key file's path. */
function displayable(config: ResolvedConfig): ResolvedConfig {
  const monitor = { ...config.monitor };
  if (monitor.webhook !== undefined) monitor.webhook = redact(monitor.webhook);
  return {
    ...config,
    db: redact(config.db),
    sinks: config.sinks.map((spec) => {
      const colon = spec.indexOf(':');
      return `${spec.slice(0, colon + 1)}${redact(spec.slice(colon + 1))}`;
    }),
    witnessVkeys: config.witnessVkeys.map((entry) => {
      const at = entry.search(/@https?:\/\//i);
      return at < 0 ? entry : `${entry.slice(0, at + 1)}${redact(entry.slice(at + 1))}`;
    }),
    monitor,
  };
}

function renderConfig(config: ResolvedConfig): string {
  const from = (source: ConfigSource): string => (source === 'default' ? '(default)' : `(from ${source})`);
  const list = (items: string[], source: ConfigSource): string =>
    items.length === 0 ? `none  ${from(source)}` : [from(source), ...items.map((item) => `  ${item}`)].join('\n');
  const m = config.monitor;
  return [
    `config file      ${config.configFile ?? 'none'}`,
    `db               ${config.db}  ${from(config.sources.db)}`,
    `maxPayloadBytes  ${config.maxPayloadBytes}  ${from(config.sources.maxPayloadBytes)}`,
    `keyFile          ${config.keyFile ?? 'not set'}  ${from(config.sources.keyFile)}`,
    `sinks            ${list(config.sinks, config.sources.sinks)}`,
    `vkeys            ${list(config.vkeys, config.sources.vkeys)}`,
    `witnessVkeys     ${list(config.witnessVkeys, config.sources.witnessVkeys)}`,
    `readOnlyRole     ${config.readOnlyRole}  ${from(config.sources.readOnlyRole)}`,
    `monitor          ${from(config.sources.monitor)}`,
    `  interval       ${m.interval}`,
    `  window         ${m.window}`,
    `  stateFile      ${m.stateFile}`,
    `  webhook        ${m.webhook ?? 'not set'}`,
    `  sinkMaxAge     ${m.sinkMaxAge ?? 'not set'}`,
    `  sweep          ${m.sweep ?? 'not set (whole ledger every cycle)'}`,
    `  alertTable     ${m.alertTable ? m.alertTable.table : 'not set'}`,
    `server           ${from(config.sources.server)}`,
    `  listen         ${config.server.host}:${config.server.port}`,
    `  bodyLimit      ${config.server.bodyLimit ?? 'maxPayloadBytes + 64 KiB'}`,
    `  batchBodyLimit ${config.server.batchBodyLimit ?? '16 MiB'}`,
    `  rateLimit      ${config.server.rateLimit ?? 6000} per ${config.server.rateLimitWindow ?? '1m'}`,
    `  requestTimeout ${config.server.requestTimeout ?? '30s'}`,
    `  publicLog      ${config.server.publicLog}`,
    `  logLevel       ${config.server.logLevel ?? 'info'}`,
  ].join('\n');
}
