/**
 * PostgreSQL capture: database triggers chain every row inserted into a watched table, either
 * inside the writer's transaction (sync) or through an outbox that a single sequencer chains after
 * commit (queued). The trigger, the canonical row form in SQL and the chaining function live in
 * migrations/postgres/; this module installs them, watches tables, runs the sequencer, backfills
 * rows that predate watching and builds the scan targets that find edited, deleted and unchained rows.
 * Watch, unwatch and install chain their configuration (capture-state.ts), and the scan holds the
 * catalog and the registry to what the chain says, not the other way round.
 */
export { SEALTRAIL_TABLES, type CaptureMode, type WatchedTable } from './resolve-table.js';
export { READ_ONLY_ROLE, assertRoleName, installCapture, isRoleName, type InstallOptions, type InstallReport } from './install-capture.js';
export { createAuditLog, listWatched, unwatchTable, watchTable, watchTables, type WatchOptions } from './watch-table.js';
export { SEQUENCER_LOCK_KEY, drainOutbox, runSequencer, type SequencerOptions } from './run-sequencer.js';
export { backfill, type BackfillResult } from './backfill.js';
export { captureScanTargets, scanCapture, type ScanOptions } from './scan-capture.js';
