/**
 * Configuration resolution: CLI flag > environment > config file > default, per setting.
 *
 * Every setting is one row of SETTINGS: where it may come from, how a string (flag or environment)
 * becomes a value, and how a value is validated. Adding a setting means adding a row and a field
 * to ResolvedConfig; nothing else changes. Errors name the key and the source so an operator can
 * find the bad line without guessing which of three places won.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { validateAlertTable, type AlertTable } from '../anchor/alerts.js';
import { isRoleName, READ_ONLY_ROLE } from '../capture/capture.js';
import { isSealtrailError, SealtrailError } from '../core/errors.js';
import { redact } from '../core/redact.js';

export const CONFIG_FILE_NAME = 'sealtrail.config.json';

export interface MonitorConfig {
  /** How often the monitor checks; a duration string accepted by parseDuration. */
  interval: string;
  /** How far back each check looks; a duration string accepted by parseDuration. */
  window: string;
  /** Absolute path of the file where the monitor keeps what it has already seen. */
  stateFile: string;
  /** Where alerts are POSTed. */
  webhook?: string;
  /** Alert when a sink's newest checkpoint is older than this duration. */
  sinkMaxAge?: string;
  /** Rolling sweep: entries of the old ledger verified per cycle instead of the whole ledger. */
  sweep?: number;
  /** An existing table of the operator's every alert is additionally inserted into. */
  alertTable?: AlertTable;
}

export interface Settings {
  /** Absolute SQLite file path (or `:memory:`), or a `postgres://` / `postgresql://` URL. */
  db: string;
  maxPayloadBytes: number;
  /** Absolute path of the signing key file. Only the path is ever held here, never key material. */
  keyFile?: string;
  /** Sink specs (`file:/abs/path`, `git:/abs/dir`, `witness:https://…`, `webhook:https://…`). */
  sinks: string[];
  /** Verifier keys (C2SP note vkeys) trusted when verifying checkpoints. */
  vkeys: string[];
  /**
   * Witness cosigner keys (C2SP tlog-cosignature vkeys), each `<vkey>` (bound to the witness
   * sink whose URL without scheme is the key's name) or `<vkey>@<witness-url>`.
   */
  witnessVkeys: string[];
  /** The PostgreSQL read-only role `init` creates and grants. */
  readOnlyRole: string;
  monitor: MonitorConfig;
}

export type SettingKey = keyof Settings;
export type ConfigSource = 'flag' | 'env' | 'file' | 'default';

export interface ResolvedConfig extends Settings {
  /** Absolute path of the config file that was read, or null when none was. */
  configFile: string | null;
  /** Which source supplied each setting. */
  sources: Record<SettingKey, ConfigSource>;
}

export interface ResolveConfigOptions {
  /** Parsed CLI options (commander's `optsWithGlobals()` fits); unrelated keys are ignored. */
  flags?: Readonly<Record<string, unknown>>;
  env?: Readonly<Record<string, string | undefined>>;
  cwd?: string;
}

/** Where a raw value came from, for messages, plus the directory relative paths resolve against. */
interface Origin {
  source: ConfigSource;
  /** Human description, e.g. `--db`, `environment SEALTRAIL_DB`, `config file /x/sealtrail.config.json`. */
  label: string;
  baseDir: string;
  /** Defaults are relative to the working directory wherever the other values came from. */
  cwd: string;
}

interface Setting<K extends SettingKey> {
  key: K;
  /** Property name in the parsed CLI options, when the setting has a flag. */
  flag?: string;
  /** The flag as the user types it, for messages. */
  flagName?: string;
  env?: string;
  /** Turns a string from a flag or the environment into the shape `validate` expects. */
  fromString?: (raw: string) => unknown;
  /** Checks and normalises a value; throws via `invalid()` on bad input. */
  validate: (value: unknown, origin: Origin, key: string) => Settings[K];
  defaultValue: (cwd: string) => Settings[K] | undefined;
}

type SettingTable = { [K in SettingKey]: Setting<K> };

