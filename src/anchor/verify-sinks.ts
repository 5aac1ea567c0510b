/**
 * Verification against sinks: every checkpoint every sink holds, and every row of the ledger's
 * own `checkpoints` table, must describe this ledger. A table-only verify cannot see a wholesale
 * re-chain (edit, then recompute every later hash and the tree) or a cut-off tail with the head
 * rewound; a checkpoint published outside the database can.
 *
 * Nothing the database computed is trusted: the chain hash and Merkle root at every published
 * size are recomputed from the entries in ONE streaming pass (recomputeStates), and compared with
 * what the signed notes (and the sinks' chain_hash fields) say. Findings carry the offending seq:
 *
 *   truncated           the ledger is smaller than a published size (seq = first missing entry)
 *   re_chained          chain hash or Merkle root at a published size differs from the recomputed one
 *   fork                two checkpoints of one size with different roots
 *   rollback            a sink's sizes go backwards
 *   sink_edited         a record inside the sink was edited, inserted or removed (hash link broken)
 *   sink_incomplete     the sink lacks a checkpoint anchor_sinks says it acknowledged
 *   sink_unreadable     the sink could not be read, does not exist, or holds nothing although
 *                       checkpoints exist and none was ever published to it (a misspelled spec)
 *   invalid_signature / invalid_note   a record's note is not a checkpoint signed by a trusted key
 *   invalid_cosignature a witness's checkpoint (or a cosignature stored in the checkpoints table)
 *                       does not verify under the witness's configured key
 *   witness_key_missing no --witness-vkey is configured for a witness sink
 *   checkpoint_edited   a row of the checkpoints table is not signed by a trusted key, or its
 *                       columns disagree with its signed note or the chain hash recomputed at its size
 */
import { openCheckpoint, type Checkpoint } from '../core/checkpoint.js';
import { canonicalHash } from '../core/canonical-json.js';
import { GENESIS_HASH, chainHash } from '../core/chain.js';
import { CompactRange } from '../core/compact-range.js';
import { CosignatureVerifier } from '../core/cosignature.js';
import { SealtrailError, isSealtrailError } from '../core/errors.js';
import { equalBytes } from '../core/hash.js';
import { ledgerLeafHash } from '../core/ledger-leaf.js';
import { NoteVerifier } from '../core/note.js';
import { redact } from '../core/redact.js';
import type { CheckpointRecord, Ledger } from '../ledger/ledger.js';
import type { SnapshotReader } from '../store/store.js';
import { type RetryOptions } from './retry.js';
import { sinkKey } from './sinks/sink-key.js';
import { openSink } from './sinks/index.js';
import type { Sink, SinkContents, SinkRecord } from './sinks/sink.js';
import { WitnessSink, hasValidCosignature, witnessVerifiersFor } from './sinks/witness-sink.js';

export type SinkFindingReason =
  | 'truncated'
  | 're_chained'
  | 'fork'
  | 'rollback'
  | 'sink_edited'
  | 'sink_incomplete'
  | 'invalid_signature'
  | 'invalid_note'
  | 'invalid_cosignature'
  | 'witness_key_missing'
  | 'sink_unreadable'
  | 'checkpoint_edited';

/** The `sink` named in findings about the ledger's own checkpoints table. */
export const CHECKPOINTS_TABLE = 'table:checkpoints';

export interface SinkFinding {
  sink: string;
  /** The offending seq, when one can be named. */
  seq: number | null;
  /** The published tree size the finding is about. */
  size: number | null;
  reason: SinkFindingReason;
  message: string;
}

export interface SinkSummary {
  sink: string;
  kind: Sink['kind'];
  records: number;
  readable: boolean;
  /** The newest record's size and time, for staleness checks. */
  latestSize: number | null;
  latestAppendedAt: string | null;
}

/** A sink that cannot be read back by design (a write-only webhook): listed, never a finding. */
export interface UncheckableSink {
  sink: string;
  kind: Sink['kind'];
  reason: string;
}

