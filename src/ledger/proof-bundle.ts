/**
 * Offline proof bundles for one ledger entry: a C2SP tlog-proof whose `extra` carries the entry
 * itself (spec.md, "Proof bundles"), so an auditor holding only the bundle and a verifier key can
 * check the entry's content, its leaf and its inclusion under a signed checkpoint. Any other
 * tlog-proof of this ledger (no `extra`) can still be checked for a leaf hash the auditor knows.
 */
import { canonicalHash } from '../core/canonical-json.js';
import { checkOrigin } from '../core/checkpoint.js';
import { SealtrailError } from '../core/errors.js';
import { equalBytes, fromHex } from '../core/hash.js';
import { ledgerLeafHash } from '../core/ledger-leaf.js';
import { NoteVerifier } from '../core/note.js';
import { formatTlogProof, parseTlogProof, verifyTlogProof } from '../core/tlog-proof.js';
import { microsFromIso } from '../core/timestamps.js';
import type { InclusionProof, LedgerEntry } from './ledger.js';

export interface CheckedProof {
  ok: boolean;
  /** Why the bundle was refused; null when ok. */
  reason: string | null;
  seq: number | null;
  kind: string | null;
  pk: string | null;
  origin: string | null;
  size: number | null;
  /**
   * True when the bundle carries no entry (no `extra`): only the inclusion of the given leaf hash
   * under the signed checkpoint was checked, not what the entry says.
   */
  inclusionOnly: boolean;
}

export interface CheckProofOptions {
  /** The origin the checkpoint must carry (default: the name of the log key that signed it). */
  origin?: string;
  /**
   * The leaf hash to check, for a bundle without `extra` (inclusion only). With `extra`, the
   * leaf recomputed from the entry must also equal it.
   */
  leafHash?: Uint8Array;
}

/** The bundle for `entry`, proven by `proof` under the signed checkpoint `checkpointNote` (same size). */
export function formatProofBundle(entry: LedgerEntry, proof: InclusionProof, checkpointNote: string): string {
  const extra = Buffer.from(
    JSON.stringify({ seq: entry.seq, kind: entry.kind, pk: entry.pk, event_hash: entry.eventHash.toString('hex'), appended_at: entry.appendedAt, payload: entry.payload }),
  );
  return formatTlogProof({ index: proof.index, inclusionProof: proof.proof, checkpointNote, extra });
}

/**
 * Verifies a bundle offline: the checkpoint signature (any of the trusted verifier keys) and its
 * origin (the signing key's name, or options.origin), the payload against its event_hash, and
 * inclusion of the leaf recomputed from the entry. A bundle without `extra` (any C2SP tlog-proof)
 * is checked for inclusion of options.leafHash only, and says so (`inclusionOnly`). Malformed
 * bundles, untrusted signatures, a foreign origin and a missing leaf hash throw coded errors; a
 * bundle that does not hold is `ok: false`.
 */
export function checkProofBundle(text: string, vkeys: readonly string[], options: CheckProofOptions = {}): CheckedProof {
  const verifiers = vkeys.map((k) => NoteVerifier.fromKey(k));
  const { extra } = parseTlogProof(text);
  const inclusionOnly = extra === undefined;
  const fail = (reason: string): CheckedProof => ({ ok: false, reason, seq: null, kind: null, pk: null, origin: null, size: null, inclusionOnly });
  if (options.leafHash !== undefined && options.leafHash.length !== 32) {
    throw new SealtrailError('invalid_argument', 'the leaf hash must be 32 bytes', { details: { length: options.leafHash.length } });
  }
  let entry: BundledEntry | null = null;
  let leaf: Uint8Array;
  if (extra === undefined) {
    if (options.leafHash === undefined) {
      throw new SealtrailError('invalid_argument', 'the bundle carries no entry (no extra line): pass the leaf hash to check its inclusion (--leaf-hash)');
    }
    leaf = options.leafHash;
  } else {
    entry = readEntry(extra);
    if (!entry) return fail('the entry in the extra line is not readable');
    if (entry.payload !== null && !canonicalHash(entry.payload).equals(entry.eventHash)) return fail('the payload does not match its event_hash');
    leaf = ledgerLeafHash(entry);
    if (options.leafHash !== undefined && !equalBytes(leaf, options.leafHash)) return fail('the entry in the bundle does not hash to the given leaf hash');
  }
  const result = verifyTlogProof(text, leaf, verifiers);
  checkOrigin(result.checkpoint.origin, result.verifiedBy.map((v) => v.name), options.origin);
  if (entry && result.index !== entry.seq - 1) return fail('the proof index does not match the entry seq');
  if (!result.ok) return fail('the inclusion proof does not lead to the signed root');
  return {
    ok: true,
    reason: null,
    seq: entry ? entry.seq : result.index + 1,
    kind: entry ? entry.kind : null,
    pk: entry ? entry.pk : null,
    origin: result.checkpoint.origin,
    size: Number(result.checkpoint.size),
    inclusionOnly,
  };
}

interface BundledEntry {
  seq: number;
  kind: string;
  pk: string;
  eventHash: Buffer;
  appendedAtMicros: bigint;
  payload: string | null;
}

/** The entry carried in `extra`, or null when it is not the JSON formatProofBundle writes. */
function readEntry(extra: Buffer): BundledEntry | null {
  try {
    const e = JSON.parse(extra.toString('utf8')) as Record<string, unknown>;
    if (!Number.isSafeInteger(e.seq) || typeof e.kind !== 'string' || typeof e.pk !== 'string' || typeof e.appended_at !== 'string') return null;
    if (e.payload !== null && typeof e.payload !== 'string') return null;
    const eventHash = fromHex(String(e.event_hash));
    if (eventHash.length !== 32) return null;
    return { seq: e.seq as number, kind: e.kind, pk: e.pk, eventHash, appendedAtMicros: microsFromIso(e.appended_at), payload: e.payload as string | null };
  } catch {
    return null;
  }
}
