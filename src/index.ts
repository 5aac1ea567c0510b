/**
 * `sealtrail`: the ledger. Everything exported here is a contract other tools depend on;
 * docs/api.md documents it. The byte formats are `sealtrail/formats`; the features are
 * `sealtrail/capture`, `sealtrail/anchor` and `sealtrail/tasks`.
 */
export { SealtrailError, ERROR_CATALOGUE, isSealtrailError, errorCodes } from './core/errors.js';
export type { ErrorCode } from './core/errors.js';

export { openLedger, Ledger, headToJson } from './ledger/ledger.js';
export type { LedgerOptions, Head, LedgerEntry, AppendResult, AppendPreparedOptions, InclusionProof, ConsistencyProof, CheckpointRecord } from './ledger/ledger.js';
export type { EventInput, PreparedEvent } from './ledger/prepare-event.js';
export { DEFAULT_MAX_PAYLOAD_BYTES } from './ledger/prepare-event.js';
export type { VerifyOptions, VerifyReport, VerifiedState, Divergence, DivergenceReason } from './ledger/verifier.js';
export { parseTrustedState } from './ledger/trusted-state.js';
export type { TrustedState, TrustedStateOptions } from './ledger/trusted-state.js';
export { REDACTION_EVENT_KIND } from './ledger/redaction.js';
export type { RedactionResult } from './ledger/redaction.js';
export { formatProofBundle, checkProofBundle } from './ledger/proof-bundle.js';
export type { CheckedProof, CheckProofOptions } from './ledger/proof-bundle.js';
export { scanTargets } from './ledger/scan.js';
export type { ScanTarget, ScanReport, ScanFinding, FindingType, DdlEvidence } from './ledger/scan.js';
export type { Store, Tx, Dialect, SqlValue, Tile, SessionLock, StoreCapabilities } from './store/store.js';