export interface SinkVerifyReport {
  ok: boolean;
  /** Sink records checked (checkpoints-table rows not included). */
  checked: number;
  /** Rows of the checkpoints table checked (0 when that check is off). */
  checkpointRows: number;
  sinks: SinkSummary[];
  /** Sinks that were not checked because they cannot be read back by design (a webhook without GET). */
  notCheckable: UncheckableSink[];
  findings: SinkFinding[];
}

export interface VerifyAgainstSinksOptions {
  sinks: readonly (string | Sink)[];
  /** Trusted log verifier keys; a record signed by any of them is accepted (key rotation). */
  vkeys: readonly string[];
  /** Witness cosigner keys (`--witness-vkey`), bound to witness sinks by name or URL. */
  witnessKeys?: readonly string[];
  /** Also check every row of the ledger's checkpoints table (default true). */
  checkpointsTable?: boolean;
  /**
   * A sink that holds nothing and was never published to is not a finding (default false: the
   * user named a sink that is not there). For a caller about to publish to new sinks (the monitor).
   */
  allowNeverPublished?: boolean;
  retry?: RetryOptions;
}

/** A ledger state recomputed from its entries. */
export interface LedgerState {
  size: number;
  chainHash: Buffer;
  root: Buffer;
}

export interface RecomputedStates {
  /** Ascending, one per requested size that the entries reach. */
  states: LedgerState[];
  /** How many entries were read in sequence. */
  size: number;
  /** The first seq found missing (a gap in audit_chain), if the pass stopped at one. */
  missingSeq: number | null;
}

interface Verified {
  size: number;
  root: Buffer;
  /** The chain hash the signed note commits to (sealtrail-chain-hash extension line), when it has one. */
  chainHash: Buffer | null;
  checkpoint: Checkpoint;
}

type Add = (f: Omit<SinkFinding, 'sink'>) => void;

export async function verifyAgainstSinks(ledger: Ledger, options: VerifyAgainstSinksOptions): Promise<SinkVerifyReport> {
  const verifiers = logVerifiers(options.vkeys);
  const sinks = options.sinks.map((s) => openSink(s, { ...options.retry, ...(options.witnessKeys ? { witnessKeys: options.witnessKeys } : {}) }));
  // One snapshot for everything read from the database (head, checkpoint rows, anchor_sinks, the
  // entries), so appends and publishes running meanwhile cannot make the parts disagree.
  return ledger.store.readSnapshot((snapshot) => verifyInSnapshot(ledger, snapshot, verifiers, sinks, options));
}

