/** Validators: check and normalise one raw value, naming the key and its source on failure. */
import { resolve } from 'node:path';
import { validateAlertTable, type AlertTable } from '../../anchor/alerts.js';
import { isSealtrailError, SealtrailError } from '../../core/errors.js';
import { parseS3Target } from '../../anchor/tiles/s3-tile-storage.js';
import { isRoleName } from '../../capture/capture.js';
import { redact } from '../../core/redact.js';
import type { MonitorConfig, Origin, ServerConfig } from './types.js';

export const MONITOR_KEYS: readonly (keyof MonitorConfig)[] = ['interval', 'window', 'stateFile', 'webhook', 'sinkMaxAge', 'sweep', 'alertTable'];

export function monitorDefaults(baseDir: string): MonitorConfig {
  return { interval: '1h', window: '24h', stateFile: resolve(baseDir, '.sealtrail', 'monitor-state.json') };
}

// ---------------------------------------------------------------------------------------------
// Durations

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses `250ms`, `15s`, `30m`, `1h`, `2d` into milliseconds. Zero and negative durations are rejected. */
export function parseDuration(text: string): number {
  const match = /^(\d+)(ms|s|m|h|d)$/.exec(typeof text === 'string' ? text.trim() : '');
  const amount = match?.[1];
  const unit = match?.[2];
  const ms = amount !== undefined && unit !== undefined ? Number(amount) * (DURATION_UNITS[unit] ?? NaN) : NaN;
  if (!Number.isSafeInteger(ms) || ms <= 0) {
    throw new SealtrailError(
      'invalid_argument',
      `invalid duration ${JSON.stringify(text)}: expected a positive whole number followed by ms, s, m, h or d (e.g. 30m, 24h)`,
      { details: { value: String(text) } },
    );
  }
  return ms;
}

// ---------------------------------------------------------------------------------------------
// Validators

function invalid(origin: Origin, key: string, problem: string): never {
  const where = origin.source === 'file' ? `${origin.label}: "${key}"` : origin.label;
  throw new SealtrailError('config_invalid', `${where} ${problem}`, { details: { key, source: origin.source } });
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  if (typeof value === 'object') return 'an object';
  return String(value);
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function splitList(raw: string): string[] {
  return raw
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '');
}

export function validateNonEmptyString(value: unknown, origin: Origin, key: string): string {
  if (typeof value !== 'string' || value.trim() === '') {
    invalid(origin, key, `must be a non-empty string, got ${describe(value)}`);
  }
  return value;
}

export function validatePositiveInteger(value: unknown, origin: Origin, key: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    invalid(origin, key, `must be a positive integer, got ${describe(value)}`);
  }
  return value;
}

export function validatePath(value: unknown, origin: Origin, key: string): string {
  return resolve(origin.baseDir, validateNonEmptyString(value, origin, key));
}

export function validateStringList(value: unknown, origin: Origin, key: string): string[] {
  if (!Array.isArray(value)) invalid(origin, key, `must be an array of strings, got ${describe(value)}`);
  return value.map((item, i) => validateNonEmptyString(item, origin, `${key}[${i}]`));
}

export function validateDuration(value: unknown, origin: Origin, key: string): string {
  const text = validateNonEmptyString(value, origin, key);
  try {
    parseDuration(text);
  } catch {
    invalid(origin, key, `must be a duration such as 15s, 30m, 1h or 2d, got ${describe(value)}`);
  }
  return text.trim();
}

export function validateHttpUrl(value: unknown, origin: Origin, key: string): string {
  const text = validateNonEmptyString(value, origin, key);
  let url: URL | undefined;
  try {
    url = new URL(text);
  } catch {
    url = undefined;
  }
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    invalid(origin, key, `must be an http:// or https:// URL, got ${describe(redact(text))}`);
  }
  return text;
}

const POSTGRES_URL = /^postgres(ql)?:\/\//i;
const ANY_URL = /^[a-z][a-z0-9+.-]*:\/\//i;

export function validateDatabase(value: unknown, origin: Origin, key: string): string {
  const text = validateNonEmptyString(value, origin, key).trim();
  if (POSTGRES_URL.test(text)) {
    try {
      new URL(text);
    } catch {
      invalid(origin, key, `is not a valid PostgreSQL URL`);
    }
    return text;
  }
  if (ANY_URL.test(text)) {
    const where = origin.source === 'file' ? `${origin.label}: "${key}"` : origin.label;
    throw new SealtrailError(
      'unsupported_database_url',
      `${where} ${describe(redact(text))} is not supported: use a SQLite file path or a postgres:// URL`,
      { details: { key, source: origin.source } },
    );
  }
  return text === ':memory:' ? text : resolve(origin.baseDir, text);
}

