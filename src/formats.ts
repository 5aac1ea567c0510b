/**
 * `sealtrail/formats`: the pure byte formats, everything an offline verifier needs and nothing
 * that does I/O — canonical JSON, hashes, the hash chain, Merkle trees and proof verification,
 * the ledger leaf, C2SP signed notes, checkpoints, cosignatures and tlog-proof bundles, row keys,
 * timestamps and the error catalogue. docs/spec.md describes every byte.
 */
export * from './core/index.js';
export { AMBIGUOUS_ROW_KEY, VERSION_INFIX, encodeRowKey, decodeRowKey, versionKey, parseVersionKey } from './core/row-key.js';
export type { RowVersionOp } from './core/row-key.js';
