/** Operations: liveness, readiness, Prometheus metrics. */
import { Type } from 'typebox';
import { assertMigrated } from '../../store/migrate.js';
import { ledgerMigrations } from '../../ledger/ledger.js';
import type { Store } from '../../store/store.js';
import { toProblem } from '../problem.js';
import { responses, secured } from '../schemas.js';
import type { ServerContext, TypedApp } from '../server-context.js';

const tags = ['operations'];

async function installed(store: Store, component: string): Promise<boolean> {
  const rows = await store.query('SELECT version FROM sealtrail_migrations WHERE component = ?', [component]);
  return rows.length > 0;
}

export function registerOpsRoutes(app: TypedApp, ctx: ServerContext): void {
  app.get(
    '/healthz',
    {
      config: { role: 'open', rateLimit: false },
      schema: { tags, summary: 'the process is up (no database access)', ...secured('open'), response: responses({ 200: Type.Object({ status: Type.Literal('ok') }) }) },
    },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/readyz',
    {
      config: { role: 'open', rateLimit: false },
      schema: {
        tags,
        summary: 'the database answers and its ledger schema is the one this version expects; 503 problem otherwise',
        ...secured('open'),
        response: responses({ 200: Type.Object({ status: Type.Literal('ready'), size: Type.Integer() }) }),
      },
    },
    async (_request, reply) => {
      try {
        await assertMigrated(ctx.ledger.store, 'ledger', ledgerMigrations(ctx.ledger.store));
        const head = await ctx.ledger.head();
        return { status: 'ready' as const, size: head.size };
      } catch (err) {
        // Not ready is one status whatever the cause; the problem's code says which.
        reply.log.warn({ err }, 'not ready');
        return reply.code(503).type('application/problem+json').send({ ...toProblem(err), status: 503, title: 'Service Unavailable' });
      }
    },
  );

  app.get(
    '/metrics',
    {
      config: { role: 'reader' },
      schema: {
        tags,
        summary: 'Prometheus text exposition: requests by route and status, latency histograms, appends, verify results, open alerts, sequencer lag',
        ...secured('reader'),
        response: responses({ 200: { description: 'text/plain; version=0.0.4', content: { 'text/plain': { schema: Type.String() } } } as never }),
      },
    },
    async (_request, reply) => {
      const store = ctx.ledger.store;
      const head = await ctx.ledger.head();
      const openAlerts = (await installed(store, 'anchor')) ? Number((await store.query<{ n: number }>('SELECT COUNT(*) AS n FROM audit_alerts'))[0]?.n ?? 0) : 0;
      const lag =
        store.dialect === 'postgres' && (await installed(store, 'capture'))
          ? Number((await store.query<{ n: number }>('SELECT COUNT(*) AS n FROM capture_outbox'))[0]?.n ?? 0)
          : 0;
      return reply.type('text/plain; version=0.0.4; charset=utf-8').send(ctx.metrics.render({ ledgerSize: head.size, openAlerts, sequencerLag: lag }));
    },
  );
}
