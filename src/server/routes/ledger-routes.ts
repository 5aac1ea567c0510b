/** The ledger over HTTP: append, head, entries, proofs, checkpoints, alerts, verify. */
import { Type } from 'typebox';
import { listAlerts } from '../../anchor/alerts.js';
import { checkpointCosignatures } from '../../anchor/publish.js';
import { encodeBase64 } from '../../core/base64.js';
import { parseJson } from '../../core/canonical-json.js';
import { SealtrailError } from '../../core/errors.js';
import { headToJson, type AppendResult, type LedgerEntry } from '../../ledger/ledger.js';
import type { EventInput } from '../../ledger/prepare-event.js';
import { formatProofBundle } from '../../ledger/proof-bundle.js';
import type { VerifyReport } from '../../ledger/verifier.js';
import { Appended, Base64, Entry, Head, Hex, Json, Report, Seq, responses, secured } from '../schemas.js';
import type { SqlValue } from '../../store/store.js';
import { toProblem } from '../problem.js';
import type { ServerContext, TypedApp } from '../server-context.js';

export function entryJson(e: LedgerEntry) {
  return {
    seq: e.seq,
    kind: e.kind,
    pk: e.pk,
    event_hash: e.eventHash.toString('hex'),
    prev_hash: e.prevHash.toString('hex'),
    chain_hash: e.chainHash.toString('hex'),
    leaf_hash: encodeBase64(e.leafHash),
    appended_at: e.appendedAt,
    // Stored as its canonical JSON text; null once redacted.
    payload: e.payload === null ? null : parseJson(e.payload),
  };
}

function appendedJson(e: AppendResult) {
  return { seq: e.seq, event_hash: e.eventHash.toString('hex'), chain_hash: e.chainHash.toString('hex') };
}

const VerifyReportSchema = Type.Object({
  ok: Type.Boolean(),
  checked: Type.Integer(),
  from: Type.Integer(),
  to: Type.Integer(),
  size: Type.Integer(),
  chain_hash: Hex,
  root: Type.Union([Base64, Type.Null()]),
  head_size: Type.Integer(),
  redacted: Type.Array(Type.Integer()),
  divergence: Type.Union([Report, Type.Null()]),
});

function verifyJson(r: VerifyReport) {
  return {
    ok: r.ok,
    checked: r.checked,
    from: r.from,
    to: r.to,
    size: r.size,
    chain_hash: r.chainHash.toString('hex'),
    root: r.root ? encodeBase64(r.root) : null,
    head_size: r.headSize,
    redacted: r.redacted,
    divergence: r.divergence,
  };
}

/** JSON Lines: one {kind, pk, payload} per non-blank line; a bad line names its number. */
export function parseEventLines(text: string): EventInput[] {
  const events: EventInput[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() === '') return;
    let value: unknown;
    try {
      value = parseJson(line);
    } catch (err) {
      const code = err instanceof SealtrailError ? err.code : 'invalid_json';
      throw new SealtrailError(code, `line ${i + 1}: ${(err as Error).message}`, { details: { line: i + 1 } });
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new SealtrailError('invalid_event', `line ${i + 1}: an event must be an object {kind, pk, payload}`, { details: { line: i + 1 } });
    }
    const o = value as Record<string, unknown>;
    events.push({ kind: o['kind'] as string, pk: o['pk'] as string, payload: o['payload'] });
  });
  if (events.length === 0) throw new SealtrailError('invalid_argument', 'the batch holds no events', { details: { argument: 'body' } });
  return events;
}

const tags = ['ledger'];

/**
 * An instant as the ledger stores it (ISO 8601 UTC with microseconds), so SQLite's text
 * comparison and PostgreSQL's timestamptz one agree.
 */
function storedInstant(value: string, field: string): string {
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new SealtrailError('invalid_argument', `querystring.${field} must be an ISO 8601 time`, { details: { argument: `querystring.${field}` } });
  return new Date(ms).toISOString().replace('Z', '000Z');
}

/**
 * The seqs of one page of a filtered listing. The (kind, pk) unique index serves kind and pk;
 * seq order is append order, so a time range is a seq range the scan stops at.
 */
