/**
 * The `http` transform: sends the row (JSON) to a URL and stores the JSON response in a field.
 * Every attempt is recorded as a call (request/response hashes and payloads) before its result is
 * used. Connection errors, timeouts and 5xx are retryable; other non-2xx are error results.
 */
import { RetryableError, settingsError, type TransformDefinition } from '../engine/plugin-api.js';

export const httpTransform: TransformDefinition = {
  kind: 'transform',
  name: 'http',
  version: '1.0',
  determinism: 'external_call',
  create(options) {
    const url = options.string('url');
    try {
      const u = new URL(url);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('scheme');
      if (u.username !== '' || u.password !== '') throw settingsError(`${options.path}.url`, 'credentials', 'must not embed credentials (they would be recorded)');
    } catch (e) {
      if ((e as { code?: string }).code === 'pipeline_settings_invalid') throw e;
      throw settingsError(`${options.path}.url`, 'type', 'must be an http(s) URL');
    }
    const method = options.optString('method') ?? 'POST';
    if (!['GET', 'POST', 'PUT'].includes(method)) throw settingsError(`${options.path}.method`, 'enum', 'must be GET, POST or PUT');
    const timeoutMs = options.int('timeout_ms', 5000, 1);
    const responseField = options.optString('response_field') ?? 'response';
    options.done();
    return {
      async process(row, ctx) {
        const request = { method, url, body: method === 'GET' ? null : row };
        const started = Date.now();
        let status: number;
        let text: string;
        try {
          const res = await fetch(url, {
            method,
            headers: method === 'GET' ? {} : { 'content-type': 'application/json' },
            body: method === 'GET' ? undefined : JSON.stringify(row),
            signal: AbortSignal.timeout(timeoutMs),
          });
          status = res.status;
          text = await res.text();
        } catch (cause) {
          const e = cause as Error;
          const timedOut = e.name === 'TimeoutError' || e.name === 'AbortError';
          await ctx.recordCall({ callType: 'http', status: 'error', request, error: { type: timedOut ? 'timeout' : 'connection', message: e.message }, latencyMs: Date.now() - started });
          throw new RetryableError(timedOut ? `http call timed out after ${timeoutMs} ms` : `http connection failed: ${e.message}`, { url });
        }
        let body: unknown = text;
        try {
          body = text === '' ? null : JSON.parse(text);
        } catch {
          // Not JSON: kept as text.
        }
        const response = { status, body };
        const ok = status >= 200 && status < 300;
        await ctx.recordCall({ callType: 'http', status: ok ? 'success' : 'error', request, response, latencyMs: Date.now() - started, ...(ok ? {} : { error: { type: 'status', status } }) });
        if (status >= 500) throw new RetryableError(`http ${status}`, { url, status });
        if (!ok) return { error: { reason: 'http_status', status } };
        return { row: { ...row, [responseField]: body } };
      },
    };
  },
};
