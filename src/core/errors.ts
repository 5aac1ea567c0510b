/**
 * The one error class sealtrail throws, carrying a code from a closed catalogue.
 * docs/errors.md documents every code; test/core/errors.test.ts keeps the two in sync.
 * Callers (and tests) branch on `code`, never on the message.
 */

/** Every code, with its CLI exit status and the HTTP status the future API will answer with. */
export const ERROR_CATALOGUE = {
  // input
  invalid_argument: { exit: 2, http: 400 },
  invalid_json: { exit: 2, http: 400 },
  non_canonical_value: { exit: 2, http: 400 },
  unsafe_integer: { exit: 2, http: 400 },
  invalid_event: { exit: 2, http: 400 },
  payload_too_large: { exit: 2, http: 413 },
  duplicate_event: { exit: 2, http: 409 },
  already_redacted: { exit: 2, http: 409 },
  not_redactable: { exit: 2, http: 409 },
  out_of_range: { exit: 2, http: 404 },
  invalid_limit: { exit: 2, http: 400 },
  invalid_ref_type: { exit: 2, http: 400 },
  // configuration and environment
  config_invalid: { exit: 2, http: 500 },
  unsupported_database_url: { exit: 2, http: 500 },
  database_unreachable: { exit: 2, http: 503 },
  database_error: { exit: 2, http: 500 },
  permission_denied: { exit: 2, http: 403 },
  schema_ahead: { exit: 2, http: 500 },
  schema_missing: { exit: 2, http: 500 },
  migration_changed: { exit: 2, http: 500 },
  unsupported_backend: { exit: 2, http: 409 },
  // formats, proofs and keys
  invalid_note: { exit: 1, http: 422 },
  invalid_signature: { exit: 1, http: 422 },
  invalid_proof: { exit: 1, http: 422 },
  origin_mismatch: { exit: 1, http: 422 },
  invalid_key: { exit: 2, http: 400 },
  verifier_key_required: { exit: 2, http: 400 },
  key_unavailable: { exit: 2, http: 500 },
  // integrity
  integrity_failure: { exit: 1, http: 409 },
  // capture
  table_not_found: { exit: 2, http: 404 },
  primary_key_missing: { exit: 2, http: 400 },
  table_reserved: { exit: 2, http: 400 },
  logical_decoding_unavailable: { exit: 2, http: 500 },
  // anchoring
  sink_failed: { exit: 2, http: 502 },
  tile_conflict: { exit: 1, http: 409 },
  witness_conflict: { exit: 1, http: 409 },
  alert_table_failed: { exit: 2, http: 502 },
  witness_state_invalid: { exit: 2, http: 500 },
  // servers
  address_in_use: { exit: 2, http: 500 },
  // task audit
  spool_failed: { exit: 2, http: 500 },
  // pipeline audit store
  audit_integrity: { exit: 1, http: 409 },
  payload_store_failed: { exit: 2, http: 500 },
  // pipeline engine
  pipeline_settings_invalid: { exit: 2, http: 400 },
  pipeline_plugin_failed: { exit: 2, http: 500 },
  // files shared between processes
  lock_failed: { exit: 2, http: 503 },
  // HTTP API
  unauthorized: { exit: 2, http: 401 },
  forbidden: { exit: 2, http: 403 },
  not_found: { exit: 2, http: 404 },
  unsupported_media_type: { exit: 2, http: 415 },
  rate_limited: { exit: 2, http: 429 },
  // fallback
  internal: { exit: 2, http: 500 },
} as const satisfies Record<string, { exit: 0 | 1 | 2; http: number }>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

export class SealtrailError extends Error {
  override readonly name = 'SealtrailError';
  readonly code: ErrorCode;
  /** Machine-readable facts about the failure (never secrets). */
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options?.details;
  }

  get exitCode(): 0 | 1 | 2 {
    return ERROR_CATALOGUE[this.code].exit;
  }

  get httpStatus(): number {
    return ERROR_CATALOGUE[this.code].http;
  }

  toJSON(): { code: ErrorCode; message: string; details?: Record<string, unknown> } {
    return this.details === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, details: { ...this.details } };
  }
}

export function isSealtrailError(err: unknown, code?: ErrorCode): err is SealtrailError {
  return err instanceof SealtrailError && (code === undefined || err.code === code);
}

export function errorCodes(): ErrorCode[] {
  return Object.keys(ERROR_CATALOGUE) as ErrorCode[];
}
