/**
 * The content-addressed payload store: row data, call requests and responses, routing reasons and
 * operation inputs/outputs, kept outside the database as files named by the SHA-256 of their
 * canonical JSON. A write is atomic (temp file, fsync, rename, directory fsync), so a crash leaves
 * either the whole payload or none; every read re-hashes the content (a mismatch is
 * audit_integrity); keys are exactly 64 lowercase hex characters, so no key can leave the
 * directory. Purging a payload keeps its hash in the audit tables; lineage then says "purged".
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, unlinkSync, writeSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseJson } from '../core/canonical-json.js';
import { SealtrailError } from '../core/errors.js';
import { canonicalText, sha256Hex } from './stable-hash.js';

const KEY = /^[0-9a-f]{64}$/;

export type PayloadRead = { available: true; value: unknown } | { available: false; reason: 'purged' };

export class PayloadStore {
  readonly dir: string;

  constructor(dir: string) {
    if (typeof dir !== 'string' || dir.length === 0) throw new SealtrailError('invalid_argument', 'the payload store needs a directory');
    this.dir = dir;
  }

  /** Stores `value` (if not already there) and returns its key, the hash of its canonical JSON. */
  put(value: unknown): string {
    const text = canonicalText(value);
    const key = sha256Hex(text);
    const target = this.pathOf(key);
    if (existsSync(target)) return key;
    const shard = join(this.dir, key.slice(0, 2));
    const temp = join(shard, `.${key}.${randomBytes(6).toString('hex')}.tmp`);
    try {
      mkdirSync(shard, { recursive: true });
      const fd = openSync(temp, 'wx', 0o600);
      try {
        writeSync(fd, text);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(temp, target);
      syncDir(shard);
    } catch (err) {
      try {
        rmSync(temp, { force: true });
      } catch {
        // The cause below is what the caller needs; a temp file that cannot even be removed is harmless.
      }
      throw new SealtrailError('payload_store_failed', `cannot store payload ${key} in ${this.dir}: ${(err as Error).message}`, { cause: err, details: { key } });
    }
    return key;
  }

  /** Reads a payload, verifying its hash; a payload that is gone reads as purged. */
  get(key: string): PayloadRead {
    const path = this.pathOf(key);
    let bytes: Buffer;
    try {
      bytes = readFileSync(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { available: false, reason: 'purged' };
      throw new SealtrailError('payload_store_failed', `cannot read payload ${key}: ${(err as Error).message}`, { cause: err, details: { key } });
    }
    if (sha256Hex(bytes) !== key) {
      throw new SealtrailError('audit_integrity', `payload ${key} does not hash to its key: its content was changed`, { details: { table: 'payload_store', id: key, rule: 'payload_hash' } });
    }
    return { available: true, value: parseJson(bytes.toString('utf8')) };
  }

  has(key: string): boolean {
    return existsSync(this.pathOf(key));
  }

  /** Deletes one payload; true when it existed. */
  delete(key: string): boolean {
    const path = this.pathOf(key);
    try {
      unlinkSync(path);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw new SealtrailError('payload_store_failed', `cannot delete payload ${key}: ${(err as Error).message}`, { cause: err, details: { key } });
    }
  }

  private pathOf(key: string): string {
    if (typeof key !== 'string' || !KEY.test(key)) {
      throw new SealtrailError('invalid_argument', 'a payload key is 64 lowercase hex characters (a SHA-256)', { details: { argument: 'key' } });
    }
    return join(this.dir, key.slice(0, 2), key);
  }
}

/** A rename is durable only once the directory entry is: fsync the directory (POSIX). */
function syncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
