/** The explorer talks only to this server's API, with the token kept for this browser session. */

const KEY = 'sealtrail.token';

export const session = {
  get token(): string | null {
    return sessionStorage.getItem(KEY);
  },
  set(token: string) {
    sessionStorage.setItem(KEY, token);
  },
  clear() {
    sessionStorage.removeItem(KEY);
  },
};

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface Page<T> {
  items: T;
  /** The API's Link rel="next", when a further page exists. */
  next: string | null;
}

async function call(path: string, init: RequestInit = {}, token = session.token): Promise<Response> {
  const headers = new Headers(init.headers);
  if (token) headers.set('authorization', `Bearer ${token}`);
  const res = await fetch(path, { ...init, headers });
  if (!res.ok) {
    let code = 'http_' + res.status;
    let detail = res.statusText;
    try {
      const p = (await res.json()) as { code?: string; detail?: string };
      code = p.code ?? code;
      detail = p.detail ?? detail;
    } catch {
      // not a problem document
    }
    if (res.status === 401 && token === session.token) window.dispatchEvent(new Event('sealtrail:signed-out'));
    throw new ApiError(res.status, code, detail);
  }
  return res;
}

export async function get<T>(path: string, token?: string): Promise<T> {
  return (await (await call(path, { headers: { accept: 'application/json' } }, token)).json()) as T;
}

export async function getPage<T>(path: string): Promise<Page<T>> {
  const res = await call(path, { headers: { accept: 'application/json' } });
  const link = res.headers.get('link');
  const next = link ? (/<([^>]+)>;\s*rel="next"/.exec(link)?.[1] ?? null) : null;
  return { items: (await res.json()) as T, next };
}

export async function getText(path: string): Promise<string> {
  return (await call(path, { headers: { accept: 'text/plain' } })).text();
}

export async function post<T>(path: string, body?: unknown): Promise<T> {
  const init: RequestInit = { method: 'POST' };
  if (body !== undefined) init.headers = { 'content-type': 'application/json' };
  if (body !== undefined) init.body = JSON.stringify(body);
  return (await (await call(path, init)).json()) as T;
}

/**
 * Server-Sent Events over fetch: EventSource cannot send an Authorization header. Resumes after
 * `lastId` (Last-Event-ID) so a paused tail misses nothing.
 */
export async function stream(lastId: number | null, onEntry: (data: unknown, id: number) => void, signal: AbortSignal): Promise<void> {
  const headers: Record<string, string> = { accept: 'text/event-stream' };
  if (lastId !== null) headers['last-event-id'] = String(lastId);
  const res = await call('/api/stream', { headers, signal });
  await readEvents(res, (event, data, id) => {
    if (event === 'entry' && data) onEntry(JSON.parse(data), id);
  });
}

/**
 * POST /api/verify in its streamed form: `progress` events ({checked, total}) as the server
 * checks segments, then the report (the JSON form's body); an `error` event becomes an ApiError.
 */
export async function verifyStreamed<R>(onProgress: (checked: number, total: number) => void): Promise<R> {
  const res = await call('/api/verify', { method: 'POST', headers: { accept: 'text/event-stream' } });
  let report: R | null = null;
  let failure: ApiError | null = null;
  await readEvents(res, (event, data) => {
    if (event === 'progress') {
      const p = JSON.parse(data) as { checked: number; total: number };
      onProgress(p.checked, p.total);
    } else if (event === 'report') report = JSON.parse(data) as R;
    else if (event === 'error') {
      const p = JSON.parse(data) as { code?: string; detail?: string; status?: number };
      failure = new ApiError(p.status ?? 500, p.code ?? 'internal', p.detail ?? 'verification failed to run');
    }
  });
  if (failure) throw failure as ApiError;
  if (report === null) throw new ApiError(500, 'internal', 'the verify stream ended without a report');
  return report;
}

/** Reads a text/event-stream body, calling `on` per event until the server ends it. */
async function readEvents(res: Response, on: (event: string, data: string, id: number) => void): Promise<void> {
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let id = 0;
      let event = 'message';
      let data = '';
      for (const line of block.split('\n')) {
        if (line.startsWith('id:')) id = Number(line.slice(3).trim());
        else if (line.startsWith('event:')) event = line.slice(6).trim();
        else if (line.startsWith('data:')) data += line.slice(5).trim();
      }
      on(event, data, id);
    }
  }
}

/** Saves text as a file the user downloads. */
export function download(name: string, type: string, text: string): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
