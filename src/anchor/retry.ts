/**
 * Bounded retries with exponential backoff for sink and webhook I/O. Only failures marked
 * transient (network errors, 5xx, 429) are retried; a refusal is an answer, not an outage.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { SealtrailError } from '../core/errors.js';
import { redact } from '../core/redact.js';

export interface RetryOptions {
  /** Attempts in total, including the first (default 3). */
  attempts?: number;
  /** Delay before the first retry, doubled each time (default 250 ms). */
  baseDelayMs?: number;
  /** Per-request timeout for HTTP sinks (default 10 s). */
  timeoutMs?: number;
}

/** Thrown by sinks for failures worth another attempt. */
export class TransientError extends Error {
  override readonly name = 'TransientError';
}

export async function withRetry<T>(fn: () => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const attempts = Math.max(1, options.attempts ?? 3);
  const base = options.baseDelayMs ?? 250;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (!(err instanceof TransientError) || attempt >= attempts) throw err;
      await sleep(base * 2 ** (attempt - 1));
    }
  }
}

/** A sink failure as the coded error callers see; keeps only the message of the cause. */
export function sinkFailed(spec: string, err: unknown): SealtrailError {
  if (err instanceof SealtrailError) return err;
  const reason = err instanceof Error ? err.message : String(err);
  return new SealtrailError('sink_failed', `sink ${redact(spec)}: ${redact(reason)}`, { details: { sink: redact(spec) } });
}

/** fetch with a timeout; network failures and 5xx/429 become TransientError. */
export async function httpRequest(
  url: string,
  init: { method: string; body?: string; headers?: Record<string, string> },
  options: RetryOptions = {},
): Promise<{ status: number; contentType: string; text: string }> {
  let response: Response;
  try {
    response = await fetch(url, { ...init, signal: AbortSignal.timeout(options.timeoutMs ?? 10_000) });
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code;
    throw new TransientError(`request to ${redact(url)} failed${cause ? ` (${cause})` : ''}`);
  }
  const text = await response.text();
  if (response.status >= 500 || response.status === 429) {
    throw new TransientError(`${redact(url)} answered ${response.status}`);
  }
  return { status: response.status, contentType: response.headers.get('content-type') ?? '', text };
}
