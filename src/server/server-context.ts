/** What every route group receives: the ledger, the services over it, metrics and settings. */
import type { EventEmitter } from 'node:events';
import type { FastifyBaseLogger, FastifyInstance, RawReplyDefaultExpression, RawRequestDefaultExpression, RawServerDefault } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Ledger } from '../ledger/ledger.js';
import type { TaskArtifactService } from '../tasks/task-artifact-service.js';
import type { TaskAuditService } from '../tasks/task-audit-service.js';
import type { AppendCoalescer } from './append-coalescer.js';
import type { Metrics } from './metrics.js';

export type TypedApp = FastifyInstance<RawServerDefault, RawRequestDefaultExpression, RawReplyDefaultExpression, FastifyBaseLogger, TypeBoxTypeProvider>;

export interface ServerContext {
  ledger: Ledger;
  audits: TaskAuditService;
  artifacts: TaskArtifactService;
  metrics: Metrics;
  /** POST /api/events appends, released together once per event-loop turn. */
  appends: AppendCoalescer;
  /** Emits 'append' after this server appended, so live streams need not wait for their next poll. */
  events: EventEmitter;
  /** Counts new entries and wakes the streams. */
  appended(count: number): void;
  /** How often an idle stream looks for entries other processes appended. */
  streamPollMs: number;
  /** Body limit of POST /api/events/batch (other routes use the server's bodyLimit). */
  batchBodyLimit: number;
  /** Set once the server starts closing: streams end so shutdown is not held open. */
  closing: { value: boolean };
}