async function verifyInSnapshot(
  ledger: Ledger,
  snapshot: SnapshotReader,
  verifiers: NoteVerifier[],
  sinks: Sink[],
  options: VerifyAgainstSinksOptions,
): Promise<SinkVerifyReport> {
  const head = await snapshot.readHead();
  const rows = await ledger.checkpoints(snapshot);
  const origins = [...new Set([...verifiers.map((v) => v.name), ...rows.map((c) => c.origin)])];
  const report: SinkVerifyReport = { ok: true, checked: 0, checkpointRows: 0, sinks: [], notCheckable: [], findings: [] };
  const adder = (name: string): Add => (f) => {
    // One finding per (sink, reason): the first, which names the earliest offending seq.
    if (!report.findings.some((x) => x.sink === name && x.reason === f.reason)) report.findings.push({ sink: name, ...f });
  };

  // Read everything first, so the ledger is streamed once for all published sizes.
  const read: Array<{ sink: Sink; name: string; records: Array<{ record: SinkRecord; verified: Verified | null }> }> = [];
  for (const sink of sinks) {
    const name = redact(sink.spec);
    const add = adder(name);
    let contents: SinkContents;
    try {
      contents = await sink.read({ origins });
    } catch (err) {
      add({ seq: null, size: null, reason: 'sink_unreadable', message: redact((err as Error).message) });
      report.sinks.push({ sink: name, kind: sink.kind, records: 0, readable: false, latestSize: null, latestAppendedAt: null });
      continue;
    }
    if (contents.uncheckable !== undefined) {
      // Write-only by design: nothing it holds can be compared, and that is no sign of tampering.
      report.notCheckable.push({ sink: name, kind: sink.kind, reason: contents.uncheckable });
      report.sinks.push({ sink: name, kind: sink.kind, records: 0, readable: false, latestSize: null, latestAppendedAt: null });
      continue;
    }
    for (const p of contents.problems) add({ seq: p.seq, size: p.seq, reason: p.reason, message: p.message });
    if (!contents.readable) add({ seq: null, size: null, reason: 'sink_unreadable', message: `sink ${name} cannot be read back, so nothing it holds can be checked` });
    await checkCompleteness(snapshot, sink, contents, rows.length > 0 && options.allowNeverPublished !== true, add);
    const last = contents.records.at(-1);
    report.sinks.push({
      sink: name,
      kind: sink.kind,
      records: contents.records.length,
      readable: contents.readable,
      latestSize: last?.seq ?? null,
      latestAppendedAt: last?.appendedAt ?? null,
    });
    const cosigners = sink instanceof WitnessSink ? sink.verifiers : null;
    if (cosigners !== null && cosigners.length === 0 && contents.records.length > 0) {
      add({ seq: null, size: null, reason: 'witness_key_missing', message: `no --witness-vkey is configured for ${name}: its checkpoints cannot be told from a fake witness's` });
    }
    const records = contents.records.map((record) => {
      const verified = openRecord(record, verifiers, add);
      if (verified && cosigners !== null && cosigners.length > 0 && !hasValidCosignature(record.note, cosigners)) {
        add({ seq: verified.size, size: verified.size, reason: 'invalid_cosignature', message: `${where(record)} carries no valid cosignature by ${cosigners.map((c) => c.name).join(', ')}` });
      }
      return { record, verified };
    });
    read.push({ sink, name, records });
  }
  const checkTable = options.checkpointsTable ?? true;
  const openedRows = checkTable ? rows.map((row) => ({ row, verified: openRow(row, verifiers, adder(CHECKPOINTS_TABLE)) })) : [];

  const sizes = [...read.flatMap((r) => r.records.map((x) => x.verified?.size ?? -1)), ...openedRows.map((r) => r.verified?.size ?? -1)].filter((n) => n >= 0);
  const recomputed = await recomputeStates(snapshot, sizes.filter((n) => n <= head.size));
  const states = new Map(recomputed.states.map((s) => [s.size, s]));
  // A sink read after the snapshot was taken may hold a checkpoint issued since, larger than the
  // snapshot's head. The ledger only grows: if it has reached that size now, the checkpoint is
  // newer than this pass (the next one checks it); if it has not, the ledger was cut off.
  const beyond = sizes.some((n) => n > head.size) ? (await ledger.head()).size : head.size;
  const compare = (verified: Verified, chainHashHex: string | null): Mismatch =>
    verified.size > head.size && verified.size <= beyond ? null : mismatchAt(verified, chainHashHex, head.size, states, recomputed.missingSeq);

  const seenRoots = new Map<number, { root: Buffer; sink: string }>();
  for (const { name, records } of read) {
    const add = adder(name);
    let prev: Verified | null = null;
    let lastMatching = 0;
    for (const { record, verified } of records) {
      report.checked++;
      if (!verified) continue;
      if (prev && verified.size < prev.size) {
        add({ seq: verified.size, size: verified.size, reason: 'rollback', message: `${where(record)} has size ${verified.size}, smaller than the ${prev.size} before it` });
      }
      const other = seenRoots.get(verified.size);
      if (other && !equalBytes(other.root, verified.root)) {
        add({ seq: verified.size, size: verified.size, reason: 'fork', message: `${where(record)} has a different root at size ${verified.size} than ${other.sink}` });
      } else if (!other) {
        seenRoots.set(verified.size, { root: verified.root, sink: name });
      }
      const mismatch = compare(verified, record.chainHash);
      if (mismatch) add(mismatchFinding(mismatch, verified, `${where(record)}`, lastMatching, head.size));
      else lastMatching = Math.max(lastMatching, verified.size);
      prev = verified;
    }
  }

  if (checkTable) {
    const add = adder(CHECKPOINTS_TABLE);
    const cosignersFor = cosignerLookup(options.witnessKeys ?? []);
    let lastMatching = 0;
    for (const { row, verified } of openedRows) {
      report.checkpointRows++;
      if (!verified) continue;
      const label = `checkpoint id ${row.id}`;
      const mismatch = compare(verified, null);
      if (mismatch) {
        add(mismatchFinding(mismatch, verified, label, lastMatching, head.size));
        continue;
      }
      lastMatching = Math.max(lastMatching, verified.size);
      if (verified.size > 0 && verified.size <= head.size && !equalBytes(row.chainHash, states.get(verified.size)!.chainHash)) {
        add({ seq: verified.size, size: verified.size, reason: 'checkpoint_edited', message: `${label} (size ${verified.size}): its chain_hash column differs from the chain hash recomputed at that size` });
      }
      for (const c of row.cosignatures) {
        const cosigners = cosignersFor(c.sink);
        if (cosigners.length === 0) continue;
        if (!hasValidCosignature(`${row.note}${c.line}`, cosigners)) {
          add({ seq: verified.size, size: verified.size, reason: 'invalid_cosignature', message: `${label} (size ${verified.size}): the cosignature stored for ${c.sink} does not verify under its witness key` });
        }
      }
    }
  }
  report.ok = report.findings.length === 0;
  return report;
}

