/**
 * `file:<path>`: the hash-linked JSON Lines log on another path or filesystem. Appends and reads
 * hold `<path>.lock` (see platform/file-lock.ts), so concurrent publishers take turns and a reader
 * never sees a line half-written by another process.
 */
import { readFile } from 'node:fs/promises';
import { isSealtrailError } from '../../core/errors.js';
import { withFileLock } from '../../platform/file-lock.js';
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
    await withFileLock(this.path, async () => appendRecord(this.path, record), { what: `the file sink ${this.path}` });
    return { status: 'published' };
  }

  async read(): Promise<SinkContents> {
    let text: string;
    try {
      text = await this.readLocked();
    } catch (err) {
      if (isSealtrailError(err)) return { records: [], readable: true, problems: [{ seq: null, reason: 'sink_unreadable', message: err.message }] };
      const code = (err as NodeJS.ErrnoException).code ?? 'error';
      // verifyAgainstSinks decides whether a missing file is expected (nothing published yet) or a finding.
      if (code === 'ENOENT') return { records: [], problems: [], readable: true, absent: true };
      return { records: [], readable: false, problems: [{ seq: null, reason: 'sink_unreadable', message: `cannot read ${this.path} (${code})` }] };
    }
    return parseLog(text);
  }

  /** The file's text, read under the lock; without it where the lock cannot be made (a read-only copy for an auditor). */
  private async readLocked(): Promise<string> {
    try {
      return await withFileLock(this.path, () => readFile(this.path, 'utf8'), { what: `the file sink ${this.path}` });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EACCES' || code === 'EROFS' || code === 'EPERM') return readFile(this.path, 'utf8');
      throw err;
    }
  }
}
