/**
 * sealtrail's public API. Everything exported here is a contract other tools depend on;
 * docs/api.md documents it.
 */
export * from './core/index.js';

export { openLedger, Ledger, headToJson } from './ledger/ledger.js';
export type { LedgerOptions, Head, LedgerEntry, AppendResult, InclusionProof, ConsistencyProof, CheckpointRecord } from './ledger/ledger.js';
export type { EventInput } from './ledger/prepare-event.js';
export { DEFAULT_MAX_PAYLOAD_BYTES } from './ledger/prepare-event.js';
export type { VerifyOptions, VerifyReport, Divergence, DivergenceReason } from './ledger/verifier.js';
export { parseTrustedState } from './ledger/trusted-state.js';
export type { TrustedState } from './ledger/trusted-state.js';
export { scanTargets } from './ledger/scan.js';
export type { ScanTarget, ScanReport, ScanFinding, FindingType } from './ledger/scan.js';
export type { Store, Tx, Dialect, SqlValue } from './store/store.js';