/** Each sink kind and how the rest of its spec is checked; add a row to support a new sink. */
const SINK_KINDS: Record<string, (rest: string, origin: Origin, key: string) => string> = {
  file: (rest, origin) => resolve(origin.baseDir, rest),
  git: (rest, origin) => resolve(origin.baseDir, rest),
  witness: (rest, origin, key) => validateHttpUrl(rest, origin, key),
  webhook: (rest, origin, key) => validateHttpUrl(rest, origin, key),
  tiles: (rest, origin, key) => validateTilesTarget(rest, origin, key),
};

/** `file:<dir>` (resolved like the other paths) or `s3://<bucket>[/<prefix>][?options]`, checked as the sink will parse it. */
function validateTilesTarget(rest: string, origin: Origin, key: string): string {
  if (rest.startsWith('file:') && rest.length > 'file:'.length) return `file:${resolve(origin.baseDir, rest.slice('file:'.length))}`;
  if (rest.startsWith('s3://')) {
    try {
      parseS3Target(rest);
    } catch (err) {
      if (isSealtrailError(err)) invalid(origin, key, err.message);
      throw err;
    }
    return rest;
  }
  return invalid(origin, key, `must be tiles:file:<dir> or tiles:s3://<bucket>[/<prefix>], got ${describe(redact(`tiles:${rest}`))}`);
}

export function validateSinkSpec(spec: string, origin: Origin, key: string): string {
  const colon = spec.indexOf(':');
  const kind = colon > 0 ? spec.slice(0, colon) : '';
  const rest = colon > 0 ? spec.slice(colon + 1).trim() : '';
  const check = Object.hasOwn(SINK_KINDS, kind) ? SINK_KINDS[kind] : undefined;
  if (check === undefined || rest === '') {
    invalid(
      origin,
      key,
      `must be a sink spec <kind>:<target> with kind one of ${Object.keys(SINK_KINDS).join(', ')}, got ${describe(redact(spec))}`,
    );
  }
  return `${kind}:${check(rest, origin, key)}`;
}

/** A C2SP signed-note verifier key: `<name>+<8 hex key ID>+<base64 key>`; full parsing happens in core. */
const VERIFIER_KEY = /^[^+\s]+\+[0-9a-f]{8}\+[A-Za-z0-9+/]+={0,2}$/;

export function validateVerifierKey(vkey: string, origin: Origin, key: string): string {
  const text = vkey.trim();
  if (!VERIFIER_KEY.test(text)) {
    invalid(origin, key, `must be a verifier key of the form <name>+<key id hex>+<base64 key>, got ${describe(text)}`);
  }
  return text;
}

