/**
 * Verification against sinks: every checkpoint every sink holds must describe this ledger. A
 * table-only verify cannot see a wholesale re-chain (edit, then recompute every later hash and
 * the tree) or a cut-off tail with the head rewound; a checkpoint published outside the
 * database can. Findings carry the offending seq:
 *
 *   truncated        the ledger is smaller than a published size (seq = first missing entry)
 *   re_chained       chain hash or Merkle root at a published size differs from the ledger's
 *   fork             two checkpoints of one size with different roots, or successive ones inconsistent
 *   rollback         a sink's sizes go backwards
 *   sink_edited      a record inside the sink was edited, inserted or removed (hash link broken)
 *   invalid_signature / invalid_note   a record's note is not a checkpoint signed by a trusted key
 *   sink_unreadable  the sink could not be read
 */
import { openCheckpoint } from '../core/checkpoint.js';
import { SealtrailError, isSealtrailError } from '../core/errors.js';
import { equalBytes } from '../core/hash.js';
import { EMPTY_ROOT, verifyConsistency } from '../core/merkle.js';
import { NoteVerifier } from '../core/note.js';
import { redact } from '../core/redact.js';
import type { Ledger } from '../ledger/ledger.js';
import { type RetryOptions } from './retry.js';
import { openSink } from './sinks/index.js';
import { sinkKey } from './sinks/sink-key.js';
import type { Sink, SinkRecord } from './sinks/sink.js';

export type SinkFindingReason =
  | 'truncated'
  | 're_chained'
  | 'fork'
  | 'rollback'
  | 'sink_edited'
  | 'invalid_signature'
  | 'invalid_note'
  | 'sink_unreadable';

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

export interface SinkVerifyReport {
  ok: boolean;
  /** Sink records checked. */
  checked: number;
  sinks: SinkSummary[];
  findings: SinkFinding[];
}

export interface VerifyAgainstSinksOptions {
  sinks: readonly (string | Sink)[];
  /** Trusted log verifier keys; a record signed by any of them is accepted (key rotation). */
  vkeys: readonly string[];
  retry?: RetryOptions;
}

interface Verified {
  size: number;
  root: Buffer;
}

export async function verifyAgainstSinks(ledger: Ledger, options: VerifyAgainstSinksOptions): Promise<SinkVerifyReport> {
  if (options.vkeys.length === 0) {
    throw new SealtrailError('invalid_argument', 'verifying against sinks needs at least one trusted verifier key (--vkey)');
  }
  const verifiers = options.vkeys.map((k) => NoteVerifier.fromKey(k));
  const sinks = options.sinks.map((s) => openSink(s, options.retry));
  const head = await ledger.head();
  const origins = [...new Set([...verifiers.map((v) => v.name), ...(await ledger.checkpoints()).map((c) => c.origin)])];
  const ledgerFacts = new LedgerFacts(ledger, head.size);
  const report: SinkVerifyReport = { ok: true, checked: 0, sinks: [], findings: [] };
  const seenRoots = new Map<number, { root: Buffer; sink: string }>();

  for (const sink of sinks) {
    const name = redact(sink.spec);
    const add = (f: Omit<SinkFinding, 'sink'>) => {
      // One finding per (sink, reason): the first, which names the earliest offending seq.
      if (!report.findings.some((x) => x.sink === name && x.reason === f.reason)) report.findings.push({ sink: name, ...f });
    };
    let contents;
    try {
      contents = await sink.read({ origins });
    } catch (err) {
      add({ seq: null, size: null, reason: 'sink_unreadable', message: redact((err as Error).message) });
      report.sinks.push({ sink: name, kind: sink.kind, records: 0, readable: false, latestSize: null, latestAppendedAt: null });
      continue;
    }
    for (const p of contents.problems) add({ seq: p.seq, size: p.seq, reason: p.reason, message: redact(p.message) });
    if (contents.records.length === 0 && contents.readable) {
      const acknowledged = await publishedSize(ledger, sinkKey(sink.spec));
      if (acknowledged !== null) {
        add({ seq: acknowledged, size: acknowledged, reason: 'sink_edited', message: `the sink holds no checkpoint, but one of size ${acknowledged} was published to it` });
      }
    }
    const last = contents.records.at(-1);
    report.sinks.push({
      sink: name,
      kind: sink.kind,
      records: contents.records.length,
      readable: contents.readable,
      latestSize: last?.seq ?? null,
      latestAppendedAt: last?.appendedAt ?? null,
    });

    let prev: Verified | null = null;
    let lastMatching = 0;
    for (const record of contents.records) {
      report.checked++;
      const verified = openRecord(record, verifiers, add);
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

      const mismatch = await ledgerFacts.compare(verified, record.chainHash);
      if (mismatch === 'truncated') {
        add({
          seq: head.size + 1,
          size: verified.size,
          reason: 'truncated',
          message: `${where(record)} commits to size ${verified.size} but the ledger has only ${head.size} entries: entries ${head.size + 1}..${verified.size} were removed`,
        });
      } else if (mismatch) {
        add({
          seq: verified.size,
          size: verified.size,
          reason: 're_chained',
          message: `${where(record)}: the ledger's ${mismatch} at size ${verified.size} differs from the published one; an entry in ${lastMatching + 1}..${verified.size} was rewritten`,
        });
      } else {
        lastMatching = Math.max(lastMatching, verified.size);
        if (prev && prev.size >= 1 && prev.size < verified.size && verified.size <= head.size) {
          const proof = await ledger.proveConsistency(prev.size, verified.size);
          if (!verifyConsistency(prev.size, verified.size, prev.root, verified.root, proof.proof)) {
            add({ seq: verified.size, size: verified.size, reason: 'fork', message: `${where(record)} is not consistent with the checkpoint at size ${prev.size} before it` });
          }
        }
      }
      prev = verified;
    }
  }
  report.ok = report.findings.length === 0;
  return report;
}

