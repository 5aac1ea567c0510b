/**
 * sealtrail's public API. Everything exported here is a contract other tools depend on;
 * docs/api.md documents it.
 */
export * from './core/index.js';

export { openLedger, Ledger, headToJson } from './ledger/ledger.js';
export type { LedgerOptions, Head, LedgerEntry, AppendResult, InclusionProof, ConsistencyProof, CheckpointRecord } from './ledger/ledger.js';
export type { EventInput } from './ledger/prepare-event.js';
export { DEFAULT_MAX_PAYLOAD_BYTES } from './ledger/prepare-event.js';
export type { VerifyOptions, VerifyReport, VerifiedState, Divergence, DivergenceReason } from './ledger/verifier.js';
export { parseTrustedState } from './ledger/trusted-state.js';
export { REDACTION_EVENT_KIND } from './ledger/redaction.js';
export type { RedactionResult } from './ledger/redaction.js';
export { formatProofBundle, checkProofBundle } from './ledger/proof-bundle.js';
export type { CheckedProof, CheckProofOptions } from './ledger/proof-bundle.js';
export type { TrustedState, TrustedStateOptions } from './ledger/trusted-state.js';
export { scanTargets } from './ledger/scan.js';
export type { ScanTarget, ScanReport, ScanFinding, FindingType, DdlEvidence } from './ledger/scan.js';
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

export { SIGNING_KEY_ENV, loadSigners, loadCosigner, readKeyFile, writeKeyFile, installAnchoring, raiseAlert, listAlerts, alertKey, deliverAlerts, validateAlertTable, type AlertTable, ALERT_EVENT_KIND, issueCheckpoint, publishPending, checkpointCosignatures, verifyAgainstSinks, Witness, startWitnessServer, runMonitor, runMonitorCycle, readMonitorState, writeMonitorState, openSink, GIT_SINK_FILE } from './anchor/index.js';
export type { SignerSource, Alert, AlertInput, AlertSeverity, PublishOptions, PublishReport, SinkPublishResult, SinkFinding, SinkFindingReason, SinkSummary, SinkVerifyReport, VerifyAgainstSinksOptions, RunningWitness, WitnessOptions, WitnessResponse, CycleReport, MonitorOptions, MonitorState, Sink, SinkKind, SinkRecord, SinkContents, PublishRecord, PublishOutcome, PublishContext, ReadContext, ConflictReason, RetryOptions } from './anchor/index.js';
export { CHECKPOINTS_TABLE, recomputeStates, verifyCheckpointsTable, parseWitnessKey, witnessVerifiersFor } from './anchor/index.js';
export type { LedgerState, RecomputedStates, SinkOptions } from './anchor/index.js';

export { installCapture, watchTable, watchTables, unwatchTable, listWatched, runSequencer, drainOutbox, backfill, scanCapture, captureScanTargets, createAuditLog, READ_ONLY_ROLE, SEALTRAIL_TABLES, SEQUENCER_LOCK_KEY } from './capture/capture.js';
export type { CaptureMode, WatchedTable, WatchOptions, InstallReport, SequencerOptions, BackfillResult, ScanOptions } from './capture/capture.js';
export { encodeRowKey, decodeRowKey, versionKey, parseVersionKey } from './core/row-key.js';
export type { RowVersionOp } from './core/row-key.js';
export { canonicalRow, canonicalRowAndPk } from './capture/canonical-row.js';
export type { RowColumn, ColumnTag } from './capture/canonical-row.js';
