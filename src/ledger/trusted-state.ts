/**
 * A state of the ledger the verifier trusts because it was kept outside the database: the JSON
 * printed by `sealtrail head --json` ({size, chain_hash hex, root base64}) or a checkpoint note.
 */
import { decodeBase64 } from '../core/base64.js';
import { openCheckpoint, parseCheckpoint } from '../core/checkpoint.js';
import { SealtrailError } from '../core/errors.js';
import { fromHex } from '../core/hash.js';
import type { NoteVerifier } from '../core/note.js';

export interface TrustedState {
  size: number;
  root: Buffer;
  /** Absent when the trusted state is a checkpoint (checkpoints commit to the Merkle root only). */
  chainHash?: Buffer;
  /**
   * The compact-range frontier at `size` (one hash per set bit of size, left to right), e.g. a
   * monitor's VerifyReport.frontier. Lets `skipPrefix` start from hashes the verifier computed
   * itself instead of the database's stored tree.
   */
  frontier?: Buffer[];
}

/** Parses `sealtrail head --json` output or a checkpoint note (signature checked when verifiers are given). */
export function parseTrustedState(text: string, verifiers: NoteVerifier[] = []): TrustedState {
  const trimmed = text.trimStart();
  if (trimmed.startsWith('{')) return trustedFromJson(trimmed);
  try {
    if (verifiers.length > 0) {
      const { checkpoint } = openCheckpoint(text, verifiers);
      return { size: Number(checkpoint.size), root: Buffer.from(checkpoint.rootHash) };
    }
    const body = text.includes('\n\n') ? text.slice(0, text.lastIndexOf('\n\n') + 1) : text;
    const checkpoint = parseCheckpoint(body);
    return { size: Number(checkpoint.size), root: Buffer.from(checkpoint.rootHash) };
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
