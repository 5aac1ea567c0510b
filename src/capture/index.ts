/** `sealtrail/capture`: PostgreSQL row capture — install, watch, sequence, backfill, scan. */
export { installCapture, watchTable, watchTables, unwatchTable, listWatched, runSequencer, drainOutbox, backfill, scanCapture, captureScanTargets, createAuditLog, READ_ONLY_ROLE, SEALTRAIL_TABLES, SEQUENCER_LOCK_KEY } from './capture.js';
export type { CaptureMode, WatchedTable, WatchOptions, InstallReport, SequencerOptions, BackfillResult, ScanOptions } from './capture.js';
export { canonicalRow, canonicalRowAndPk } from './canonical-row.js';
export type { RowColumn, ColumnTag } from './canonical-row.js';
