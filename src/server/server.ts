/**
 * `sealtrail serve`: one fastify server, thin over the library. Routes validate (TypeBox
 * schemas, also the OpenAPI document), call the ledger and feature services, and shape the
 * answer; every failure is an RFC 9457 problem with our error code.
 */
import { EventEmitter } from 'node:events';
import fastifyRateLimit from '@fastify/rate-limit';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import { TypeBoxValidatorCompiler, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { LogController, type FastifyServerOptions } from 'fastify';
import { parseJson } from '../core/canonical-json.js';
import { SealtrailError } from '../core/errors.js';
import type { Ledger } from '../ledger/ledger.js';
import { TaskArtifactService } from '../tasks/task-artifact-service.js';
import { TaskAuditService } from '../tasks/task-audit-service.js';
import { ensureTokenSchema, roleAllows, TokenCache, type ApiToken, type Role } from './api-tokens.js';
import { AppendCoalescer } from './append-coalescer.js';
import { Metrics } from './metrics.js';
import { errorHandler, problemFor, sendProblem } from './problem.js';
import { registerCaptureRoutes } from './routes/capture-routes.js';
import { registerExplorerRoutes } from './routes/explorer-routes.js';
import { registerLedgerRoutes } from './routes/ledger-routes.js';
import { registerLogRoutes } from './routes/log-routes.js';
import { registerOpsRoutes } from './routes/ops-routes.js';
import { registerPipelineRoutes } from './routes/pipeline-routes.js';
import { PayloadStore } from '../pipeline/payload-store.js';
import { registerSinkRoutes } from './routes/sink-routes.js';
import { registerStreamRoute } from './routes/stream-route.js';
import { registerTaskRoutes } from './routes/task-routes.js';
import { Problem } from './schemas.js';
import type { ServerContext, TypedApp } from './server-context.js';
import { defaultWebRoot, registerWebStatic } from './web-static.js';

export interface ServerLimits {
  /** Largest request body in bytes (default: the payload limit plus 64 KiB of envelope). */
  bodyLimit: number;
  /** Largest JSON Lines body of POST /api/events/batch, in bytes. */
  batchBodyLimit: number;
  /** Requests per token (or client address, before authentication) per window. */
  rateLimitMax: number;
  rateLimitWindowMs: number;
  /** A request that takes longer is answered 408 and its connection closed. */
  requestTimeoutMs: number;
}

export interface ServerOptions extends Partial<ServerLimits> {
  ledger: Ledger;
  /** pino options, false for no logs (default: JSON request logs at info to stdout). */
  logger?: FastifyServerOptions['logger'];
  /** Level of the default logger (default info; debug adds a line when each request arrives). */
  logLevel?: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';
  /** How often an idle /api/stream looks for entries other processes appended (default 500 ms). */
  streamPollMs?: number;
  /** Log verifier keys (C2SP vkeys) offered at GET /api/keys, for clients that check checkpoints. */
  verifierKeys?: readonly string[];
  /** Witness cosigner keys offered at GET /api/keys. */
  witnessKeys?: readonly string[];
  /** Directory of the built web explorer served at `/` (default: dist/web if built; false: none). */
  webRoot?: string | false;
  /** Serve the /log/ transparency-log reads without a token (default false: they need the reader role). */
  publicLog?: boolean;
  /**
   * The pipeline payload store's directory (as `pipeline run --payloads` wrote it): lineage then
   * carries row data and routing reasons; without it they are `not_stored`.
   */
  payloads?: string;
}

export interface SealtrailServer {
  app: TypedApp;
  metrics: Metrics;
  /** Stops accepting, ends live streams, waits for in-flight requests. Does not close the ledger. */
  close(): Promise<void>;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    role?: Role | 'open';
  }
  interface FastifyRequest {
    token?: ApiToken;
  }
}

/** What a log line may say about a request: never the Authorization header or the body. */
const requestSerializer = (req: { method: string; url: string; ip?: string; id?: string }) => ({ id: req.id, method: req.method, url: req.url, ip: req.ip });

export function defaultLimits(maxPayloadBytes: number): ServerLimits {
  return {
    bodyLimit: maxPayloadBytes + 65_536,
    batchBodyLimit: 16 * 1_048_576,
    rateLimitMax: 6000,
    rateLimitWindowMs: 60_000,
    requestTimeoutMs: 30_000,
  };
}

