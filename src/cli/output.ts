/**
 * How commands print. With --json, stdout carries exactly one JSON document (one line) per result
 * and nothing else, so scripts can parse it; human text goes to stdout otherwise. Errors are one
 * line on stderr (plus, with --json, an error document on stdout); stacks only with --debug.
 */
import { ERROR_CATALOGUE, SealtrailError } from '../core/errors.js';

/** The part of a stream output needs; process.stdout / process.stderr fit, and so do test doubles. */
export interface TextSink {
  write(text: string): unknown;
}

export interface OutputContext {
  json: boolean;
  stdout?: TextSink;
  stderr?: TextSink;
}

/** Printing helpers bound to one invocation's --json setting. */
export interface Output {
  /** Prints one result: `human` as text, or `jsonValue` as one JSON document with --json. */
  result(human: string | (() => string), jsonValue: unknown): void;
  /** Prints many results in one write (streaming commands): one line or JSON document each. */
  results(items: ReadonlyArray<readonly [human: string, jsonValue: unknown]>): void;
  /** A remark for people (progress, hints, warnings) on stderr; never pollutes stdout. */
  note(text: string): void;
}

export function createOutput(ctx: OutputContext): Output {
  return {
    result: (human, jsonValue) => printResult(ctx, human, jsonValue),
    results: (items) => {
      if (items.length === 0) return;
      const lines = items.map(([human, jsonValue]) => (ctx.json ? toJson(jsonValue) : printable(human, { layout: true })));
      (ctx.stdout ?? process.stdout).write(`${lines.join('\n')}\n`);
    },
    note: (text) => (ctx.stderr ?? process.stderr).write(withNewline(printable(text, { layout: true }))),
  };
}

export function printResult(ctx: OutputContext, human: string | (() => string), jsonValue: unknown): void {
  const stdout = ctx.stdout ?? process.stdout;
  if (ctx.json) {
    stdout.write(`${toJson(jsonValue)}\n`);
  } else {
    stdout.write(withNewline(printable(typeof human === 'function' ? human() : human, { layout: true })));
  }
}

/**
 * Characters that must never reach a terminal raw from data: C0 controls, DEL, C1 controls (CSI,
 * OSC… can repaint the screen), and the bidi embeddings, overrides and isolates (U+202A–U+202E,
 * U+2066–U+2069) that reorder what is shown.
 */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const UNPRINTABLE_EXCEPT_LAYOUT = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

/**
 * The one escaping for human output: every unprintable character becomes `\xHH` (or `\uHHHH`), so
 * a kind, pk, reason or message from the database shows as what it is and cannot move the cursor,
 * recolour or overwrite a line ("INTEGRITY FAILURE" repainted as "ok"). Commands wrap every
 * data-derived string in it; the output functions apply it once more to whole human texts with
 * `layout` (newlines and tabs the command itself wrote are kept). JSON output is never escaped.
 */
