/**
 * Exclusive locks across processes for the files sealtrail appends to (file and git sinks, the
 * task spool), so that a monitor and a cron job publishing at once, or two task runners sharing a
 * spool, take turns instead of interleaving a read-check-write. proper-lockfile makes the lock an
 * atomic mkdir of `<file>.lock` (safe on network filesystems) and keeps its mtime fresh while it is
 * held; a holder that died (kill -9, power loss) stops refreshing it, and the lock is taken over
 * once it is older than STALE_LOCK_MS.
 */
import lockfile from 'proper-lockfile';
import { SealtrailError } from '../core/errors.js';

/** A lock not refreshed for this long belongs to a dead process. */
export const STALE_LOCK_MS = 10_000;
/** How long a writer waits for another to finish by default. */
export const LOCK_WAIT_MS = 60_000;
const POLL_MS = 50;

export interface FileLockOptions {
  /** The lock's own path (default `<target>.lock`). */
  lockPath?: string;
  /** Give up with lock_failed after waiting this long (default LOCK_WAIT_MS). */
  waitMs?: number;
  /** What is being locked, for messages ("the file sink /x/cp.jsonl"). */
  what: string;
}

/**
 * Runs `fn` while holding the lock on `target` (which need not exist; its directory must).
 * lock_failed (details.reason 'timeout') when another process keeps it longer than waitMs;
 * lock_failed (reason 'lost') when the lock could not be kept fresh while `fn` ran (the event loop
 * stalled past STALE_LOCK_MS, or the lock was removed), since another process may then have
 * entered too: whatever `fn` wrote is there, but the caller is not told it went well.
 */
export async function withFileLock<T>(target: string, fn: () => Promise<T>, options: FileLockOptions): Promise<T> {
  const waitMs = options.waitMs ?? LOCK_WAIT_MS;
  let compromised: Error | undefined;
  let release: () => Promise<void>;
  try {
    release = await lockfile.lock(target, {
      realpath: false,
      stale: STALE_LOCK_MS,
      ...(options.lockPath === undefined ? {} : { lockfilePath: options.lockPath }),
      retries: { retries: Math.ceil(waitMs / POLL_MS), factor: 1, minTimeout: POLL_MS, maxTimeout: POLL_MS },
      onCompromised: (err) => {
        compromised = err;
      },
    });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ELOCKED') {
      throw new SealtrailError('lock_failed', `${options.what} is locked by another process, still after ${waitMs} ms; nothing was written`, {
        details: { lock: options.lockPath ?? `${target}.lock`, reason: 'timeout', waited_ms: waitMs },
      });
    }
    throw err;
  }
  let result: T;
  try {
    result = await fn();
  } finally {
    await release().catch(() => {});
  }
  if (compromised) {
    throw new SealtrailError('lock_failed', `${options.what}: the lock was lost while writing (${compromised.message}); another process may have written at the same time`, {
      details: { lock: options.lockPath ?? `${target}.lock`, reason: 'lost' },
    });
  }
  return result;
}
