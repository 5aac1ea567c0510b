/**
 * A durable local spool for task events that could not reach the database: one JSON document
 * per line, each append fsynced before it returns (and the directory fsynced when the file is
 * created), so an event the caller was told is spooled survives a crash. Events carry their final
 * id and content, so replaying one that had in fact committed changes nothing.
 *
 * Several processes may share a spool (two runners of one task). Appends and drains hold
 * `<spool>.lock` across processes, and a drain keeps it from reading the spool until it has
 * removed what it wrote, so a line another process appends is never cut away by the drain.
 */
import { closeSync, fstatSync, ftruncateSync, fsyncSync, mkdirSync, openSync, readFileSync, readSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { canonicalize } from '../core/canonical-json.js';
import { SealtrailError, isSealtrailError } from '../core/errors.js';
import { withFileLock } from '../platform/file-lock.js';
import type { ArtifactRecord, AuditRecord } from './rows.js';

export type SpoolEntry = { table: 'task_audits'; record: AuditRecord } | { table: 'task_artifact_ref'; record: ArtifactRecord };

export class Spool {
  readonly path: string;

  constructor(path: string) {
    this.path = path;
  }

  /** Appends entries durably, in order. */
  async append(entries: readonly SpoolEntry[]): Promise<void> {
    if (entries.length === 0) return;
    try {
      mkdirSync(dirname(this.path), { recursive: true });
      await this.locked(async () => this.appendUnlocked(entries));
    } catch (err) {
      if (isSealtrailError(err)) throw err;
      throw new SealtrailError('spool_failed', `cannot write the task audit spool ${this.path}: ${(err as Error).message}`, {
        cause: err,
        details: { path: this.path },
      });
    }
  }

  /**
   * Writes every spooled entry with `write`, oldest first, then removes them, all under the lock.
   * When a write fails the unwritten remainder stays spooled and the error is rethrown. Returns how
   * many entries were written.
   */
  async drain(write: (entry: SpoolEntry) => Promise<unknown>): Promise<number> {
    if (!exists(this.path)) return 0;
    return this.locked(async () => {
      const pending = this.read();
      for (let i = 0; i < pending.length; i++) {
        try {
          await write(pending[i]!);
        } catch (err) {
          if (i > 0) this.replace(pending.slice(i));
          throw err;
        }
      }
      if (pending.length > 0 || exists(this.path)) this.replace([]);
      return pending.length;
    });
  }

  private locked<T>(fn: () => Promise<T>): Promise<T> {
    return withFileLock(this.path, fn, { what: `the task audit spool ${this.path}` });
  }

  private appendUnlocked(entries: readonly SpoolEntry[]): void {
    const created = !exists(this.path);
    const fd = openSync(this.path, 'a+');
    try {
      // A crash in the middle of an earlier append leaves a torn line that was never
      // acknowledged to its caller; cut it off so it cannot merge with this one.
      dropTornTail(fd);
      writeSync(fd, entries.map((e) => `${canonicalize({ v: 1, ...e })}\n`).join(''));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    if (created) fsyncDir(dirname(this.path));
  }

  /** The spooled entries, oldest first. A torn last line (crash mid-append) is ignored. */
  read(): SpoolEntry[] {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw new SealtrailError('spool_failed', `cannot read the task audit spool ${this.path}: ${(err as Error).message}`, { cause: err });
    }
    const lines = text.split('\n');
    const torn = lines.pop(); // '' when the file ends with a newline
    const entries: SpoolEntry[] = [];
    lines.forEach((line, i) => {
      if (line === '') return;
      entries.push(parseEntry(line, this.path, i + 1));
    });
    if (torn !== undefined && torn !== '') {
      try {
        entries.push(parseEntry(torn, this.path, lines.length + 1));
      } catch {
        // Never acknowledged to its caller: dropping it loses nothing that was promised.
      }
    }
    return entries;
  }

  /** Replaces the spool's contents atomically (write, fsync, rename); removes the file when empty. Only under the lock. */
  private replace(entries: readonly SpoolEntry[]): void {
    try {
      if (entries.length === 0) {
        if (exists(this.path)) {
          unlinkSync(this.path);
          fsyncDir(dirname(this.path));
        }
        return;
      }
      const temp = `${this.path}.tmp`;
      const fd = openSync(temp, 'w');
      try {
        writeSync(fd, entries.map((e) => `${canonicalize({ v: 1, ...e })}\n`).join(''));
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(temp, this.path);
      fsyncDir(dirname(this.path));
    } catch (err) {
      throw new SealtrailError('spool_failed', `cannot rewrite the task audit spool ${this.path}: ${(err as Error).message}`, {
        cause: err,
        details: { path: this.path },
      });
    }
  }
}

function parseEntry(line: string, path: string, lineNumber: number): SpoolEntry {
  let doc: unknown;
  try {
    doc = JSON.parse(line);
  } catch (err) {
    throw new SealtrailError('spool_failed', `the task audit spool ${path} is corrupt at line ${lineNumber}`, { cause: err, details: { path, line: lineNumber } });
  }
  const entry = doc as { v?: unknown; table?: unknown; record?: unknown };
  if (entry.v !== 1 || (entry.table !== 'task_audits' && entry.table !== 'task_artifact_ref') || typeof entry.record !== 'object' || entry.record === null) {
    throw new SealtrailError('spool_failed', `the task audit spool ${path} has an unknown entry at line ${lineNumber}`, { details: { path, line: lineNumber } });
  }
  return { table: entry.table, record: entry.record } as SpoolEntry;
}

function exists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}

function dropTornTail(fd: number): void {
  const { size } = fstatSync(fd);
  if (size === 0) return;
  const content = Buffer.alloc(size);
  readSync(fd, content, 0, size, 0);
  const keep = content.lastIndexOf(0x0a) + 1;
  if (keep < size) ftruncateSync(fd, keep);
}

function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Some platforms cannot fsync a directory; the file's own fsync still holds.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