/** The size last acknowledged by a sink, from anchor_sinks (null when none, or no anchoring tables yet). */
async function publishedSize(ledger: Ledger, spec: string): Promise<number | null> {
  try {
    const rows = await ledger.store.query<{ size: number }>(
      'SELECT c.size AS size FROM anchor_sinks s JOIN checkpoints c ON c.id = s.last_checkpoint_id WHERE s.sink = ? AND s.last_published_at IS NOT NULL',
      [spec],
    );
    return rows[0] ? Number(rows[0].size) : null;
  } catch {
    return null;
  }
}

function where(record: SinkRecord): string {
  return `record ${record.position} (seq ${record.seq})`;
}

function openRecord(record: SinkRecord, verifiers: NoteVerifier[], add: (f: Omit<SinkFinding, 'sink'>) => void): Verified | null {
  try {
    const { checkpoint } = openCheckpoint(record.note, verifiers);
    if (checkpoint.size !== record.seq) {
      add({ seq: record.seq, size: checkpoint.size, reason: 'sink_edited', message: `${where(record)} claims seq ${record.seq} but its signed checkpoint is for size ${checkpoint.size}` });
    }
    return { size: checkpoint.size, root: checkpoint.rootHash };
  } catch (err) {
    if (isSealtrailError(err, 'invalid_signature') || isSealtrailError(err, 'invalid_note')) {
      add({ seq: record.seq, size: record.seq, reason: err.code as 'invalid_signature' | 'invalid_note', message: `${where(record)}: ${err.message}` });
      return null;
    }
    throw err;
  }
}

/** Roots and chain hashes of the ledger at published sizes, each read once. */
class LedgerFacts {
  private readonly roots = new Map<number, Buffer>();

  constructor(
    private readonly ledger: Ledger,
    private readonly size: number,
  ) {}

  /** null when the ledger matches; otherwise what differs. */
  async compare(cp: Verified, chainHashHex: string | null): Promise<null | 'truncated' | 'Merkle root' | 'chain hash'> {
    if (cp.size > this.size) return 'truncated';
    if (cp.size === 0) return equalBytes(cp.root, EMPTY_ROOT) ? null : 'Merkle root';
    let root = this.roots.get(cp.size);
    if (!root) {
      try {
        root = await this.ledger.rootAt(cp.size);
      } catch (err) {
        if (isSealtrailError(err, 'integrity_failure')) return 'Merkle root';
        throw err;
      }
      this.roots.set(cp.size, root);
    }
    if (!equalBytes(root, cp.root)) return 'Merkle root';
    if (chainHashHex !== null) {
      const entry = await this.ledger.entry(cp.size);
      if (!entry) return 'truncated';
      if (entry.chainHash.toString('hex') !== chainHashHex.toLowerCase()) return 'chain hash';
    }
    return null;
  }
}
