/**
 * A state of the ledger the verifier trusts because it was kept outside the database: the JSON
 * printed by `sealtrail head --json` ({size, chain_hash hex, root base64}) or a signed checkpoint
 * note. A note is trusted only through a signature by one of the given log keys, and only for the
 * log it names (its origin is the signing key's name, or the origin the caller expects).
 */
import { decodeBase64 } from '../core/base64.js';
import { openLogCheckpoint } from '../core/checkpoint.js';
import { SealtrailError } from '../core/errors.js';
import { fromHex } from '../core/hash.js';
import type { NoteVerifier } from '../core/note.js';

export interface TrustedState {
  size: number;
  root: Buffer;
  /** Absent for a checkpoint without the sealtrail-chain-hash line (older or foreign checkpoints). */
  chainHash?: Buffer;
  /**
   * The compact-range frontier at `size` (one hash per set bit of size, left to right), e.g. a
   * monitor's VerifyReport.frontier. Lets `skipPrefix` start from hashes the verifier computed
   * itself instead of the database's stored tree.
   */
  frontier?: Buffer[];
}

export interface TrustedStateOptions {
  /** The origin a checkpoint note must carry (default: the name of the log key that signed it). */
  origin?: string;
}

/**
 * Parses `sealtrail head --json` output or a checkpoint note. A note needs verifier keys
 * (verifier_key_required without them), a valid signature by one of them (invalid_signature) and
 * the expected origin (origin_mismatch).
 */
export function parseTrustedState(text: string, verifiers: readonly NoteVerifier[] = [], options: TrustedStateOptions = {}): TrustedState {
  const trimmed = text.trimStart();
  if (trimmed.startsWith('{')) return trustedFromJson(trimmed);
  if (verifiers.length === 0) {
    throw new SealtrailError('verifier_key_required', 'a checkpoint note is trusted only through its signature: pass the log verifier key (--vkey)');
  }
  try {
    const { checkpoint } = openLogCheckpoint(text, verifiers, options);
    const state: TrustedState = { size: checkpoint.size, root: Buffer.from(checkpoint.rootHash) };
    if (checkpoint.chainHash) state.chainHash = Buffer.from(checkpoint.chainHash);
    return state;
  } catch (err) {
    if (err instanceof SealtrailError) throw err;
    throw new SealtrailError('invalid_argument', 'the trusted state is neither head JSON nor a checkpoint note', { cause: err });
  }
}

function trustedFromJson(text: string): TrustedState {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new SealtrailError('invalid_json', `trusted state is not valid JSON: ${(err as Error).message}`);
  }
  const v = value as { size?: unknown; chain_hash?: unknown; root?: unknown };
  if (!Number.isSafeInteger(v.size) || (v.size as number) < 0) {
    throw new SealtrailError('invalid_argument', 'trusted state needs "size", a non-negative integer');
  }
  const root = typeof v.root === 'string' ? decodeBase64(v.root) : undefined;
  if (!root || root.length !== 32) throw new SealtrailError('invalid_argument', 'trusted state needs "root", 32 bytes in base64');
  const state: TrustedState = { size: v.size as number, root };
  if (v.chain_hash !== undefined) {
    if (typeof v.chain_hash !== 'string' || !/^[0-9a-f]{64}$/i.test(v.chain_hash)) {
      throw new SealtrailError('invalid_argument', 'trusted state "chain_hash" must be 32 bytes in hex');
    }
    state.chainHash = fromHex(v.chain_hash);
  }
  return state;
}
