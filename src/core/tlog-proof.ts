/**
 * C2SP tlog-proof v1 (c2sp.org/tlog-proof@v1): a self-contained, offline-verifiable proof that a
 * leaf is in a log, for handing to auditors.
 *
 *   "c2sp.org/tlog-proof@v1\n"
 *   ["extra " base64(extra) "\n"]          optional, unauthenticated application data
 *   "index " decimal(index) "\n"           zero-based, no leading zeros
 *   [base64(hash) "\n"]*                   RFC 6962 inclusion path, leaf's sibling first
 *   "\n"
 *   signed checkpoint note, verbatim
 */
import { SealtrailError } from './errors.js';
import { decodeBase64, encodeBase64 } from './base64.js';
import { openCheckpoint, type Checkpoint } from './checkpoint.js';
import { verifyInclusion } from './merkle.js';
import type { SignatureVerifier } from './note.js';

const HEADER = 'c2sp.org/tlog-proof@v1';
const DECIMAL = /^(?:0|[1-9][0-9]*)$/;
/** A path in a tree of at most 2^64 leaves has at most 64 hashes. */
const MAX_PROOF_HASHES = 64;

export interface TlogProof {
  index: number;
  inclusionProof: Buffer[];
  checkpointNote: string;
  extra?: Buffer;
}

export interface TlogProofInput {
  index: number;
  inclusionProof: readonly Uint8Array[];
  checkpointNote: string;
  extra?: Uint8Array;
}

export function formatTlogProof({ index, inclusionProof, checkpointNote, extra }: TlogProofInput): string {
  if (!Number.isSafeInteger(index) || index < 0) {
    throw new SealtrailError('invalid_argument', 'index must be a non-negative safe integer', { details: { index } });
  }
  if (inclusionProof.length > MAX_PROOF_HASHES || inclusionProof.some((h) => h.length !== 32)) {
    throw new SealtrailError('invalid_argument', 'inclusion proof must be at most 64 hashes of 32 bytes');
  }
  if (checkpointNote.length === 0) throw new SealtrailError('invalid_argument', 'checkpoint note is empty');
  const lines = [HEADER];
  if (extra !== undefined) lines.push(`extra ${encodeBase64(extra)}`);
  lines.push(`index ${index}`, ...inclusionProof.map(encodeBase64), '');
  return `${lines.join('\n')}\n${checkpointNote}`;
}

export function parseTlogProof(text: string): TlogProof {
  const lines = text.split('\n');
  let at = 0;
  if (lines[at++] !== HEADER) throw malformed(`first line must be ${HEADER}`);
  let extra: Buffer | undefined;
  if (lines[at]?.startsWith('extra ')) {
    extra = decodeBase64(lines[at]!.slice('extra '.length));
    if (!extra) throw malformed('extra is not base64');
    at++;
  }
  const indexLine = lines[at++] ?? '';
  const indexText = indexLine.startsWith('index ') ? indexLine.slice('index '.length) : '';
  if (!DECIMAL.test(indexText) || !Number.isSafeInteger(Number(indexText))) {
    throw malformed('index line must be "index" and a decimal without leading zeros');
  }
  const inclusionProof: Buffer[] = [];
  for (; at < lines.length && lines[at] !== ''; at++) {
    const hash = decodeBase64(lines[at]!);
    if (!hash || hash.length !== 32) throw malformed('inclusion proof lines must be base64 of 32 bytes');
    inclusionProof.push(hash);
  }
  if (at >= lines.length) throw malformed('no empty line before the checkpoint');
  if (inclusionProof.length > MAX_PROOF_HASHES) throw malformed('inclusion proof longer than 64 hashes');
  const checkpointNote = lines.slice(at + 1).join('\n');
  if (checkpointNote.length === 0) throw malformed('missing checkpoint');
  return { index: Number(indexText), inclusionProof, checkpointNote, ...(extra ? { extra } : {}) };
}

/**
 * Opens the embedded checkpoint with the trusted verifiers (throws invalid_note /
 * invalid_signature as openNote does) and checks that leafHash is at index under its root.
 * ok is false when the inclusion proof does not hold; the caller still checks the origin
 * (checkOrigin with the names in verifiedBy).
 */
export function verifyTlogProof<V extends SignatureVerifier>(
  text: string,
  leafHash: Uint8Array,
  verifiers: readonly V[],
): { ok: boolean; checkpoint: Checkpoint; index: number; verifiedBy: V[]; extra?: Buffer } {
  const proof = parseTlogProof(text);
  const { checkpoint, note } = openCheckpoint(proof.checkpointNote, verifiers);
  const ok = verifyInclusion(proof.index, checkpoint.size, leafHash, proof.inclusionProof, checkpoint.rootHash);
  return { ok, checkpoint, index: proof.index, verifiedBy: note.verifiedBy, ...(proof.extra ? { extra: proof.extra } : {}) };
}

function malformed(message: string): SealtrailError {
  return new SealtrailError('invalid_proof', `malformed tlog-proof: ${message}`);
}
