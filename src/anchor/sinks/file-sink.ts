/** `file:<path>`: the hash-linked JSON Lines log on another path or filesystem. */
import { readFile } from 'node:fs/promises';
import { appendRecord, parseLog } from './jsonl-log.js';
import type { PublishOutcome, PublishRecord, Sink, SinkContents } from './sink.js';

export class FileSink implements Sink {
  readonly kind = 'file' as const;
  readonly latestOnly = false;

  constructor(
    readonly spec: string,
    readonly path: string,
  ) {}

  async publish(record: PublishRecord): Promise<PublishOutcome> {
    appendRecord(this.path, record);
    return { status: 'published' };
  }

  async read(): Promise<SinkContents> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'error';
      // verifyAgainstSinks decides whether a missing file is expected (nothing published yet) or a finding.
      if (code === 'ENOENT') return { records: [], problems: [], readable: true, absent: true };
      return { records: [], readable: false, problems: [{ seq: null, reason: 'sink_unreadable', message: `cannot read ${this.path} (${code})` }] };
    }
    return parseLog(text);
  }
}
