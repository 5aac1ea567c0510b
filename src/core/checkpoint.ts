/**
 * C2SP tlog-checkpoint v1: the note text a log signs to commit to its tree head.
 *
 *   origin "\n" decimal(size) "\n" base64(root hash) "\n" [extension line "\n"]*
 *
 * sealtrail's own extension line binds the hash chain as well as the tree, so anyone holding
 * only the signed note (a witness-only sink, an auditor) can check both:
 *
 *   "sealtrail-chain-hash " hex(chain_hash at size) "\n"      first extension line, 64 lowercase hex
 *
 * Standard C2SP parsers treat it as an opaque extension line; it is signed (and, per
 * tlog-cosignature, cosigned) with the rest of the text. Parsing is strict (size without leading
 * zeros, a canonical base64 32-byte root, non-empty extension lines, at most one chain-hash line
 * and only as the first extension) so one tree head has exactly one checkpoint text. Unknown
 * extension lines are kept. Sizes are numbers: a tree beyond 2^53 leaves is refused rather than
 * rounded.
 */
import { SealtrailError } from './errors.js';
import { decodeBase64, encodeBase64 } from './base64.js';
import { openNote, signNote, type NoteSigner, type NoteSignature, type SignatureVerifier } from './note.js';

export interface Checkpoint {
  origin: string;
  size: number;
  rootHash: Buffer;
  /** The chain hash at `size`, from the sealtrail-chain-hash line; absent when the line is. */
  chainHash?: Buffer;
  /** Every other extension line, in order (the chain-hash line is not repeated here). */
  extensions: string[];
}

export interface CheckpointInput {
  origin: string;
  size: number | bigint;
  rootHash: Uint8Array;
  /** Written as the sealtrail-chain-hash extension line, before `extensions`. */
  chainHash?: Uint8Array;
  extensions?: readonly string[];
}

/** The keyword of sealtrail's chain-hash extension line (followed by one space and 64 hex digits). */
export const CHAIN_HASH_EXTENSION = 'sealtrail-chain-hash';

const DECIMAL = /^(?:0|[1-9][0-9]*)$/;
const CHAIN_HASH_PREFIX = `${CHAIN_HASH_EXTENSION} `;
const CHAIN_HASH_LINE = /^sealtrail-chain-hash ([0-9a-f]{64})$/;

export function formatCheckpoint({ origin, size, rootHash, chainHash, extensions = [] }: CheckpointInput): string {
  if (!isLine(origin)) throw invalid('origin must be a non-empty line');
  const n = typeof size === 'bigint' ? Number(size) : size;
  if (!Number.isSafeInteger(n) || n < 0 || BigInt(n) !== BigInt(size)) {
    throw invalid('size must be a non-negative safe integer', { size: String(size) });
  }
  if (rootHash.length !== 32) throw invalid('rootHash must be 32 bytes', { length: rootHash.length });
  if (!extensions.every(isLine)) throw invalid('extension lines must be non-empty lines');
  if (extensions.some(isChainHashKeyword)) throw invalid(`pass the chain hash as chainHash, not as a ${CHAIN_HASH_EXTENSION} extension line`);
  const lines = [origin, String(n), encodeBase64(rootHash)];
  if (chainHash !== undefined) {
    if (chainHash.length !== 32) throw invalid('chainHash must be 32 bytes', { length: chainHash.length });
    lines.push(`${CHAIN_HASH_PREFIX}${Buffer.from(chainHash).toString('hex')}`);
  }
  return [...lines, ...extensions].map((line) => `${line}\n`).join('');
}

