/**
 * C2SP tlog-checkpoint v1: the note text a log signs to commit to its tree head.
 *
 *   origin "\n" decimal(size) "\n" base64(root hash) "\n" [extension line "\n"]*
 *
 * Parsing is strict (size without leading zeros, a canonical base64 32-byte root, non-empty
 * extension lines) so one tree head has exactly one checkpoint text. Sizes are numbers: a tree
 * beyond 2^53 leaves is refused rather than rounded.
 */
import { SealtrailError } from './errors.js';
import { decodeBase64, encodeBase64 } from './base64.js';
import { openNote, signNote, type NoteSigner, type NoteSignature, type SignatureVerifier } from './note.js';

export interface Checkpoint {
  origin: string;
  size: number;
  rootHash: Buffer;
  extensions: string[];
}

export interface CheckpointInput {
  origin: string;
  size: number | bigint;
  rootHash: Uint8Array;
  extensions?: readonly string[];
}

const DECIMAL = /^(?:0|[1-9][0-9]*)$/;

export function formatCheckpoint({ origin, size, rootHash, extensions = [] }: CheckpointInput): string {
  if (!isLine(origin)) throw invalid('origin must be a non-empty line');
  const n = typeof size === 'bigint' ? Number(size) : size;
  if (!Number.isSafeInteger(n) || n < 0 || BigInt(n) !== BigInt(size)) {
    throw invalid('size must be a non-negative safe integer', { size: String(size) });
  }
  if (rootHash.length !== 32) throw invalid('rootHash must be 32 bytes', { length: rootHash.length });
  if (!extensions.every(isLine)) throw invalid('extension lines must be non-empty lines');
  return [origin, String(n), encodeBase64(rootHash), ...extensions].map((line) => `${line}\n`).join('');
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
  return { origin, size: Number(sizeText), rootHash, extensions };
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

function isLine(text: string): boolean {
  return typeof text === 'string' && text.length > 0 && !text.includes('\n');
}

function invalid(message: string, details?: Record<string, unknown>): SealtrailError {
  return new SealtrailError('invalid_argument', message, details ? { details } : undefined);
}

function malformed(message: string): SealtrailError {
  return new SealtrailError('invalid_note', `malformed checkpoint: ${message}`);
}
