/**
 * GET /api/stream: Server-Sent Events of new ledger entries for live tails. Each event's id is
 * the entry's seq, so a client that reconnects with `Last-Event-ID` resumes exactly after the
 * last entry it saw; without it the stream starts at the head (or at `from`).
 */
import { Type } from 'typebox';
import { SealtrailError } from '../../core/errors.js';
import { Seq, responses, secured } from '../schemas.js';
import type { ServerContext, TypedApp } from '../server-context.js';
import { entryJson } from './ledger-routes.js';

const BATCH = 500;
const HEARTBEAT_MS = 15_000;

function parseLastEventId(value: string | string[] | undefined): number | undefined {
  if (value === undefined) return undefined;
  const text = Array.isArray(value) ? value[0] ?? '' : value;
  if (!/^\d{1,15}$/.test(text.trim())) {
    throw new SealtrailError('invalid_argument', 'Last-Event-ID must be the seq of the last entry received', { details: { argument: 'last-event-id' } });
  }
  return Number(text.trim());
}

export function registerStreamRoute(app: TypedApp, ctx: ServerContext): void {
  app.get(
    '/api/stream',
    {
      config: { role: 'reader', rateLimit: false },
      schema: {
        tags: ['ledger'],
        summary: 'Server-Sent Events (event: entry, id: seq, data: the entry) of entries appended from now on; resumes after Last-Event-ID',
        ...secured('reader'),
        querystring: Type.Object({ from: Type.Optional(Seq) }),
        response: responses({ 200: { description: 'text/event-stream', content: { 'text/event-stream': { schema: Type.String() } } } as never }),
      },
    },
    async (request, reply) => {
      const resume = parseLastEventId(request.headers['last-event-id']);
      let last = resume ?? (request.query.from === undefined ? (await ctx.ledger.head()).size : request.query.from - 1);
      const raw = reply.raw;
      reply.hijack();
      raw.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
      raw.write(': sealtrail entry stream\n\n');

      let open = true;
      let wake: (() => void) | null = null;
      const notify = () => {
        wake?.();
      };
      const stop = () => {
        open = false;
        notify();
      };
      request.raw.on('close', stop);
      ctx.events.on('append', notify);
      ctx.events.on('closing', stop);
      let lastWrite = Date.now();
      try {
        while (open && !ctx.closing.value) {
          const head = await ctx.ledger.head();
          while (open && last < head.size) {
            const to = Math.min(head.size, last + BATCH);
            for await (const e of ctx.ledger.entries(last + 1, to)) {
              raw.write(`id: ${e.seq}\nevent: entry\ndata: ${JSON.stringify(entryJson(e))}\n\n`);
              last = e.seq;
            }
            lastWrite = Date.now();
          }
          if (Date.now() - lastWrite >= HEARTBEAT_MS) {
            raw.write(': keep-alive\n\n');
            lastWrite = Date.now();
          }
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, ctx.streamPollMs);
            wake = () => {
              clearTimeout(timer);
              resolve();
            };
          });
          wake = null;
        }
      } catch (err) {
        request.log.error({ err }, 'entry stream failed');
      } finally {
        ctx.events.off('append', notify);
        ctx.events.off('closing', stop);
        request.raw.off('close', stop);
        raw.end();
      }
    },
  );
}