export async function createServer(options: ServerOptions): Promise<SealtrailServer> {
  const { ledger } = options;
  const limits = { ...defaultLimits(ledger.maxPayloadBytes), ...stripUndefined(options) };
  await ensureTokenSchema(ledger.store);

  const app = Fastify({
    logger:
      options.logger === undefined
        ? { level: options.logLevel ?? 'info', redact: ['req.headers.authorization'], serializers: { req: requestSerializer } }
        : options.logger === false
          ? false
          : options.logger,
    // One line per request (below), not fastify's two: logging is a large share of a request's cost.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: limits.bodyLimit,
    requestTimeout: limits.requestTimeoutMs,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    ajv: { customOptions: { coerceTypes: false } },
  }).withTypeProvider<TypeBoxTypeProvider>();
  app.setValidatorCompiler(TypeBoxValidatorCompiler);
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((request, reply) => sendProblem(reply, problemFor('not_found', `no route ${request.method} ${request.url.split('?')[0]}`)));

  // Strict JSON (duplicate keys, integers beyond 2^53 refused) exactly as the CLI reads it.
  app.removeContentTypeParser(['application/json']);
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    try {
      done(null, parseJson(body as string));
    } catch (err) {
      done(err as SealtrailError, undefined);
    }
  });
  app.addContentTypeParser(['application/x-ndjson', 'application/jsonl', 'application/jsonlines'], { parseAs: 'string' }, (_request, body, done) => done(null, body));

  const metrics = new Metrics();
  const events = new EventEmitter();
  events.setMaxListeners(0);
  const closing = { value: false };
  const ctx: ServerContext = {
    ledger,
    audits: new TaskAuditService(ledger),
    artifacts: new TaskArtifactService(ledger),
    metrics,
    appends: new AppendCoalescer(ledger),
    events,
    appended(count) {
      if (count <= 0) return;
      metrics.appends += count;
      events.emit('append');
    },
    streamPollMs: options.streamPollMs ?? 500,
    batchBodyLimit: limits.batchBodyLimit,
    closing,
  };

  const tokens = new TokenCache(ledger.store);
  // Authentication first: the rate limit then counts per token, not per address.
  app.addHook('onRequest', async (request, reply) => {
    const role = request.routeOptions.config?.role;
    if (role === undefined || role === 'open') return;
    const header = request.headers.authorization;
    const match = typeof header === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    const token = match ? await tokens.authenticate(match[1]!) : null;
    if (!token) {
      return sendProblem(reply, problemFor('unauthorized', match ? 'the bearer token is unknown or revoked' : 'this route needs a bearer token (Authorization: Bearer <token>)'));
    }
    if (!roleAllows(token.role, role)) {
      return sendProblem(reply, problemFor('forbidden', `this route needs the ${role} role; the token has ${token.role}`));
    }
    request.token = token;
  });
  app.addHook('onRequest', async (request) => {
    request.log.debug({ req: request }, 'incoming request');
  });
  app.addHook('onResponse', async (request, reply) => {
    metrics.observeRequest(request.routeOptions.url ?? 'unmatched', request.method, reply.statusCode, reply.elapsedTime / 1000);
    request.log.info({ req: request, res: { statusCode: reply.statusCode }, responseTime: reply.elapsedTime }, 'request completed');
  });
  app.addHook('preClose', async () => {
    closing.value = true;
    events.emit('closing');
  });

  await app.register(fastifyRateLimit, {
    global: true,
    hook: 'preHandler',
    max: limits.rateLimitMax,
    timeWindow: limits.rateLimitWindowMs,
    keyGenerator: (request) => (request.token ? `token:${request.token.id}` : `ip:${request.ip}`),
    errorResponseBuilder: (_request, context) =>
      new SealtrailError('rate_limited', `at most ${context.max} requests per ${Math.round(context.ttl / 1000)} s; retry after the time in Retry-After`),
  });

  app.addSchema(Problem);
  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'sealtrail', version: '0.1.0', description: 'Tamper-evident audit trails: ledger, task audit, pipelines, capture and C2SP tlog-tiles reads over HTTP. See docs/api-http.md.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'a token from `sealtrail token create`' } } },
    },
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
  });
  await app.register(fastifySwaggerUi, { routePrefix: '/docs', uiConfig: { docExpansion: 'list' } });

  registerOpsRoutes(app, ctx);
  registerLedgerRoutes(app, ctx);
  registerStreamRoute(app, ctx);
  registerTaskRoutes(app, ctx);
  registerCaptureRoutes(app, ctx);
  registerExplorerRoutes(app, { vkeys: options.verifierKeys ?? [], witnessVkeys: options.witnessKeys ?? [] });
  registerWebStatic(app, options.webRoot === false ? null : (options.webRoot ?? defaultWebRoot()));
  registerPipelineRoutes(app, ctx, options.payloads === undefined ? {} : { payloads: new PayloadStore(options.payloads) });
  registerSinkRoutes(app, ctx);
  registerLogRoutes(app, ctx, { publicLog: options.publicLog ?? false });
  app.get('/openapi.json', { config: { role: 'open' }, schema: { hide: true } }, async () => app.swagger());

  await app.ready();
  return {
    app,
    metrics,
    close: () => app.close(),
  };
}

function stripUndefined(options: Partial<ServerLimits>): Partial<ServerLimits> {
  const keys: (keyof ServerLimits)[] = ['bodyLimit', 'batchBodyLimit', 'rateLimitMax', 'rateLimitWindowMs', 'requestTimeoutMs'];
  const out: Partial<ServerLimits> = {};
  for (const k of keys) if (options[k] !== undefined) out[k] = options[k];
  return out;
}