const SETTINGS: SettingTable = {
  db: {
    key: 'db',
    flag: 'db',
    flagName: '--db',
    env: 'SEALTRAIL_DB',
    validate: validateDatabase,
    defaultValue: (cwd) => resolve(cwd, 'sealtrail.db'),
  },
  maxPayloadBytes: {
    key: 'maxPayloadBytes',
    env: 'SEALTRAIL_MAX_PAYLOAD_BYTES',
    fromString: (raw) => (/^\d+$/.test(raw.trim()) ? Number(raw.trim()) : raw),
    validate: validatePositiveInteger,
    defaultValue: () => 1_048_576,
  },
  keyFile: {
    key: 'keyFile',
    env: 'SEALTRAIL_KEY_FILE',
    validate: validatePath,
    defaultValue: () => undefined,
  },
  sinks: {
    key: 'sinks',
    env: 'SEALTRAIL_SINKS',
    fromString: splitList,
    validate: (value, origin, key) =>
      validateStringList(value, origin, key).map((spec, i) => validateSinkSpec(spec, origin, `${key}[${i}]`)),
    defaultValue: () => [],
  },
  vkeys: {
    key: 'vkeys',
    env: 'SEALTRAIL_VKEYS',
    fromString: splitList,
    validate: (value, origin, key) =>
      validateStringList(value, origin, key).map((vkey, i) => validateVerifierKey(vkey, origin, `${key}[${i}]`)),
    defaultValue: () => [],
  },
  witnessVkeys: {
    key: 'witnessVkeys',
    flag: 'witnessVkey',
    flagName: '--witness-vkey',
    env: 'SEALTRAIL_WITNESS_VKEYS',
    fromString: splitList,
    validate: (value, origin, key) =>
      validateStringList(value, origin, key).map((entry, i) => validateWitnessKey(entry, origin, `${key}[${i}]`)),
    defaultValue: () => [],
  },
  readOnlyRole: {
    key: 'readOnlyRole',
    flag: 'readOnlyRole',
    flagName: '--read-only-role',
    env: 'SEALTRAIL_READ_ONLY_ROLE',
    validate: (value, origin, key) => {
      if (!isRoleName(value)) invalid(origin, key, `must be a plain PostgreSQL role name (a-z, 0-9, _; at most 63; not pg_…), got ${describe(value)}`);
      return value;
    },
    defaultValue: () => READ_ONLY_ROLE,
  },
  monitor: {
    key: 'monitor',
    validate: validateMonitor,
    defaultValue: (cwd) => monitorDefaults(cwd),
  },
};

const MONITOR_KEYS: readonly (keyof MonitorConfig)[] = ['interval', 'window', 'stateFile', 'webhook', 'sinkMaxAge', 'sweep', 'alertTable'];

function monitorDefaults(baseDir: string): MonitorConfig {
  return { interval: '1h', window: '24h', stateFile: resolve(baseDir, '.sealtrail', 'monitor-state.json') };
}

export function resolveConfig(options: ResolveConfigOptions = {}): ResolvedConfig {
  const flags = options.flags ?? {};
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();

  const file = readConfigFile(flags, env, cwd);
  const settings: Partial<Record<SettingKey, unknown>> = {};
  const sources = {} as Record<SettingKey, ConfigSource>;

  for (const setting of Object.values(SETTINGS) as Setting<SettingKey>[]) {
    const found = lookup(setting, flags, env, cwd, file);
    if (found === undefined) {
      settings[setting.key] = setting.defaultValue(cwd);
      sources[setting.key] = 'default';
    } else {
      settings[setting.key] = setting.validate(found.value, found.origin, setting.key);
      sources[setting.key] = found.origin.source;
    }
  }

  const resolved = { ...settings, configFile: file?.path ?? null, sources } as ResolvedConfig;
  if (resolved.keyFile === undefined) delete resolved.keyFile;
  return resolved;
}

function lookup(
  setting: Setting<SettingKey>,
  flags: Readonly<Record<string, unknown>>,
  env: Readonly<Record<string, string | undefined>>,
  cwd: string,
  file: ConfigFile | null,
): { value: unknown; origin: Origin } | undefined {
  if (setting.flag !== undefined && flags[setting.flag] !== undefined) {
    const raw = flags[setting.flag];
    const origin: Origin = { source: 'flag', label: setting.flagName ?? `--${setting.flag}`, baseDir: cwd, cwd };
    return { value: typeof raw === 'string' && setting.fromString ? setting.fromString(raw) : raw, origin };
  }
  if (setting.env !== undefined) {
    const raw = env[setting.env];
    // An empty variable counts as unset, the way shells and CI systems commonly "clear" one.
    if (raw !== undefined && raw !== '') {
      const origin: Origin = { source: 'env', label: `environment ${setting.env}`, baseDir: cwd, cwd };
      return { value: setting.fromString ? setting.fromString(raw) : raw, origin };
    }
  }
  if (file !== null && Object.hasOwn(file.values, setting.key)) {
    const origin: Origin = { source: 'file', label: `config file ${file.path}`, baseDir: dirname(file.path), cwd };
    return { value: file.values[setting.key], origin };
  }
  return undefined;
}