/** `<vkey>` or `<vkey>@<http(s) URL>`: the split is at the first `@` that starts a URL. */
export function validateWitnessKey(entry: string, origin: Origin, key: string): string {
  const text = entry.trim();
  const at = text.search(/@https?:\/\//i);
  const vkey = at < 0 ? text : text.slice(0, at);
  if (!VERIFIER_KEY.test(vkey)) {
    invalid(origin, key, `must be a witness verifier key <name>+<key id hex>+<base64 key>, optionally followed by @<witness URL>, got ${describe(redact(text))}`);
  }
  return at < 0 ? vkey : `${vkey}@${validateHttpUrl(text.slice(at + 1), origin, key)}`;
}

export function validateMonitor(value: unknown, origin: Origin, key: string): MonitorConfig {
  if (!isPlainObject(value)) invalid(origin, key, `must be an object, got ${describe(value)}`);
  const unknown = Object.keys(value).filter((k) => !(MONITOR_KEYS as readonly string[]).includes(k));
  if (unknown.length > 0) {
    invalid(origin, key, `has unknown key ${unknown.map((k) => `"${k}"`).join(', ')} (known: ${MONITOR_KEYS.join(', ')})`);
  }
  const monitor = monitorDefaults(origin.cwd);
  if (value['interval'] !== undefined) monitor.interval = validateDuration(value['interval'], origin, `${key}.interval`);
  if (value['window'] !== undefined) monitor.window = validateDuration(value['window'], origin, `${key}.window`);
  if (value['stateFile'] !== undefined) monitor.stateFile = validatePath(value['stateFile'], origin, `${key}.stateFile`);
  if (value['webhook'] !== undefined) monitor.webhook = validateHttpUrl(value['webhook'], origin, `${key}.webhook`);
  if (value['sinkMaxAge'] !== undefined) {
    monitor.sinkMaxAge = validateDuration(value['sinkMaxAge'], origin, `${key}.sinkMaxAge`);
  }
  if (value['sweep'] !== undefined) monitor.sweep = validatePositiveInteger(value['sweep'], origin, `${key}.sweep`);
  if (value['alertTable'] !== undefined) monitor.alertTable = validateAlertTableSetting(value['alertTable'], origin, `${key}.alertTable`);
  return monitor;
}

export function validateAlertTableSetting(value: unknown, origin: Origin, key: string): AlertTable {
  if (!isPlainObject(value)) invalid(origin, key, `must be an object { table, columns? }, got ${describe(value)}`);
  const unknown = Object.keys(value).filter((k) => k !== 'table' && k !== 'columns');
  if (unknown.length > 0) invalid(origin, key, `has unknown key ${unknown.map((k) => `"${k}"`).join(', ')} (known: table, columns)`);
  if (typeof value['table'] !== 'string') invalid(origin, key, `needs "table", a table name`);
  if (value['columns'] !== undefined && !isPlainObject(value['columns'])) invalid(origin, `${key}.columns`, `must be an object of alert field -> column name`);
  try {
    return validateAlertTable({ table: value['table'], ...(value['columns'] ? { columns: value['columns'] as AlertTable['columns'] } : {}) });
  } catch (err) {
    if (isSealtrailError(err)) invalid(origin, key, err.message);
    throw err;
  }
}


export function validateRoleName(value: unknown, origin: Origin, key: string): string {
  if (!isRoleName(value)) invalid(origin, key, `must be a plain PostgreSQL role name (a-z, 0-9, _; at most 63; not pg_…), got ${describe(value)}`);
  return value;
}

export const SERVER_KEYS: readonly (keyof ServerConfig)[] = ['host', 'port', 'bodyLimit', 'batchBodyLimit', 'rateLimit', 'rateLimitWindow', 'requestTimeout', 'publicLog', 'logLevel', 'payloads'];
const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const;

export function serverDefaults(): ServerConfig {
  return { host: '127.0.0.1', port: 7070, publicLog: false };
}

export function validatePort(value: unknown, origin: Origin, key: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 65535) invalid(origin, key, `must be a TCP port 0..65535, got ${describe(value)}`);
  return value;
}

export function validateServer(value: unknown, origin: Origin, key: string): ServerConfig {
  if (!isPlainObject(value)) invalid(origin, key, `must be an object, got ${describe(value)}`);
  const unknown = Object.keys(value).filter((k) => !(SERVER_KEYS as readonly string[]).includes(k));
  if (unknown.length > 0) invalid(origin, key, `has unknown key ${unknown.map((k) => `"${k}"`).join(', ')} (known: ${SERVER_KEYS.join(', ')})`);
  const server = serverDefaults();
  if (value['host'] !== undefined) server.host = validateNonEmptyString(value['host'], origin, `${key}.host`);
  if (value['port'] !== undefined) server.port = validatePort(value['port'], origin, `${key}.port`);
  for (const k of ['bodyLimit', 'batchBodyLimit', 'rateLimit'] as const) {
    if (value[k] !== undefined) server[k] = validatePositiveInteger(value[k], origin, `${key}.${k}`);
  }
  for (const k of ['rateLimitWindow', 'requestTimeout'] as const) {
    if (value[k] !== undefined) server[k] = validateDuration(value[k], origin, `${key}.${k}`);
  }
  if (value['publicLog'] !== undefined) {
    if (typeof value['publicLog'] !== 'boolean') invalid(origin, `${key}.publicLog`, `must be true or false, got ${describe(value['publicLog'])}`);
    server.publicLog = value['publicLog'];
  }
  if (value['payloads'] !== undefined) server.payloads = validateNonEmptyString(value['payloads'], origin, `${key}.payloads`);
  if (value['logLevel'] !== undefined) {
    const level = value['logLevel'];
    if (typeof level !== 'string' || !(LOG_LEVELS as readonly string[]).includes(level)) invalid(origin, `${key}.logLevel`, `must be one of ${LOG_LEVELS.join(', ')}, got ${describe(level)}`);
    server.logLevel = level as ServerConfig['logLevel'];
  }
  return server;
}