export function printable(value: string | number | null | undefined, options: { layout?: boolean } = {}): string {
  return String(value).replace(options.layout === true ? UNPRINTABLE_EXCEPT_LAYOUT : UNPRINTABLE, (c) => {
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

/**
 * JSON for results: bigints become numbers when exactly representable and strings otherwise;
 * byte arrays become lowercase hex (rather than Node's `{"type":"Buffer","data":[…]}`).
 */
export function toJson(value: unknown): string {
  return JSON.stringify(value, function (this: Record<string, unknown>, key: string, current: unknown) {
    const original = key === '' ? value : this[key];
    if (original instanceof Uint8Array) return Buffer.from(original.buffer, original.byteOffset, original.byteLength).toString('hex');
    if (typeof current === 'bigint') {
      return current <= BigInt(Number.MAX_SAFE_INTEGER) && current >= BigInt(Number.MIN_SAFE_INTEGER)
        ? Number(current)
        : current.toString();
    }
    return current;
  });
}

function withNewline(text: string): string {
  return text === '' || text.endsWith('\n') ? text : `${text}\n`;
}

// ---------------------------------------------------------------------------------------------
// Errors

export interface ReportOptions {
  debug: boolean;
  json: boolean;
  stdout?: TextSink;
  stderr?: TextSink;
}

/**
 * Prints an error the way users should see it and returns the exit status for its code.
 * Anything that is not a SealtrailError is classified: database connection failures become
 * `database_unreachable`, everything else `internal`.
 */
export function reportError(err: unknown, options: ReportOptions): 0 | 1 | 2 {
  const stdout = options.stdout ?? process.stdout;
  const stderr = options.stderr ?? process.stderr;
  const error = toSealtrailError(err);

  if (options.debug) stderr.write(`${describeForDebug(err)}\n`);
  const hint = error.code === 'internal' && !options.debug ? ' (run with --debug for details)' : '';
  stderr.write(`sealtrail: ${printable(oneLine(error.message))} [${error.code}]${hint}\n`);
  if (options.json) stdout.write(`${toJson({ error: error.toJSON() })}\n`);
  return ERROR_CATALOGUE[error.code].exit;
}

/** Maps any thrown value onto the catalogue; SealtrailErrors pass through unchanged. */
export function toSealtrailError(err: unknown): SealtrailError {
  if (err instanceof SealtrailError) return err;
  const unreachable = databaseUnreachable(err);
  if (unreachable !== undefined) {
    return new SealtrailError('database_unreachable', `cannot reach the database: ${unreachable}`, { cause: err });
  }
  const message = err instanceof Error ? `${err.name}: ${err.message}` : `non-error thrown: ${safeString(err)}`;
  return new SealtrailError('internal', `internal error: ${message}`, { cause: err });
}

/** Network-level errno codes, and PostgreSQL SQLSTATEs that mean "no session could be established". */
const UNREACHABLE_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOENT', // Unix socket path that does not exist
  '57P03', // cannot_connect_now: server starting up or shutting down
  '3D000', // invalid_catalog_name: the database named in the URL does not exist
  '28000', // invalid_authorization_specification
  '28P01', // invalid_password
  'SQLITE_CANTOPEN',
]);

/** Returns a short reason when `err` (or something it wraps) is a failure to connect to the database. */
function databaseUnreachable(err: unknown, depth = 0): string | undefined {
  if (depth > 5 || typeof err !== 'object' || err === null) return undefined;
  const { code, message, errors } = err as { code?: unknown; message?: unknown; errors?: unknown };
  const text = typeof message === 'string' ? message : '';
  // ENOENT alone is too common (any missing file) to call a connection failure; require a socket.
  const codeMatches =
    typeof code === 'string' && UNREACHABLE_CODES.has(code) && (code !== 'ENOENT' || /\.s\.PGSQL\./.test(text));
  // better-sqlite3: SqliteError "unable to open database file", TypeError for a missing directory.
  const sqliteOpen = /unable to open database|cannot open database/i.test(text);
  if ((codeMatches || sqliteOpen) && text !== '') return text;
  // Node reports a connect to a host with several addresses as an AggregateError of per-address
  // errors. `cause` chains are deliberately not followed: a wrapped network error could come from a
  // sink or webhook, and those are classified by the code that wraps them.
  if (Array.isArray(errors)) {
    for (const inner of errors) {
      const found = databaseUnreachable(inner, depth + 1);
      if (found !== undefined) return found;
    }
  }
  return codeMatches ? String(code) : undefined;
}

function describeForDebug(err: unknown): string {
  const parts: string[] = [];
  let current: unknown = err;
  for (let depth = 0; current !== undefined && depth < 5; depth++) {
    const prefix = depth === 0 ? '' : 'Caused by: ';
    if (current instanceof Error) {
      const code = (current as { code?: unknown }).code;
      parts.push(`${prefix}${current.stack ?? `${current.name}: ${current.message}`}${code !== undefined ? ` (code ${safeString(code)})` : ''}`);
      current = current.cause;
    } else {
      parts.push(`${prefix}${safeString(current)}`);
      current = undefined;
    }
  }
  return parts.join('\n');
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}

function safeString(value: unknown): string {
  try {
    return typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value));
  } catch {
    return String(value);
  }
}
