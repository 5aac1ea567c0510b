/**
 * A test client for the HTTP API over a real loopback socket: starts a server on a fresh ledger,
 * makes one token per role (and a revoked one), and checks every response it receives against
 * the server's own /openapi.json (status, content type, body schema).
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { Compile } from 'typebox/compile';
import { openLedger, type Ledger } from '../../src/ledger/ledger.js';
import { createToken, revokeToken } from '../../src/server/api-tokens.js';
import { createServer, type ServerOptions, type SealtrailServer } from '../../src/server/server.js';

type Json = Record<string, unknown>;

export interface ApiResponse {
  status: number;
  headers: Headers;
  text: string;
  /** The parsed body when it is JSON. */
  json: unknown;
}

export interface Api {
  base: string;
  ledger: Ledger;
  server: SealtrailServer;
  tokens: { reader: string; writer: string; admin: string; revoked: string };
  /** Everything the server logged, one JSON line each. */
  logs: string[];
  request(method: string, path: string, options?: { token?: string | null; body?: unknown; raw?: string; type?: string; headers?: Record<string, string> }): Promise<ApiResponse>;
  close(): Promise<void>;
}

/** `{a}` template paths of the OpenAPI document as regexes, for finding a request's operation. */
function operationFor(doc: Json, method: string, path: string): Json | undefined {
  const paths = doc['paths'] as Record<string, Record<string, Json>>;
  const bare = path.split('?')[0]!;
  for (const [template, ops] of Object.entries(paths)) {
    // `{*}` is a wildcard route (/log/tile/{*}): it spans several segments.
    const re = new RegExp(`^${template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{\\\*\}/g, '.*').replace(/\{[^}]+\}/g, '[^/]+')}$`);
    if (re.test(bare) && ops[method.toLowerCase()]) return ops[method.toLowerCase()];
  }
  return undefined;
}

function resolveRefs(schema: unknown, doc: Json): unknown {
  if (Array.isArray(schema)) return schema.map((s) => resolveRefs(s, doc));
  if (schema === null || typeof schema !== 'object') return schema;
  const o = schema as Json;
  if (typeof o['$ref'] === 'string') {
    const name = (o['$ref'] as string).split('/').pop()!;
    return resolveRefs(((doc['components'] as Json)['schemas'] as Json)[name], doc);
  }
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, resolveRefs(v, doc)]));
}

/** Asserts the response is one the OpenAPI document declares for this operation. */
export function assertDocumented(doc: Json, method: string, path: string, res: ApiResponse): void {
  // The document itself is not one of its operations.
  if (path === '/openapi.json' || path === '/docs' || path.startsWith('/docs/')) return;
  const op = operationFor(doc, method, path);
  if (!op) {
    // Unknown routes answer the not_found problem.
    assert.equal(res.status, 404, `${method} ${path} is undocumented and must be a 404`);
    return;
  }
  const responses = op['responses'] as Record<string, Json>;
  const declared = responses[String(res.status)] ?? responses[`${String(res.status)[0]}XX`];
  assert.ok(declared, `${method} ${path}: status ${res.status} is documented`);
  const content = declared['content'] as Record<string, { schema: unknown }> | undefined;
  if (!content) return;
  const type = (res.headers.get('content-type') ?? '').split(';')[0]!.trim();
  const entry = content[type];
  assert.ok(entry, `${method} ${path} ${res.status}: content type ${type} is documented (${Object.keys(content).join(', ')})`);
  if (type.includes('json')) {
    const check = Compile(resolveRefs(entry.schema, doc) as never);
    assert.ok(check.Check(res.json), `${method} ${path} ${res.status}: body matches the OpenAPI schema: ${res.text.slice(0, 300)}`);
  } else {
    assert.equal(typeof res.text, 'string');
  }
}

export async function startApi(url: string, options: Partial<ServerOptions> = {}): Promise<Api> {
  const ledger = await openLedger({ url });
  const logs: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      logs.push(...chunk.toString('utf8').split('\n').filter((l) => l !== ''));
      done();
    },
  });
  const server = await createServer({ ledger, logger: { level: 'info', stream }, ...options });
  const base = await server.app.listen({ port: 0, host: '127.0.0.1' });
  const make = async (role: 'reader' | 'writer' | 'admin') => (await createToken(ledger, { role, name: `test ${role}` })).token;
  const revokedToken = await createToken(ledger, { role: 'admin', name: 'revoked' });
  await revokeToken(ledger, revokedToken.id);
  const tokens = { reader: await make('reader'), writer: await make('writer'), admin: await make('admin'), revoked: revokedToken.token };
  const doc = (await (await fetch(`${base}/openapi.json`)).json()) as Json;

  const request: Api['request'] = async (method, path, opts = {}) => {
    const headers: Record<string, string> = { ...(opts.headers ?? {}) };
    const token = opts.token === undefined ? tokens.admin : opts.token;
    if (token !== null) headers['authorization'] = `Bearer ${token}`;
    let body: string | undefined;
    if (opts.raw !== undefined) body = opts.raw;
    else if (opts.body !== undefined) body = JSON.stringify(opts.body);
    if (body !== undefined) headers['content-type'] = opts.type ?? 'application/json';
    const r = await fetch(`${base}${path}`, { method, headers, ...(body === undefined ? {} : { body }) });
    const text = await r.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    const res = { status: r.status, headers: r.headers, text, json };
    assertDocumented(doc, method, path, res);
    if (r.status >= 400 && (r.headers.get('content-type') ?? '').includes('json')) {
      assert.match(r.headers.get('content-type') ?? '', /^application\/problem\+json/, `${method} ${path}: errors are problem+json`);
      assert.doesNotMatch(text, /\bat [\w.<>]+ \(|node:internal|\.ts:\d+/, 'no stack trace in a problem');
    }
    return res;
  };

  return {
    base,
    ledger,
    server,
    tokens,
    logs,
    request,
    close: async () => {
      await server.close();
      await ledger.close();
    },
  };
}