export function parseCheckpoint(text: string): Checkpoint {
  if (!text.endsWith('\n')) throw malformed('checkpoint text must end with a newline');
  const lines = text.slice(0, -1).split('\n');
  if (lines.length < 3) throw malformed('checkpoint needs origin, size and root hash lines');
  const [origin, sizeText, rootText, ...extensions] = lines as [string, string, string, ...string[]];
  if (origin.length === 0) throw malformed('empty origin');
  if (!DECIMAL.test(sizeText) || !Number.isSafeInteger(Number(sizeText))) {
    throw malformed('size must be a decimal without leading zeros, at most 2^53-1');
  }
  const rootHash = decodeBase64(rootText);
  if (!rootHash || rootHash.length !== 32) throw malformed('root hash must be base64 of 32 bytes');
  if (extensions.some((line) => line.length === 0)) throw malformed('empty extension line');
  const checkpoint: Checkpoint = { origin, size: Number(sizeText), rootHash, extensions };
  if (extensions[0] !== undefined && isChainHashKeyword(extensions[0])) {
    const m = CHAIN_HASH_LINE.exec(extensions[0]);
    if (!m) throw malformed(`${CHAIN_HASH_EXTENSION} must be followed by one space and 64 lowercase hex digits`);
    checkpoint.chainHash = Buffer.from(m[1]!, 'hex');
    checkpoint.extensions = extensions.slice(1);
  }
  if (checkpoint.extensions.some(isChainHashKeyword)) throw malformed(`${CHAIN_HASH_EXTENSION} may appear once, as the first extension line`);
  return checkpoint;
}

export function signCheckpoint(checkpoint: CheckpointInput, signers: readonly NoteSigner[]): string {
  return signNote(formatCheckpoint(checkpoint), signers);
}

/**
 * Opens a signed checkpoint with trusted verifiers (log keys and/or cosigners). The caller still
 * decides whether the origin is the log it expects; verification only proves who signed.
 */
export function openCheckpoint<V extends SignatureVerifier>(
  noteText: string,
  verifiers: readonly V[],
): { checkpoint: Checkpoint; note: { text: string; verifiedBy: V[]; signatures: NoteSignature[] } } {
  const note = openNote(noteText, verifiers);
  return { checkpoint: parseCheckpoint(note.text), note };
}

/**
 * Opens a log's checkpoint and checks that it names the log the caller trusts: its origin must be
 * `options.origin` when given, else the name of a log key that signed it (C2SP: the log's key
 * name matches its origin). Throws origin_mismatch otherwise, after the signature checks.
 */
export function openLogCheckpoint<V extends SignatureVerifier>(
  noteText: string,
  verifiers: readonly V[],
  options: { origin?: string } = {},
): { checkpoint: Checkpoint; note: { text: string; verifiedBy: V[]; signatures: NoteSignature[] } } {
  const opened = openCheckpoint(noteText, verifiers);
  checkOrigin(opened.checkpoint.origin, opened.note.verifiedBy.map((v) => v.name), options.origin);
  return opened;
}

/** origin_mismatch unless `origin` is `expected` (when given) or one of `keyNames`. */
export function checkOrigin(origin: string, keyNames: readonly string[], expected?: string): void {
  if (expected !== undefined ? origin === expected : keyNames.includes(origin)) return;
  const wanted = expected !== undefined ? `the expected origin ${JSON.stringify(expected)}` : `the name of the key that signed it (${keyNames.map((n) => JSON.stringify(n)).join(', ')})`;
  throw new SealtrailError('origin_mismatch', `checkpoint origin ${JSON.stringify(origin)} is not ${wanted}`, {
    details: { origin, ...(expected !== undefined ? { expected } : { keys: [...keyNames] }) },
  });
}

/** A line claiming to be the chain-hash extension (well-formed or not). */
function isChainHashKeyword(line: string): boolean {
  return line === CHAIN_HASH_EXTENSION || line.startsWith(CHAIN_HASH_PREFIX);
}

function isLine(text: string): boolean {
  return typeof text === 'string' && text.length > 0 && !text.includes('\n');
}

function invalid(message: string, details?: Record<string, unknown>): SealtrailError {
  return new SealtrailError('invalid_argument', message, details ? { details } : undefined);
}

function malformed(message: string): SealtrailError {
  return new SealtrailError('invalid_note', `malformed checkpoint: ${message}`);
}
