/**
 * `witness:<url>`: a C2SP tlog-witness (c2sp.org/tlog-witness). add-checkpoint carries the
 * previous size the witness cosigned and a consistency proof from it; the witness answers with
 * cosignature lines (200), its current size (409, text/x.tlog.size) when our `old` is wrong, or
 * 422 when the proof does not verify.
 *
 * A witness is known by its cosigner verifier key(s) (`--witness-vkey`, see witnessVerifiersFor):
 * a 200 counts only when it carries a C2SP tlog-cosignature that verifies under one of them, so a
 * fake witness, or anything in the path of an http:// witness, can never pass for it. Without a
 * key nothing is sent and the sink fails.
 *
 * A 409 is an alarm only when the witness's size exceeds the ledger's current size (the ledger
 * was truncated or rolled back). A smaller size is retried as `old` with a consistency proof from
 * it; a larger size up to the ledger's size means another publisher of the same ledger got there
 * first, and publishing moves on to a checkpoint at least that large (`superseded`).
 *
 * Reading back uses sealtrail's witness extension `GET <url>/sealtrail/latest?origin=…` (the
 * spec leaves monitor retrieval to be designed); a witness without it is unreadable.
 */
import { encodeBase64 } from '../../core/base64.js';
import { CosignatureVerifier } from '../../core/cosignature.js';
import { SealtrailError } from '../../core/errors.js';
import { parseNote, parseSignatureLine } from '../../core/note.js';
import { parseCheckpoint } from '../../core/checkpoint.js';
import { redact } from '../../core/redact.js';
import { httpRequest, type RetryOptions } from '../retry.js';
import type { PublishContext, PublishOutcome, PublishRecord, Sink, SinkContents, ReadContext } from './sink.js';

export const TLOG_SIZE_CONTENT_TYPE = 'text/x.tlog.size';

/** Rounds of 409 answers followed before giving up (each a move by another publisher). */
const MAX_ROUNDS = 4;

export class WitnessSink implements Sink {
  readonly kind = 'witness' as const;
  readonly latestOnly = true;
  /** The cosigner keys this witness is known by; empty when none was configured for it. */
  readonly verifiers: readonly CosignatureVerifier[];
  private readonly base: string;

  constructor(
    readonly spec: string,
    url: string,
    private readonly options: RetryOptions = {},
    witnessKeys: readonly string[] = [],
  ) {
    this.base = url.replace(/\/+$/, '');
    this.verifiers = witnessVerifiersFor(url, witnessKeys);
  }

  async publish(record: PublishRecord, ctx: PublishContext): Promise<PublishOutcome> {
    if (this.verifiers.length === 0) throw missingKey(this.spec);
    const body = parseNote(record.note).text;
    let old = ctx.previousSize !== null && ctx.previousSize <= record.seq ? ctx.previousSize : 0;
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const proof = old > 0 && old < record.seq ? await ctx.proveConsistency(old, record.seq) : [];
      const request = `old ${old}\n${proof.map((h) => `${encodeBase64(h)}\n`).join('')}\n${record.note}`;
      const res = await httpRequest(`${this.base}/add-checkpoint`, { method: 'POST', body: request, headers: { 'content-type': 'text/plain; charset=utf-8' } }, this.options);
      if (res.status === 200) {
        const cosignatures = validCosignatures(body, res.text, this.verifiers);
        if (cosignatures.length === 0) {
          throw new SealtrailError('invalid_signature', `witness ${redact(this.base)} answered 200 without a valid cosignature by ${names(this.verifiers)}: it is not the witness it claims to be`, {
            details: { sink: redact(this.spec), size: record.seq },
          });
        }
        return { status: 'published', cosignatures };
      }
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
        const ledgerSize = await ctx.currentSize();
        if (size > ledgerSize) {
          return {
            status: 'conflict',
            reason: 'witness_rollback',
            witnessSize: size,
            message: `witness ${redact(this.base)} has cosigned size ${size}, larger than the ledger's ${ledgerSize}: the ledger was truncated or rolled back`,
          };
        }
        if (size === old) {
          // Our old was its size and it still refused: it holds a different root at this size.
          return {
            status: 'conflict',
            reason: 'witness_fork',
            witnessSize: size,
            message: `witness ${redact(this.base)} holds a different tree at size ${size}: the ledger was rewritten`,
          };
        }
        if (size > record.seq) return { status: 'superseded', witnessSize: size };
        old = size;
        continue;
      }
      throw this.failure(`answered ${res.status}${res.text.trim() ? `: ${res.text.trim().slice(0, 200)}` : ''}`);
    }
    throw this.failure(`answered 409 ${MAX_ROUNDS} times in a row`);
  }

  async read(ctx: ReadContext): Promise<SinkContents> {
    const contents: SinkContents = { records: [], problems: [], readable: true };
    for (const origin of ctx.origins) {
      let res: { status: number; text: string };
      try {
        res = await httpRequest(`${this.base}/sealtrail/latest?origin=${encodeURIComponent(origin)}`, { method: 'GET' }, { ...this.options });
      } catch (err) {
        contents.readable = false;
        contents.problems.push({ seq: null, reason: 'sink_unreadable', message: (err as Error).message });
        continue;
      }
      if (res.status === 404) continue;
      if (res.status !== 200) {
        contents.readable = false;
        contents.problems.push({ seq: null, reason: 'sink_unreadable', message: `witness ${redact(this.base)} answered ${res.status} when asked for its checkpoint of ${origin}` });
        continue;
      }
      try {
        const checkpoint = parseCheckpoint(parseNote(res.text).text);
        contents.records.push({ seq: checkpoint.size, chainHash: null, appendedAt: null, note: res.text, position: contents.records.length + 1 });
      } catch {
        contents.problems.push({ seq: null, reason: 'sink_unreadable', message: `witness ${redact(this.base)} returned an unreadable checkpoint for ${origin}` });
      }
    }
    return contents;
  }

  private failure(message: string): SealtrailError {
    return new SealtrailError('sink_failed', `witness ${redact(this.base)} ${message}`, { details: { sink: redact(this.spec) } });
  }
}

