/**
 * What every sink type implements: publish one signed checkpoint durably, and read back what it
 * holds so a verifier can compare it with the ledger. One file per sink type, same interface.
 */

/** A checkpoint as handed to a sink: the ledger's record plus the chain hash at its size. */
export interface PublishRecord {
  checkpointId: number;
  origin: string;
  /** The tree size, which is also the seq of the last entry it covers. */
  seq: number;
  chainHash: Buffer;
  root: Buffer;
  /** The signed checkpoint note. */
  note: string;
}

export interface PublishContext {
  /** RFC 6962 consistency proof between two sizes of the ledger (the witness sink needs it). */
  proveConsistency(oldSize: number, newSize: number): Promise<Buffer[]>;
  /** The size last accepted by this sink, when known (the witness sink's `old` guess). */
  previousSize: number | null;
  /**
   * The ledger's size now (read when asked, so appends by others are seen). A witness holding a
   * larger tree than this is a rollback alarm; one holding a larger tree up to this size was
   * served by another publisher of the same ledger.
   */
  currentSize(): Promise<number>;
  /**
   * The ledger's entries seq in [from, to] as leaf_data and leaf hash, in order (the tiles sink
   * publishes them as entry bundles and tiles).
   */
  leaves(from: number, to: number): AsyncIterable<PublishedLeaf>;
}

/** One ledger entry as the tiles sink publishes it: its leaf_data and SHA-256(0x00 ‖ leaf_data). */
export interface PublishedLeaf {
  data: Buffer;
  hash: Buffer;
}

export type ConflictReason = 'witness_rollback' | 'witness_fork';

export type PublishOutcome =
  | { status: 'published'; cosignatures?: string[] }
  | { status: 'conflict'; reason: ConflictReason; message: string; witnessSize: number | null }
  /** The witness already holds a larger tree of this ledger (another publisher): publish a checkpoint of at least that size instead. */
  | { status: 'superseded'; witnessSize: number };

/** One checkpoint as read back from a sink. */
export interface SinkRecord {
  /** The seq (= tree size) the record claims; compared with the signed note. */
  seq: number;
  /** Hex chain hash at seq, when the sink keeps it (file, git, webhook). */
  chainHash: string | null;
  appendedAt: string | null;
  note: string;
  /** 1-based position in the sink (line number), for messages. */
  position: number;
}

export type SinkProblemReason = 'sink_edited' | 'sink_unreadable';

export interface SinkProblem {
  seq: number | null;
  reason: SinkProblemReason;
  message: string;
}

export interface SinkContents {
  records: SinkRecord[];
  problems: SinkProblem[];
  /**
   * False when the sink cannot be read back at all (a witness without the read endpoint, an I/O
   * error). verifyAgainstSinks reports such a sink as `sink_unreadable` unless `uncheckable` says
   * it is write-only by design.
   */
  readable: boolean;
  /** True when the sink's storage does not exist at all (no file yet); its records are then empty. */
  absent?: boolean;
  /**
   * Set (to why) when the sink cannot be read back by design — a write-only webhook — as opposed
   * to a sink that should be readable and is not. verifyAgainstSinks lists it as not checkable,
   * never as a finding.
   */
  uncheckable?: string;
}

export interface ReadContext {
  /** Origins of the logs being verified (a witness keeps one checkpoint per origin). */
  origins: readonly string[];
}

export type SinkKind = 'file' | 'git' | 'witness' | 'webhook' | 'tiles';

export interface Sink {
  readonly kind: SinkKind;
  /** The spec as given (`file:/path`, `witness:https://…`); the key anchoring state is kept under. */
  readonly spec: string;
  /** True when only the newest checkpoint matters (a witness); false for append-only logs. */
  readonly latestOnly: boolean;
  publish(record: PublishRecord, ctx: PublishContext): Promise<PublishOutcome>;
  read(ctx: ReadContext): Promise<SinkContents>;
}
