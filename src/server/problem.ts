/**
 * RFC 9457 problem details: every error the API answers with is `application/problem+json`
 * carrying our catalogue `code`. Only sealtrail's own messages for client errors reach the
 * client; server-side failures get a fixed description per code, never a driver message or a
 * stack (those go to the log).
 */
import { STATUS_CODES } from 'node:http';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { ERROR_CATALOGUE, SealtrailError, isSealtrailError, type ErrorCode } from '../core/errors.js';

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ErrorCode;
  /** The request field a validation failure is about (`body.kind`, `querystring.limit`). */
  field?: string;
}

const SERVER_SIDE_DETAIL: Partial<Record<ErrorCode, string>> = {
  database_unreachable: 'the database cannot be reached',
  database_error: 'the database reported an error; the operation was rolled back',
  internal: 'an unexpected error occurred; the server log has the details',
};

export function problemType(code: ErrorCode): string {
  return `urn:sealtrail:error:${code}`;
}

export function problemFor(code: ErrorCode, detail: string, field?: string): Problem {
  const status = ERROR_CATALOGUE[code].http;
  const shown = status >= 500 ? (SERVER_SIDE_DETAIL[code] ?? detail) : detail;
  return { type: problemType(code), title: STATUS_CODES[status] ?? 'Error', status, detail: shown, code, ...(field === undefined ? {} : { field }) };
}

interface ValidationIssue {
  instancePath?: string;
  message?: string;
  params?: Record<string, unknown>;
}

/** The dotted field a schema validation failure names: `querystring.limit`, `body.payload`. */
function fieldOf(context: string | undefined, issue: ValidationIssue | undefined): string {
  const path = (issue?.instancePath ?? '').split('/').filter((p) => p !== '');
  const missing = issue?.params?.['requiredProperties'] ?? issue?.params?.['missingProperty'];
  if (Array.isArray(missing) && typeof missing[0] === 'string') path.push(missing[0]);
  else if (typeof missing === 'string') path.push(missing);
  const extra = issue?.params?.['additionalProperties'] ?? issue?.params?.['additionalProperty'];
  if (Array.isArray(extra) && typeof extra[0] === 'string') path.push(extra[0]);
  else if (typeof extra === 'string') path.push(extra);
  return [context ?? 'request', ...path].join('.');
}

/** Maps anything thrown in a request to its problem. */
export function toProblem(err: unknown): Problem {
  if (isSealtrailError(err)) return problemFor(err.code, err.message);
  const e = err as Partial<FastifyError> & { validation?: ValidationIssue[]; validationContext?: string };
  if (Array.isArray(e.validation)) {
    const issue = e.validation[0];
    const field = fieldOf(e.validationContext, issue);
    const last = field.split('.').pop();
    const code: ErrorCode = last === 'limit' ? 'invalid_limit' : last === 'ref_type' ? 'invalid_ref_type' : 'invalid_argument';
    return problemFor(code, `${field} ${issue?.message ?? 'is invalid'}`, field);
  }
  switch (e.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return problemFor('payload_too_large', 'the request body is larger than the configured limit');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return problemFor('unsupported_media_type', 'this route does not accept that content type');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return problemFor('invalid_json', 'the request body is not valid JSON');
    default:
      break;
  }
  if (e.statusCode === 429) return problemFor('rate_limited', 'too many requests; retry after the time in Retry-After');
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return problemFor('invalid_argument', 'the request is malformed');
  }
  return problemFor('internal', 'internal');
}

export function sendProblem(reply: FastifyReply, problem: Problem): FastifyReply {
  if (problem.code === 'unauthorized') void reply.header('www-authenticate', 'Bearer realm="sealtrail"');
  return reply.code(problem.status).type('application/problem+json').send(problem);
}

/** Fastify error handler: log server-side failures (with cause), answer with the problem only. */
export function errorHandler(err: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const problem = toProblem(err);
  if (problem.status >= 500) request.log.error({ err }, 'request failed');
  return sendProblem(reply, problem);
}

export function problem(code: ErrorCode, detail: string, details?: Record<string, unknown>): SealtrailError {
  return new SealtrailError(code, detail, details === undefined ? undefined : { details });
}