/**
 * The cosigner keys configured for the witness at `url`. A `--witness-vkey` value is either
 *
 *   <vkey>          bound by name: the key's name is the witness URL without its scheme and
 *                   trailing slash (C2SP: a witness name is a schema-less URL), e.g.
 *                   `witness.example/w1+…` for `witness:https://witness.example/w1`;
 *   <vkey>@<url>    bound to the witness sink with exactly that URL (trailing slashes ignored).
 *
 * Several keys may name one witness (a key rotation); a cosignature by any of them counts.
 */
export function witnessVerifiersFor(url: string, witnessKeys: readonly string[]): CosignatureVerifier[] {
  const target = normaliseUrl(url);
  const out: CosignatureVerifier[] = [];
  for (const entry of witnessKeys) {
    const { vkey, url: boundTo } = parseWitnessKey(entry);
    const name = vkey.slice(0, vkey.indexOf('+'));
    const matches = boundTo !== null ? normaliseUrl(boundTo) === target : name === schemaless(target);
    if (matches) out.push(CosignatureVerifier.fromKey(vkey));
  }
  return out;
}

/** Splits `<vkey>@<url>` (the first `@` followed by http:// or https://) from a bare `<vkey>`. */
export function parseWitnessKey(entry: string): { vkey: string; url: string | null } {
  const text = entry.trim();
  const at = text.search(/@https?:\/\//i);
  return at < 0 ? { vkey: text, url: null } : { vkey: text.slice(0, at), url: text.slice(at + 1) };
}

/** True when `noteText` is a well-formed note carrying a cosignature that verifies under one of `verifiers`. */
export function hasValidCosignature(noteText: string, verifiers: readonly CosignatureVerifier[]): boolean {
  let note;
  try {
    note = parseNote(noteText);
  } catch {
    return false;
  }
  const { text, signatures } = note;
  const message = Buffer.from(text, 'utf8');
  return signatures.some((sig) => verifiers.some((v) => v.name === sig.name && v.keyId === sig.keyId && v.verify(message, sig.signature)));
}

/** The lines of a 200 answer that are cosignatures of `body` by one of `verifiers`; anything else is dropped. */
export function validCosignatures(body: string, answer: string, verifiers: readonly CosignatureVerifier[]): string[] {
  const message = Buffer.from(body, 'utf8');
  const lines: string[] = [];
  for (const line of answer.split('\n')) {
    if (!line.startsWith('\u2014 ')) continue;
    let sig;
    try {
      sig = parseSignatureLine(line);
    } catch {
      continue;
    }
    if (verifiers.some((v) => v.name === sig.name && v.keyId === sig.keyId && v.verify(message, sig.signature))) lines.push(`${line}\n`);
  }
  return lines;
}

export function missingKey(spec: string): SealtrailError {
  return new SealtrailError(
    'key_unavailable',
    `no cosigner key configured for witness ${redact(spec)}: pass --witness-vkey <vkey>@<url> (or a key named after the URL); an unknown witness never counts as published`,
    { details: { sink: redact(spec) } },
  );
}

function names(verifiers: readonly CosignatureVerifier[]): string {
  return [...new Set(verifiers.map((v) => v.name))].join(', ');
}

function normaliseUrl(url: string): string {
  return url.trim().replace(/\/+$/, '');
}

function schemaless(url: string): string {
  return url.replace(/^https?:\/\//i, '').replace(/^[^@/]*@/, '');
}

function parseSize(text: string): number | undefined {
  const m = /^(0|[1-9][0-9]*)\n?$/.exec(text);
  const n = m ? Number(m[1]) : NaN;
  return Number.isSafeInteger(n) ? n : undefined;
}