async function filteredSeqs(
  ctx: ServerContext,
  headSize: number,
  q: { from?: number; limit: number; desc: boolean; kind?: string; pk?: string; since?: string; until?: string },
): Promise<number[]> {
  const where: string[] = [];
  const params: SqlValue[] = [];
  if (q.desc) {
    where.push('seq <= ?');
    params.push(Math.min(q.from ?? headSize, headSize));
  } else {
    where.push('seq >= ?');
    params.push(q.from ?? 1);
  }
  if (q.kind !== undefined) {
    where.push('event_kind = ?');
    params.push(q.kind);
  }
  if (q.pk !== undefined) {
    where.push('event_pk = ?');
    params.push(q.pk);
  }
  if (q.since !== undefined) {
    where.push('appended_at >= ?');
    params.push(storedInstant(q.since, 'since'));
  }
  if (q.until !== undefined) {
    where.push('appended_at < ?');
    params.push(storedInstant(q.until, 'until'));
  }
  params.push(q.limit);
  const rows = await ctx.ledger.store.query(`SELECT seq FROM audit_chain WHERE ${where.join(' AND ')} ORDER BY seq ${q.desc ? 'DESC' : 'ASC'} LIMIT ?`, params);
  return rows.map((r) => Number((r as { seq: number | string }).seq));
}
const BATCH_TYPES = ['application/x-ndjson', 'application/jsonl', 'application/jsonlines'];

