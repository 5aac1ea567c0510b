/** The shapes of configuration: the settings, where each value came from, and the monitor's block. */
import type { AlertTable } from '../../anchor/alerts.js';

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

/** `sealtrail serve` settings (config key `server`); --host and --port override host and port. */
export interface ServerConfig {
  host: string;
  port: number;
  /** Largest request body in bytes (default: maxPayloadBytes + 64 KiB). */
  bodyLimit?: number;
  /** Largest JSON Lines body of POST /api/events/batch (default 16 MiB). */
  batchBodyLimit?: number;
  /** Requests allowed per token per rateLimitWindow (default 6000). */
  rateLimit?: number;
  /** Duration of the rate-limit window (default 1m). */
  rateLimitWindow?: string;
  /** A request still running after this is answered 408 (default 30s). */
  requestTimeout?: string;
  /** Whether the /log/ transparency-log reads need no token (default false). */
  publicLog: boolean;
  /** The pipeline payload store's directory, for row data and routing reasons in lineage (default: none). */
  payloads?: string;
  /** Request log level (default info: one line per request; debug adds one when it arrives). */
  logLevel?: 'error' | 'warn' | 'info' | 'debug';
}

export interface Settings {
  /** Absolute SQLite file path (or `:memory:`), or a `postgres://` / `postgresql://` URL. */
  db: string;
  maxPayloadBytes: number;
  /** Absolute path of the signing key file. Only the path is ever held here, never key material. */
  keyFile?: string;
  /** Sink specs (`file:/abs/path`, `git:/abs/dir`, `witness:https://…`, `webhook:https://…`, `tiles:file:/abs/dir`, `tiles:s3://bucket/prefix`). */
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
  server: ServerConfig;
}

export type SettingKey = keyof Settings;
export type ConfigSource = 'flag' | 'env' | 'file' | 'default';

export interface ResolvedConfig extends Settings {
  /** Absolute path of the config file that was read, or null when none was. */
  configFile: string | null;
  /** Which source supplied each setting. */
  sources: Record<SettingKey, ConfigSource>;
}

/** Where a raw value came from, for messages, plus the directory relative paths resolve against. */
export interface Origin {
  source: ConfigSource;
  /** Human description, e.g. `--db`, `environment SEALTRAIL_DB`, `config file /x/sealtrail.config.json`. */
  label: string;
  baseDir: string;
  /** Defaults are relative to the working directory wherever the other values came from. */
  cwd: string;
}
