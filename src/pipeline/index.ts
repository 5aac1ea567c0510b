/** `sealtrail/pipeline`: the pipeline audit store (docs/pipeline.md) on top of a ledger. */
export { PipelineRecorder } from './pipeline-recorder.js';
export type {
  PipelineRecorderOptions,
  BeginRunInput,
  RegisterNodeInput,
  OpenStateInput,
  CompleteStateInput,
  OutcomeInput,
  CallInput,
  RouteInput,
  RunAudit,
} from './pipeline-recorder.js';
export { PayloadStore } from './payload-store.js';
export type { PayloadRead } from './payload-store.js';
export { pipelineScanTargets } from './scan-targets.js';
export { stableHash, errorHash, canonicalText } from './stable-hash.js';
export { checkRecord, OUTCOMES, OUTCOME_REQUIRED, STATE_RULES, CANONICAL_VERSION } from './record-rules.js';
export type { Outcome, StateStatus, RunStatus } from './record-rules.js';
export { PIPELINE_TABLES } from './tables.js';
export { sweepRun, SWEEP_QUERIES } from './audit-sweep.js';
export type { SweepReport, SweepFinding, SweepQuery } from './audit-sweep.js';
export { explain, lineageEntries } from './lineage.js';
export type { Lineage, TokenLineage, ExplainTarget } from './lineage.js';
export { exportRunJsonl, openLineageEvents, postOpenLineage } from './run-export.js';
export type { PipelineTable, PipelineRecord } from './tables.js';
