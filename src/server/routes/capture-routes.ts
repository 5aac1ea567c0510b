/** PostgreSQL capture over HTTP: which tables are watched, and an admin-run scan. */
import { Type } from 'typebox';
import { listWatched, scanCapture } from '../../capture/capture.js';
import { SealtrailError } from '../../core/errors.js';
import { taskScanTargets } from '../../tasks/scan-targets.js';
import { Report, responses, secured } from '../schemas.js';
import type { ServerContext, TypedApp } from '../server-context.js';

const tags = ['capture'];

export function registerCaptureRoutes(app: TypedApp, ctx: ServerContext): void {
  const requirePostgres = () => {
    if (ctx.ledger.store.dialect !== 'postgres') {
      throw new SealtrailError('unsupported_backend', 'capture needs a PostgreSQL ledger; this server runs on SQLite', { details: { dialect: ctx.ledger.store.dialect } });
    }
  };

  app.get(
    '/api/capture/tables',
    {
      config: { role: 'reader' },
      schema: {
        tags,
        summary: 'the watched tables (PostgreSQL only)',
        ...secured('reader'),
        response: responses({
          200: Type.Array(
            Type.Object({ table: Type.String(), kind: Type.String(), mode: Type.String(), pk_columns: Type.Array(Type.String()), updates: Type.Boolean(), deletes: Type.Boolean() }),
          ),
        }),
      },
    },
    async () => {
      requirePostgres();
      // A ledger where capture was never installed watches nothing.
      const installed = await ctx.ledger.store.query("SELECT version FROM sealtrail_migrations WHERE component = 'capture'");
      if (installed.length === 0) return [];
      return (await listWatched(ctx.ledger.store)).map((w) => ({ table: w.table, kind: w.kind, mode: w.mode, pk_columns: w.pkColumns, updates: w.updates, deletes: w.deletes }));
    },
  );

  app.post(
    '/api/scan',
    {
      config: { role: 'admin' },
      schema: {
        tags,
        summary: 'scan every watched row and the task tables against the chain in one snapshot (PostgreSQL only); 200 with ok false on findings',
        ...secured('admin'),
        response: responses({
          200: Type.Object(
            { ok: Type.Boolean(), tables: Type.Array(Report), findings: Type.Array(Report), ddlEvidence: Type.Array(Report), since: Type.Integer() },
            { additionalProperties: false },
          ),
        }),
      },
    },
    async () => {
      requirePostgres();
      return scanCapture(ctx.ledger.store, (q) => taskScanTargets(q));
    },
  );
}
