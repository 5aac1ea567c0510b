/** `sealtrail serve`: the HTTP API, until SIGINT or SIGTERM (then in-flight requests finish). */
import type { Command } from 'commander';
import { SealtrailError } from '../../core/errors.js';
import { openLedger } from '../../ledger/ledger.js';
import { createServer } from '../../server/server.js';
import { parseDuration } from '../config.js';
import type { WithContext } from '../program.js';

function port(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535) throw new SealtrailError('invalid_argument', `--port must be a TCP port 0..65535, got ${JSON.stringify(value)}`);
  return n;
}

export function register(program: Command, withContext: WithContext): void {
  program
    .command('serve')
    .description('serve the HTTP API (ledger, task audit, capture, stream, metrics, OpenAPI at /openapi.json); see docs/api-http.md')
    .option('--host <host>', 'address to listen on (default: config server.host, else 127.0.0.1)')
    .option('--port <port>', 'TCP port (default: config server.port, else 7070)', port)
    .option('--payloads <dir>', 'the pipeline payload store (as `pipeline run --payloads` wrote it): lineage then shows row data and routing reasons (default: config server.payloads)')
    .action(
      withContext<{ host?: string; port?: number; payloads?: string }>(async (ctx, { opts }) => {
        const s = ctx.config.server;
        const ledger = await openLedger({ url: ctx.config.db, maxPayloadBytes: ctx.config.maxPayloadBytes, migrate: false });
        let server;
        try {
          server = await createServer({
            ledger,
            verifierKeys: ctx.config.vkeys,
            witnessKeys: ctx.config.witnessVkeys,
            ...(s.bodyLimit === undefined ? {} : { bodyLimit: s.bodyLimit }),
            ...(s.batchBodyLimit === undefined ? {} : { batchBodyLimit: s.batchBodyLimit }),
            ...(s.rateLimit === undefined ? {} : { rateLimitMax: s.rateLimit }),
            ...(s.rateLimitWindow === undefined ? {} : { rateLimitWindowMs: parseDuration(s.rateLimitWindow) }),
            ...(s.requestTimeout === undefined ? {} : { requestTimeoutMs: parseDuration(s.requestTimeout) }),
            ...(s.logLevel === undefined ? {} : { logLevel: s.logLevel }),
            publicLog: s.publicLog,
            ...((opts.payloads ?? s.payloads) === undefined ? {} : { payloads: (opts.payloads ?? s.payloads)! }),
          });
          const address = await server.app.listen({ host: opts.host ?? s.host, port: opts.port ?? s.port });
          ctx.out.note(`sealtrail serving ${address} (explorer at ${address}/, OpenAPI at ${address}/openapi.json)`);
        } catch (err) {
          await server?.close().catch(() => {});
          await ledger.close();
          throw err;
        }
        const running = server;
        await new Promise<void>((resolve) => {
          const stop = () => {
            process.off('SIGINT', stop);
            process.off('SIGTERM', stop);
            resolve();
          };
          process.on('SIGINT', stop);
          process.on('SIGTERM', stop);
        });
        ctx.out.note('sealtrail: shutting down, finishing in-flight requests');
        await running.close();
        await ledger.close();
        return 0;
      }),
    );
}