/**
 * Checks every row of the ledger's checkpoints table alone (no sinks): signature, columns against
 * the signed note, the state recomputed from the entries at its size, stored cosignatures.
 */
export async function verifyCheckpointsTable(
  ledger: Ledger,
  options: { vkeys: readonly string[]; witnessKeys?: readonly string[] },
): Promise<SinkVerifyReport> {
  return verifyAgainstSinks(ledger, { sinks: [], vkeys: options.vkeys, ...(options.witnessKeys ? { witnessKeys: options.witnessKeys } : {}) });
}

/**
 * Chain hash and Merkle root at each of `sizes`, recomputed from the entries in one streaming
 * pass: event hashes from the payloads (the stored event_hash only for a blanked payload), the
 * chain from genesis, leaves with the RFC 6962 compact range. Reads no stored hash it depends on.
 * Sizes past the entries present are left out (a gap stops the pass; missingSeq names it).
 */
export async function recomputeStates(source: Ledger | SnapshotReader, sizes: readonly number[]): Promise<RecomputedStates> {
  // The entries of one pass come from one snapshot: a live ledger moves between two batches.
  if ('store' in source) return source.store.readSnapshot((snapshot) => recomputeStates(snapshot, sizes));
  const wanted = [...new Set(sizes)].filter((n) => Number.isSafeInteger(n) && n >= 0).sort((a, b) => a - b);
  const states: LedgerState[] = [];
  const range = new CompactRange();
  let prev: Buffer = GENESIS_HASH;
  let next = 0;
  while (next < wanted.length && wanted[next] === 0) states.push({ size: wanted[next++]!, chainHash: Buffer.from(GENESIS_HASH), root: range.root() });
  const last = wanted.at(-1) ?? 0;
  let missingSeq: number | null = null;
  if (next < wanted.length) {
    outer: for await (const batch of source.entryBatches(1, last)) {
      for (const row of batch) {
        if (row.seq !== range.size + 1) {
          missingSeq = range.size + 1;
          break outer;
        }
        const eventHash = row.payload !== null ? canonicalHash(row.payload) : row.eventHash;
        prev = chainHash(prev, eventHash, row.seq);
        range.append(ledgerLeafHash({ kind: row.kind, pk: row.pk, eventHash, appendedAtMicros: row.appendedAtMicros }));
        if (row.seq === wanted[next]) {
          states.push({ size: row.seq, chainHash: prev, root: range.root() });
          next++;
        }
      }
    }
    if (missingSeq === null && range.size < last) missingSeq = range.size + 1;
  }
  return { states, size: range.size, missingSeq };
}

