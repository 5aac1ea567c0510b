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

export { TaskAuditService } from './tasks/task-audit-service.js';
export type { RecordOperationInput, RecordGitChangesInput, TaskAuditQuery, RepoAuditQuery } from './tasks/task-audit-service.js';
export { TaskArtifactService } from './tasks/task-artifact-service.js';
export type { CreateRefInput, CreateCommitRefInput, CreateBranchRefInput, CreatePrRefInput, TaskArtifactQuery, RepoArtifactQuery } from './tasks/task-artifact-service.js';
export { TaskRunnerAuditor } from './tasks/task-runner-auditor.js';
export type { Repo, TaskRunnerAuditorOptions, RepoChangesResult } from './tasks/task-runner-auditor.js';
export { REF_TYPES } from './tasks/rows.js';
export type { TaskAudit, ArtifactRef, RefType } from './tasks/rows.js';
export { taskScanTargets } from './tasks/scan-targets.js';
export { captureGitChanges } from './tasks/git-capture.js';
export type { GitCapture, GitCaptureFailure } from './tasks/git-capture.js';
