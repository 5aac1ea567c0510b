/**
 * GET /api/sinks: each anchor sink's last acknowledged checkpoint, from `anchor_sinks`. A webhook
 * or witness spec may hold a token, so a sink is shown by its stored key (a hash for those kinds)
 * and redacted label only; its last error goes through redact() for the same reason.
 */
import { Type } from 'typebox';
import { redact } from '../../core/redact.js';
import { responses, secured } from '../schemas.js';
import type { ServerContext, TypedApp } from '../server-context.js';

const Sink = Type.Object(
  {
    sink: Type.String({ description: 'the stored key: the spec for file/git/tiles sinks, <kind>:sha256:<hex> for webhook and witness sinks' }),
    label: Type.String({ description: 'the spec with every URL secret redacted' }),
    last_checkpoint_id: Type.Union([Type.Integer(), Type.Null()]),
    last_size: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()], { description: 'the size of the last acknowledged checkpoint; null before the first' }),
    last_published_at: Type.Union([Type.String(), Type.Null()]),
    last_error: Type.Union([Type.String(), Type.Null()]),
  },
  { additionalProperties: false },
);

type SinkRow = {
  sink: string;
  label: string | null;
  last_checkpoint_id: number | string | null;
  size: number | string | null;
  last_published_at: string | Date | null;
  last_error: string | null;
};

export function registerSinkRoutes(app: TypedApp, ctx: ServerContext): void {
  app.get(
    '/api/sinks',
    {
      config: { role: 'reader' },
      schema: {
        tags: ['ledger'],
        summary: "every anchor sink with its last acknowledged checkpoint (labels only, never a URL secret); empty before 'sealtrail anchor' first ran",
        ...secured('reader'),
        response: responses({ 200: Type.Array(Sink) }),
      },
    },
    async () => {
      const store = ctx.ledger.store;
      const installed = await store.query('SELECT version FROM sealtrail_migrations WHERE component = ?', ['anchor']);
      if (installed.length === 0) return [];
      const rows = await store.query<SinkRow>(
        // Acknowledged means published: a row's starting point (set when the sink is first seen) is not an acknowledgement.
        `SELECT s.sink, s.label, s.last_checkpoint_id, c.size, s.last_published_at, s.last_error
           FROM anchor_sinks s LEFT JOIN checkpoints c ON c.id = s.last_checkpoint_id AND s.last_published_at IS NOT NULL
          ORDER BY s.sink`,
      );
      return rows.map((r) => ({
        sink: r.sink,
        label: redact(r.label ?? r.sink),
        last_checkpoint_id: r.last_published_at === null || r.last_checkpoint_id === null ? null : Number(r.last_checkpoint_id),
        last_size: r.size === null ? null : Number(r.size),
        last_published_at: r.last_published_at === null ? null : r.last_published_at instanceof Date ? r.last_published_at.toISOString() : String(r.last_published_at),
        last_error: r.last_error === null ? null : redact(r.last_error),
      }));
    },
  );
}
