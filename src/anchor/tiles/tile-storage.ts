/**
 * Where a tiles sink keeps its static files: a directory (`tiles:file:<dir>`) or an S3 bucket
 * prefix (`tiles:s3://bucket/prefix`, see s3-tile-storage.ts). Paths are C2SP tlog-tiles paths
 * (`checkpoint`, `tile/0/x001/234`, `tile/entries/000.p/7`); every write replaces the whole object
 * atomically, so a reader never sees half a tile.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { withFileLock } from '../../platform/file-lock.js';

/** How long an object may be cached: tiles never change, the checkpoint moves with every publish. */
export type Caching = 'immutable' | 'mutable';

export interface TileStorage {
  /** For messages: a path, or the redacted bucket URL. */
  readonly where: string;
  /** The object's bytes, or null when there is none. */
  get(path: string): Promise<Buffer | null>;
  put(path: string, bytes: Buffer, caching: Caching): Promise<void>;
  /** Runs `fn` so that two publishers to this storage take turns, where the storage allows it. */
  exclusive<T>(fn: () => Promise<T>): Promise<T>;
}

/** A directory tree; writes are temp file, fsync, rename, fsync of the directory. */
export class FileTileStorage implements TileStorage {
  constructor(readonly dir: string) {}

  get where(): string {
    return this.dir;
  }

  get(path: string): Promise<Buffer | null> {
    try {
      return Promise.resolve(readFileSync(join(this.dir, path)));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return Promise.resolve(null);
      return Promise.reject(err as Error);
    }
  }

  put(path: string, bytes: Buffer): Promise<void> {
    const target = join(this.dir, path);
    const dir = dirname(target);
    mkdirSync(dir, { recursive: true });
    const temp = `${target}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      const fd = openSync(temp, 'wx', 0o644);
      try {
        writeSync(fd, bytes);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(temp, target);
    } catch (err) {
      try {
        unlinkSync(temp);
      } catch {
        // Already renamed or never created.
      }
      throw err;
    }
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    return Promise.resolve();
  }

  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    mkdirSync(this.dir, { recursive: true });
    return withFileLock(join(this.dir, 'checkpoint'), fn, { what: `the tiles directory ${this.dir}` });
  }
}
