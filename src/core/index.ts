/** The pure core: formats, hashes and proofs, with no I/O. docs/spec.md describes every byte. */
export * from './errors.js';
export * from './hash.js';
export * from './base64.js';
export * from './canonical-json.js';
export * from './chain.js';
export * from './merkle.js';
export * from './compact-range.js';
export * from './ledger-leaf.js';
export {
  SIGNATURE_TYPE_COSIGNATURE_V1,
  SIGNATURE_TYPE_ED25519,
  formatKeyId,
  formatVerifierKey,
  isValidKeyName,
  keyIdOf,
} from './note-key.js';
export * from './note.js';
export * from './checkpoint.js';
export * from './cosignature.js';
export * from './tlog-proof.js';
export * from './timestamps.js';
export * from './tlog-tiles.js';
