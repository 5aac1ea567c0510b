/** `sealtrail/tasks`: task and repository audit on top of a ledger. */
export { TaskAuditService } from './task-audit-service.js';
export type { RecordOperationInput, RecordGitChangesInput, TaskAuditQuery, RepoAuditQuery } from './task-audit-service.js';
export { TaskArtifactService } from './task-artifact-service.js';
export type { CreateRefInput, CreateCommitRefInput, CreateBranchRefInput, CreatePrRefInput, TaskArtifactQuery, RepoArtifactQuery } from './task-artifact-service.js';
export { TaskRunnerAuditor } from './task-runner-auditor.js';
export type { Repo, TaskRunnerAuditorOptions, RepoChangesResult } from './task-runner-auditor.js';
export { REF_TYPES } from './rows.js';
export type { TaskAudit, ArtifactRef, RefType } from './rows.js';
export { taskScanTargets } from './scan-targets.js';
export { captureGitChanges } from './git-capture.js';
export type { GitCapture, GitCaptureFailure } from './git-capture.js';