type Mismatch = null | { kind: 'truncated' } | { kind: 'missing'; seq: number } | { kind: 'Merkle root' | 'chain hash' };

function mismatchAt(cp: Verified, chainHashHex: string | null, headSize: number, states: Map<number, LedgerState>, missingSeq: number | null): Mismatch {
  if (cp.size > headSize) return { kind: 'truncated' };
  const state = states.get(cp.size);
  if (!state) return { kind: 'missing', seq: missingSeq ?? cp.size };
  if (!equalBytes(state.root, cp.root)) return { kind: 'Merkle root' };
  if (cp.chainHash !== null && !equalBytes(state.chainHash, cp.chainHash)) return { kind: 'chain hash' };
  if (chainHashHex !== null && state.chainHash.toString('hex') !== chainHashHex.toLowerCase()) return { kind: 'chain hash' };
  return null;
}

function mismatchFinding(m: NonNullable<Mismatch>, v: Verified, label: string, lastMatching: number, headSize: number): Omit<SinkFinding, 'sink'> {
  if (m.kind === 'truncated') {
    return {
      seq: headSize + 1,
      size: v.size,
      reason: 'truncated',
      message: `${label} commits to size ${v.size} but the ledger has only ${headSize} entries: entries ${headSize + 1}..${v.size} were removed`,
    };
  }
  if (m.kind === 'missing') {
    return { seq: m.seq, size: v.size, reason: 're_chained', message: `${label} commits to size ${v.size} but entry ${m.seq} is missing from the ledger` };
  }
  return {
    seq: v.size,
    size: v.size,
    reason: 're_chained',
    message: `${label}: the ${m.kind} recomputed from the ledger's entries at size ${v.size} differs from the published one; an entry in ${lastMatching + 1}..${v.size} was rewritten`,
  };
}

/**
 * A sink must still hold what anchor_sinks says it acknowledged; an empty or missing sink that
 * never acknowledged anything is a finding too when checkpoints exist (`strictEmpty`).
 */
async function checkCompleteness(snapshot: SnapshotReader, sink: Sink, contents: SinkContents, strictEmpty: boolean, add: Add): Promise<void> {
  if (!contents.readable) return;
  const acknowledged = await acknowledgedCheckpoint(snapshot, sinkKey(sink.spec));
  const what = contents.absent ? 'does not exist' : 'holds no checkpoint';
  if (contents.records.length === 0) {
    if (acknowledged) {
      add({
        seq: acknowledged.size,
        size: acknowledged.size,
        reason: contents.absent ? 'sink_unreadable' : 'sink_incomplete',
        message: `the sink ${what}, but the checkpoint of size ${acknowledged.size} was published to it`,
      });
    } else if (strictEmpty) {
      add({ seq: null, size: null, reason: 'sink_unreadable', message: `the sink ${what} and nothing was ever published to it: is the spec right?` });
    }
    return;
  }
  if (!acknowledged) return;
  const holds = sink.latestOnly ? Math.max(...contents.records.map((r) => r.seq)) >= acknowledged.size : contents.records.some((r) => r.note === acknowledged.note);
  if (!holds) {
    add({
      seq: acknowledged.size,
      size: acknowledged.size,
      reason: 'sink_incomplete',
      message: `the sink lacks the checkpoint of size ${acknowledged.size} it acknowledged (anchor_sinks): records were removed or the sink was replaced`,
    });
  }
}

