/**
 * `webhook:<url>`: POSTs each checkpoint as JSON; a 2xx answer means the receiver has it.
 * Reading back: a receiver MAY answer a GET on the same URL with the records it received (a JSON
 * array, or JSON Lines), which verification then checks like any log. A webhook is write-only by
 * design, though: one that does not answer the GET with 200 (no such endpoint, down, refusing) is
 * listed as not checkable, never a finding. What it returns when it does answer is checked.
 */
import { SealtrailError } from '../../core/errors.js';
import { redact } from '../../core/redact.js';
import { httpRequest, type RetryOptions } from '../retry.js';
import type { PublishOutcome, PublishRecord, Sink, SinkContents, SinkRecord } from './sink.js';

export interface WebhookCheckpoint {
  seq: number;
  origin: string;
  chain_hash: string;
  root: string;
  appended_at: string;
  note: string;
}

export class WebhookSink implements Sink {
  readonly kind = 'webhook' as const;
  readonly latestOnly = false;

  constructor(
    readonly spec: string,
    readonly url: string,
    private readonly options: RetryOptions = {},
  ) {}

  async publish(record: PublishRecord): Promise<PublishOutcome> {
    const body: WebhookCheckpoint = {
      seq: record.seq,
      origin: record.origin,
      chain_hash: record.chainHash.toString('hex'),
      root: record.root.toString('base64'),
      appended_at: new Date().toISOString(),
      note: record.note,
    };
    const res = await httpRequest(this.url, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }, this.options);
    if (res.status < 200 || res.status > 299) {
      throw new SealtrailError('sink_failed', `webhook ${redact(this.url)} answered ${res.status}`, { details: { sink: redact(this.spec), status: res.status } });
    }
    return { status: 'published' };
  }

  async read(): Promise<SinkContents> {
    let res: { status: number; text: string };
    try {
      res = await httpRequest(this.url, { method: 'GET', headers: { accept: 'application/json' } }, this.options);
    } catch (err) {
      return { records: [], readable: false, problems: [], uncheckable: `a write-only webhook: the GET to read it back failed (${redact((err as Error).message)})` };
    }
    if (res.status !== 200) {
      return { records: [], readable: false, problems: [], uncheckable: `a write-only webhook: it answered ${res.status} to the GET that would read it back` };
    }
    const contents: SinkContents = { records: [], problems: [], readable: true };
    const trimmed = res.text.trim();
    let items: unknown[];
    try {
      items = trimmed.startsWith('[') ? (JSON.parse(trimmed) as unknown[]) : trimmed === '' ? [] : trimmed.split('\n').map((l) => JSON.parse(l) as unknown);
    } catch {
      return { records: [], readable: true, problems: [{ seq: null, reason: 'sink_edited', message: `webhook ${redact(this.url)} returned records that are not JSON` }] };
    }
    items.forEach((item, i) => {
      const v = item as Partial<WebhookCheckpoint> | null;
      if (!v || !Number.isSafeInteger(v.seq) || typeof v.note !== 'string') {
        contents.problems.push({ seq: null, reason: 'sink_edited', message: `record ${i + 1} is not a checkpoint record` });
        return;
      }
      const record: SinkRecord = {
        seq: v.seq!,
        chainHash: typeof v.chain_hash === 'string' ? v.chain_hash : null,
        appendedAt: typeof v.appended_at === 'string' ? v.appended_at : null,
        note: v.note,
        position: i + 1,
      };
      contents.records.push(record);
    });
    return contents;
  }
}