interface ConfigFile {
  path: string;
  values: Record<string, unknown>;
}

function readConfigFile(
  flags: Readonly<Record<string, unknown>>,
  env: Readonly<Record<string, string | undefined>>,
  cwd: string,
): ConfigFile | null {
  let path: string;
  let explicit: string | undefined;
  if (typeof flags['config'] === 'string' && flags['config'] !== '') {
    explicit = '--config';
    path = resolve(cwd, flags['config']);
  } else if (env['SEALTRAIL_CONFIG'] !== undefined && env['SEALTRAIL_CONFIG'] !== '') {
    explicit = 'environment SEALTRAIL_CONFIG';
    path = resolve(cwd, env['SEALTRAIL_CONFIG']);
  } else {
    path = resolve(cwd, CONFIG_FILE_NAME);
    if (!existsSync(path)) return null;
  }

  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : 'cannot be read';
    throw new SealtrailError('config_invalid', `config file ${path} ${reason}${explicit ? ` (named by ${explicit})` : ''}`, {
      cause: err,
      details: { file: path },
    });
  }

  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new SealtrailError('config_invalid', `config file ${path} is not valid JSON: ${(err as Error).message}`, {
      cause: err,
      details: { file: path },
    });
  }
  if (!isPlainObject(parsed)) {
    throw new SealtrailError('config_invalid', `config file ${path} must contain a JSON object`, { details: { file: path } });
  }
  const unknown = Object.keys(parsed).filter((key) => !Object.hasOwn(SETTINGS, key));
  if (unknown.length > 0) {
    throw new SealtrailError(
      'config_invalid',
      `config file ${path}: unknown key${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `"${k}"`).join(', ')} ` +
        `(known: ${Object.keys(SETTINGS).join(', ')})`,
      { details: { file: path, keys: unknown } },
    );
  }
  return { path, values: parsed };
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

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function splitList(raw: string): string[] {
  return raw
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '');
}

function validateNonEmptyString(value: unknown, origin: Origin, key: string): string {
  if (typeof value !== 'string' || value.trim() === '') {
    invalid(origin, key, `must be a non-empty string, got ${describe(value)}`);
  }
  return value;
}

function validatePositiveInteger(value: unknown, origin: Origin, key: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    invalid(origin, key, `must be a positive integer, got ${describe(value)}`);
  }
  return value;
}

function validatePath(value: unknown, origin: Origin, key: string): string {
  return resolve(origin.baseDir, validateNonEmptyString(value, origin, key));
}

function validateStringList(value: unknown, origin: Origin, key: string): string[] {
  if (!Array.isArray(value)) invalid(origin, key, `must be an array of strings, got ${describe(value)}`);
  return value.map((item, i) => validateNonEmptyString(item, origin, `${key}[${i}]`));
}

function validateDuration(value: unknown, origin: Origin, key: string): string {
  const text = validateNonEmptyString(value, origin, key);
  try {
    parseDuration(text);
  } catch {
    invalid(origin, key, `must be a duration such as 15s, 30m, 1h or 2d, got ${describe(value)}`);
  }
  return text.trim();
}

function validateHttpUrl(value: unknown, origin: Origin, key: string): string {
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

function validateDatabase(value: unknown, origin: Origin, key: string): string {
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
};

function validateSinkSpec(spec: string, origin: Origin, key: string): string {
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

function validateVerifierKey(vkey: string, origin: Origin, key: string): string {
  const text = vkey.trim();
  if (!VERIFIER_KEY.test(text)) {
    invalid(origin, key, `must be a verifier key of the form <name>+<key id hex>+<base64 key>, got ${describe(text)}`);
  }
  return text;
}

/** `<vkey>` or `<vkey>@<http(s) URL>`: the split is at the first `@` that starts a URL. */
function validateWitnessKey(entry: string, origin: Origin, key: string): string {
  const text = entry.trim();
  const at = text.search(/@https?:\/\//i);
  const vkey = at < 0 ? text : text.slice(0, at);
  if (!VERIFIER_KEY.test(vkey)) {
    invalid(origin, key, `must be a witness verifier key <name>+<key id hex>+<base64 key>, optionally followed by @<witness URL>, got ${describe(redact(text))}`);
  }
  return at < 0 ? vkey : `${vkey}@${validateHttpUrl(text.slice(at + 1), origin, key)}`;
}

function validateMonitor(value: unknown, origin: Origin, key: string): MonitorConfig {
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

function validateAlertTableSetting(value: unknown, origin: Origin, key: string): AlertTable {
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

// ---------------------------------------------------------------------------------------------