/** The checkpoint last acknowledged by a sink, from anchor_sinks (null when none, or no anchoring tables yet). */
async function acknowledgedCheckpoint(snapshot: SnapshotReader, spec: string): Promise<{ size: number; note: string } | null> {
  try {
    const rows = await snapshot.query<{ size: number; note: string }>(
      'SELECT c.size AS size, c.note AS note FROM anchor_sinks s JOIN checkpoints c ON c.id = s.last_checkpoint_id WHERE s.sink = ? AND s.last_published_at IS NOT NULL',
      [spec],
    );
    return rows[0] ? { size: Number(rows[0].size), note: rows[0].note } : null;
  } catch (err) {
    if (isSealtrailError(err, 'schema_missing')) return null;
    throw err;
  }
}

function openRow(row: CheckpointRecord, verifiers: readonly NoteVerifier[], add: Add): Verified | null {
  const label = `checkpoint id ${row.id} (size column ${row.size})`;
  let verified: Verified;
  try {
    const { checkpoint } = openCheckpoint(row.note, verifiers);
    verified = { size: checkpoint.size, root: checkpoint.rootHash, chainHash: signedChainHash(checkpoint), checkpoint };
  } catch (err) {
    if (isSealtrailError(err, 'invalid_signature') || isSealtrailError(err, 'invalid_note')) {
      add({ seq: row.size, size: row.size, reason: 'checkpoint_edited', message: `${label}: its note is not a checkpoint signed by a trusted key (${err.message})` });
      return null;
    }
    throw err;
  }
  if (verified.checkpoint.origin !== row.origin || verified.size !== row.size || !equalBytes(verified.root, row.root)) {
    // Named by the row's own size: that is where the reader of the table was misled.
    add({
      seq: row.size,
      size: row.size,
      reason: 'checkpoint_edited',
      message: `${label}: its origin, size or root column differs from its signed note (origin ${verified.checkpoint.origin}, size ${verified.size})`,
    });
    return null;
  }
  return verified;
}

/**
 * The chain hash a checkpoint's signed text commits to. core/checkpoint.ts parses sealtrail's
 * chain-hash extension line into `chainHash` where that is supported; older notes have none.
 */
export function signedChainHash(checkpoint: Checkpoint): Buffer | null {
  const value = (checkpoint as Checkpoint & { chainHash?: unknown }).chainHash;
  return Buffer.isBuffer(value) && value.length === 32 ? value : null;
}

function where(record: SinkRecord): string {
  return `record ${record.position} (seq ${record.seq})`;
}

function openRecord(record: SinkRecord, verifiers: readonly NoteVerifier[], add: Add): Verified | null {
  try {
    const { checkpoint } = openCheckpoint(record.note, verifiers);
    if (checkpoint.size !== record.seq) {
      add({ seq: record.seq, size: checkpoint.size, reason: 'sink_edited', message: `${where(record)} claims seq ${record.seq} but its signed checkpoint is for size ${checkpoint.size}` });
    }
    return { size: checkpoint.size, root: checkpoint.rootHash, chainHash: signedChainHash(checkpoint), checkpoint };
  } catch (err) {
    if (isSealtrailError(err, 'invalid_signature') || isSealtrailError(err, 'invalid_note')) {
      add({ seq: record.seq, size: record.seq, reason: err.code as 'invalid_signature' | 'invalid_note', message: `${where(record)}: ${err.message}` });
      return null;
    }
    throw err;
  }
}

function logVerifiers(vkeys: readonly string[]): NoteVerifier[] {
  if (vkeys.length === 0) {
    throw new SealtrailError('invalid_argument', 'verifying against sinks needs at least one trusted verifier key (--vkey)');
  }
  return vkeys.map((k) => NoteVerifier.fromKey(k));
}

/** Stored cosignatures name their sink by its (redacted) spec; the keys bound to that witness URL. */
function cosignerLookup(witnessKeys: readonly string[]): (sink: string) => CosignatureVerifier[] {
  const cache = new Map<string, CosignatureVerifier[]>();
  return (sink) => {
    let found = cache.get(sink);
    if (!found) {
      found = sink.startsWith('witness:') ? witnessVerifiersFor(sink.slice('witness:'.length), witnessKeys) : [];
      cache.set(sink, found);
    }
    return found;
  };
}
