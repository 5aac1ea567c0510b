/**
 * `witness:<url>`: a C2SP tlog-witness (c2sp.org/tlog-witness). add-checkpoint carries the
 * previous size the witness cosigned and a consistency proof from it; the witness answers with
 * cosignature lines (200), its current size (409, text/x.tlog.size) when our `old` is wrong, or
 * 422 when the proof does not verify. A witness that has cosigned a larger tree than the ledger
 * now has, or a tree our ledger cannot prove consistent, is a conflict: the ledger was truncated,
 * rolled back or rewritten.
 *
 * Reading back uses sealtrail's witness extension `GET <url>/sealtrail/latest?origin=…` (the
 * spec leaves monitor retrieval to be designed); other witnesses are reported as unreadable.
 */
import { decodeBase64, encodeBase64 } from '../../core/base64.js';
import { parseCheckpoint } from '../../core/checkpoint.js';
import { SealtrailError } from '../../core/errors.js';
import { parseNote } from '../../core/note.js';
import { redact } from '../../core/redact.js';
import { httpRequest, type RetryOptions } from '../retry.js';
import type { PublishContext, PublishOutcome, PublishRecord, Sink, SinkContents, ReadContext } from './sink.js';

export const TLOG_SIZE_CONTENT_TYPE = 'text/x.tlog.size';

export class WitnessSink implements Sink {
  readonly kind = 'witness' as const;
  readonly latestOnly = true;
  private readonly base: string;

  constructor(
    readonly spec: string,
    url: string,
    private readonly options: RetryOptions = {},
  ) {
    this.base = url.replace(/\/+$/, '');
  }

  async publish(record: PublishRecord, ctx: PublishContext): Promise<PublishOutcome> {
    let old = ctx.previousSize !== null && ctx.previousSize <= record.seq ? ctx.previousSize : 0;
    // At most two rounds: our guess, then the size the witness says it has.
    for (let round = 0; round < 2; round++) {
      const proof = old > 0 && old < record.seq ? await ctx.proveConsistency(old, record.seq) : [];
      const body = `old ${old}\n${proof.map((h) => `${encodeBase64(h)}\n`).join('')}\n${record.note}`;
      const res = await httpRequest(`${this.base}/add-checkpoint`, { method: 'POST', body, headers: { 'content-type': 'text/plain; charset=utf-8' } }, this.options);
      if (res.status === 200) return { status: 'published', cosignatures: cosignatureLines(res.text) };
      if (res.status === 422) {
        return {
          status: 'conflict',
          reason: 'witness_fork',
          witnessSize: old,
          message: `witness ${redact(this.base)} refused the consistency proof from size ${old} to ${record.seq}: the ledger is not an extension of the tree it cosigned`,
        };
      }
      if (res.status === 409) {
        const size = parseSize(res.text);
        if (size === undefined) throw this.failure(`answered 409 without a tree size`);
        if (size > record.seq) {
          return {
            status: 'conflict',
            reason: 'witness_rollback',
            witnessSize: size,
            message: `witness ${redact(this.base)} has cosigned size ${size}, larger than the ledger's ${record.seq}: the ledger was truncated or rolled back`,
          };
        }
        if (size === old) {
          // Same size twice: the witness holds a different root at this size.
          return {
            status: 'conflict',
            reason: 'witness_fork',
            witnessSize: size,
            message: `witness ${redact(this.base)} holds a different tree at size ${size}: the ledger was rewritten`,
          };
        }
        old = size;
        continue;
      }
      throw this.failure(`answered ${res.status}${res.text.trim() ? `: ${res.text.trim().slice(0, 200)}` : ''}`);
    }
    throw this.failure('kept answering 409 to the size it reported');
  }

  async read(ctx: ReadContext): Promise<SinkContents> {
    const contents: SinkContents = { records: [], problems: [], readable: true };
    for (const origin of ctx.origins) {
      let res: { status: number; text: string };
      try {
        res = await httpRequest(`${this.base}/sealtrail/latest?origin=${encodeURIComponent(origin)}`, { method: 'GET' }, { ...this.options });
      } catch (err) {
        contents.problems.push({ seq: null, reason: 'sink_unreadable', message: (err as Error).message });
        continue;
      }
      if (res.status === 404) continue;
      if (res.status !== 200) {
        contents.readable = false;
        continue;
      }
      try {
        const { text } = parseNote(res.text);
        const checkpoint = parseCheckpoint(text);
        contents.records.push({ seq: checkpoint.size, chainHash: null, appendedAt: null, note: res.text, position: contents.records.length + 1 });
      } catch {
        contents.problems.push({ seq: null, reason: 'sink_unreadable', message: `witness returned an unreadable checkpoint for ${origin}` });
      }
    }
    return contents;
  }

  private failure(message: string): SealtrailError {
    return new SealtrailError('sink_failed', `witness ${redact(this.base)} ${message}`, { details: { sink: redact(this.spec) } });
  }
}

function parseSize(text: string): number | undefined {
  const m = /^(0|[1-9][0-9]*)\n?$/.exec(text);
  const n = m ? Number(m[1]) : NaN;
  return Number.isSafeInteger(n) ? n : undefined;
}

/** The well-formed signature lines of a 200 response (unknown keys are kept; verifiers ignore them). */
function cosignatureLines(text: string): string[] {
  return text
    .split('\n')
    .filter((line) => line.startsWith('\u2014 '))
    .filter((line) => {
      const payload = decodeBase64(line.slice(line.lastIndexOf(' ') + 1));
      return payload !== undefined && payload.length >= 5;
    })
    .map((line) => `${line}\n`);
}