export function registerLedgerRoutes(app: TypedApp, ctx: ServerContext): void {
  const { ledger } = ctx;

  app.post(
    '/api/events',
    {
      config: { role: 'writer' },
      schema: {
        tags,
        summary: 'append one event; the identical event again answers 200 with the same entry',
        ...secured('writer'),
        body: Type.Object({ kind: Type.String({ minLength: 1 }), pk: Type.String({ minLength: 1 }), payload: Json }, { additionalProperties: false, required: ['kind', 'pk', 'payload'] }),
        response: responses({ 200: Appended, 201: Appended }),
      },
    },
    async (request, reply) => {
      const entry = await ctx.appends.append(request.body.kind, request.body.pk, request.body.payload);
      if (!entry.existing) ctx.appended(1);
      return reply.code(entry.existing ? 200 : 201).send(appendedJson(entry));
    },
  );

  app.post(
    '/api/events/batch',
    {
      config: { role: 'writer' },
      bodyLimit: ctx.batchBodyLimit,
      schema: {
        tags,
        summary: 'append events from a JSON Lines body, all or nothing, in order',
        ...secured('writer'),
        body: { content: Object.fromEntries(BATCH_TYPES.map((t) => [t, { schema: Type.String() }])) },
        response: responses({
          200: Type.Object({ entries: Type.Array(Type.Object({ ...Appended.properties, existing: Type.Boolean() })) }),
          201: Type.Object({ entries: Type.Array(Type.Object({ ...Appended.properties, existing: Type.Boolean() })) }),
        }),
      },
    },
    async (request, reply) => {
      const entries = await ledger.appendBatch(parseEventLines(request.body as string));
      const created = entries.filter((e) => !e.existing).length;
      ctx.appended(created);
      return reply.code(created > 0 ? 201 : 200).send({ entries: entries.map((e) => ({ ...appendedJson(e), existing: e.existing })) });
    },
  );

  app.get(
    '/api/head',
    { config: { role: 'reader' }, schema: { tags, summary: 'the current size, chain hash and Merkle root', ...secured('reader'), response: responses({ 200: Head }) } },
    async () => headToJson(await ledger.head()),
  );

  app.get(
    '/api/entries',
    {
      config: { role: 'reader' },
      schema: {
        tags,
        summary:
          'entries from seq `from` on (oldest first, or with order=desc from `from` down), optionally only those of one kind, pk and time range; Link rel="next" when more follow',
        ...secured('reader'),
        querystring: Type.Object({
          from: Type.Optional(Seq),
          limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: '1..1000, default 100' })),
          order: Type.Optional(Type.Union([Type.Literal('asc'), Type.Literal('desc')], { description: 'asc (default) or desc; desc starts at `from` (default: the head)' })),
          kind: Type.Optional(Type.String({ minLength: 1, description: 'only entries of this kind' })),
          pk: Type.Optional(Type.String({ minLength: 1, description: 'only entries with this pk' })),
          since: Type.Optional(Type.String({ minLength: 1, description: 'only entries appended at or after this time (ISO 8601)' })),
          until: Type.Optional(Type.String({ minLength: 1, description: 'only entries appended before this time (ISO 8601)' })),
        }),
        response: responses({ 200: Type.Array(Entry) }),
      },
    },
    async (request, reply) => {
      const q = request.query;
      const limit = q.limit ?? 100;
      const desc = q.order === 'desc';
      const head = await ledger.head();
      const filtered = q.kind !== undefined || q.pk !== undefined || q.since !== undefined || q.until !== undefined;
      const out = [];
      let next: number | null = null;
      if (!filtered && !desc) {
        const from = q.from ?? 1;
        const to = Math.min(head.size, from + limit - 1);
        if (from <= to) for await (const e of ledger.entries(from, to)) out.push(entryJson(e));
        if (to < head.size) next = to + 1;
      } else if (!filtered) {
        // Newest first without a filter is one contiguous range, read as such and reversed.
        const to = Math.min(q.from ?? head.size, head.size);
        const from = Math.max(1, to - limit + 1);
        if (to >= 1) for await (const e of ledger.entries(from, to)) out.push(entryJson(e));
        out.reverse();
        if (from > 1) next = from - 1;
      } else {
        const seqs = await filteredSeqs(ctx, head.size, { ...q, limit, desc });
        for (const seq of seqs) {
          const e = await ledger.entry(seq);
          if (e) out.push(entryJson(e));
        }
        const last = seqs[seqs.length - 1];
        if (seqs.length === limit && last !== undefined) next = desc ? (last > 1 ? last - 1 : null) : last < head.size ? last + 1 : null;
      }
      if (next !== null) {
        const params = new URLSearchParams();
        params.set('from', String(next));
        params.set('limit', String(limit));
        for (const key of ['order', 'kind', 'pk', 'since', 'until'] as const) if (q[key] !== undefined) params.set(key, q[key]);
        void reply.header('link', `</api/entries?${params.toString()}>; rel="next"`);
      }
      return out;
    },
  );

  app.get(
    '/api/entries/:seq',
    {
      config: { role: 'reader' },
      schema: { tags, summary: 'one entry', ...secured('reader'), params: Type.Object({ seq: Seq }), response: responses({ 200: Entry }) },
    },
    async (request) => {
      const e = await ledger.entry(request.params.seq);
      if (!e) throw new SealtrailError('out_of_range', `no entry ${request.params.seq} in the ledger`, { details: { seq: request.params.seq } });
      return entryJson(e);
    },
  );

  const ProofJson = Type.Object({
    seq: Seq,
    index: Type.Integer({ minimum: 0 }),
    size: Type.Integer({ minimum: 1 }),
    leaf_hash: Base64,
    root: Base64,
    proof: Type.Array(Base64),
    checkpoint: Type.Union([Type.String(), Type.Null()]),
  });
  app.get(
    '/api/entries/:seq/proof',
    {
      config: { role: 'reader' },
      schema: {
        tags,
        summary:
          'the C2SP tlog-proof bundle of an entry under the latest signed checkpoint (or the one of `size`); with Accept: application/json, the inclusion proof as JSON (checkpoint null when none was signed at that size)',
        ...secured('reader'),
        params: Type.Object({ seq: Seq }),
        querystring: Type.Object({ size: Type.Optional(Seq) }),
        response: responses({
          200: {
            description: 'the proof',
            content: { 'text/plain': { schema: Type.String() }, 'application/json': { schema: ProofJson } },
          } as never,
        }),
      },
    },
    async (request, reply) => {
      const { seq } = request.params;
      const wantsJson = (request.headers.accept ?? '').includes('application/json');
      const checkpoints = await ledger.checkpoints();
      const requested = request.query.size;
      const signed = requested === undefined ? checkpoints[checkpoints.length - 1] : [...checkpoints].reverse().find((c) => c.size === requested);
      if (!wantsJson && !signed) {
        throw new SealtrailError('out_of_range', requested === undefined ? 'no signed checkpoint yet: run `sealtrail checkpoint`' : `no signed checkpoint of size ${requested}`, {
          details: { size: requested ?? null },
        });
      }
      const size = requested ?? signed?.size ?? (await ledger.head()).size;
      const proof = await ledger.proveInclusion(seq, size);
      if (wantsJson) {
        return reply.type('application/json').send({
          seq,
          index: proof.index,
          size: proof.size,
          leaf_hash: encodeBase64(proof.leafHash),
          root: encodeBase64(proof.root),
          proof: proof.proof.map(encodeBase64),
          checkpoint: signed && signed.size === size ? signed.note : null,
        });
      }
      const entry = await ledger.entry(seq);
      return reply.type('text/plain; charset=utf-8').send(formatProofBundle(entry!, proof, signed!.note));
    },
  );

  app.get(
    '/api/proofs/consistency',
    {
      config: { role: 'reader' },
      schema: {
        tags,
        summary: 'an RFC 9162 consistency proof between two tree sizes',
        ...secured('reader'),
        querystring: Type.Object({ old: Seq, new: Seq }, { required: ['old', 'new'] }),
        response: responses({ 200: Type.Object({ old_size: Seq, new_size: Seq, old_root: Base64, new_root: Base64, proof: Type.Array(Base64) }) }),
      },
    },
    async (request) => {
      const p = await ledger.proveConsistency(request.query.old, request.query.new);
      return { old_size: p.oldSize, new_size: p.newSize, old_root: encodeBase64(p.oldRoot), new_root: encodeBase64(p.newRoot), proof: p.proof.map(encodeBase64) };
    },
  );

  app.get(
    '/api/checkpoints',
    {
      config: { role: 'reader' },
      schema: {
        tags,
        summary: 'every checkpoint this ledger signed, oldest first, with the witness cosignatures collected',
        ...secured('reader'),
        response: responses({
          200: Type.Array(
            Type.Object({
              id: Type.Integer(),
              origin: Type.String(),
              size: Type.Integer(),
              root: Base64,
              chain_hash: Hex,
              note: Type.String(),
              created_at: Type.String(),
              cosignatures: Type.Array(Type.Object({ sink: Type.String(), line: Type.String() })),
            }),
          ),
        }),
      },
    },
    async () => {
      const out = [];
      for (const c of await ledger.checkpoints()) {
        out.push({
          id: c.id,
          origin: c.origin,
          size: c.size,
          root: encodeBase64(c.root),
          chain_hash: c.chainHash.toString('hex'),
          note: c.note,
          created_at: c.createdAt,
          cosignatures: await checkpointCosignatures(ledger, c.id),
        });
      }
      return out;
    },
  );

  app.get(
    '/api/alerts',
    {
      config: { role: 'reader' },
      schema: {
        tags,
        summary: 'alerts the monitor and publishing raised, oldest first',
        ...secured('reader'),
        response: responses({
          200: Type.Array(
            Type.Object({
              id: Type.Integer(),
              alert_key: Type.String(),
              kind: Type.String(),
              severity: Type.String(),
              seq: Type.Union([Type.Integer(), Type.Null()]),
              event_kind: Type.Union([Type.String(), Type.Null()]),
              event_pk: Type.Union([Type.String(), Type.Null()]),
              reason: Type.String(),
              details: Report,
              detected_at: Type.String(),
            }),
          ),
        }),
      },
    },
    async () =>
      (await listAlerts(ledger)).map((a) => ({
        id: a.id,
        alert_key: a.key,
        kind: a.kind,
        severity: a.severity,
        seq: a.seq,
        event_kind: a.eventKind,
        event_pk: a.eventPk,
        reason: a.reason,
        details: a.details,
        detected_at: a.detectedAt,
      })),
  );

  app.post(
    '/api/verify',
    {
      config: { role: 'admin' },
      schema: {
        tags,
        summary:
          'verify the whole ledger (chain, tree, head); 200 with ok false when it does not hold. With `Accept: text/event-stream`: Server-Sent Events `progress` ({checked, total}) then `report` (this body) or `error` (a problem)',
        ...secured('admin'),
        response: responses({
          200: {
            description: 'the report (application/json), or its progress then the report (text/event-stream)',
            content: { 'application/json': { schema: VerifyReportSchema }, 'text/event-stream': { schema: Type.String() } },
          } as never,
        }),
      },
    },
    async (request, reply) => {
      if (!/\btext\/event-stream\b/.test(request.headers.accept ?? '')) {
        const report = await ledger.verify();
        ctx.metrics.observeVerify(report.ok);
        return verifyJson(report);
      }
      // The streaming form, for progress bars: `progress` events ({checked, total}) as segments
      // complete, then one `report` event (the JSON form's body) or one `error` event (a problem).
      const raw = reply.raw;
      reply.hijack();
      raw.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
      const send = (event: string, data: unknown) => raw.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
      try {
        const head = await ledger.head();
        send('progress', { checked: 0, total: head.size });
        const report = await ledger.verify({ onProgress: (checked, total) => send('progress', { checked, total }) });
        ctx.metrics.observeVerify(report.ok);
        send('report', verifyJson(report));
      } catch (err) {
        request.log.error({ err }, 'streamed verify failed');
        send('error', toProblem(err));
      } finally {
        raw.end();
      }
      return reply;
    },
  );
}
