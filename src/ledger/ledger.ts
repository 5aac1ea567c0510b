/**
 * The ledger: append (group commit), head, streaming reads, verification, proofs and signed
 * checkpoints, over either backend. Features (capture, anchoring, task audit) build on this API.
 */
import { encodeBase64 } from '../core/base64.js';
import { signCheckpoint } from '../core/checkpoint.js';
import { SealtrailError } from '../core/errors.js';
import type { NoteSigner } from '../core/note.js';
import { ledgerLeafHash } from '../core/ledger-leaf.js';
import { assertMigrated, loadMigrations, migrate } from '../store/migrate.js';
import { openStore } from '../store/open-store.js';
import type { EntryRow, HeadRow, Queryable, Store, Tx } from '../store/store.js';
import { isoFromMicros } from '../core/timestamps.js';
import { Appender, type AppendedEntry } from './appender.js';
import { DEFAULT_MAX_PAYLOAD_BYTES, checkPreparedEvent, prepareEvent, type EventInput, type PreparedEvent } from './prepare-event.js';
import { consistencyPath, inclusionPath, rootAt } from './prover.js';
import { redactEntry, type RedactionResult } from './redaction.js';
import { convertToTiles, tileConversionPending } from './tile-conversion.js';
import { verifyLedger, type VerifyOptions, type VerifyReport } from './verifier.js';

export interface LedgerOptions {
  /** A SQLite file path or a postgres:// URL. */
  url: string;
  /** Largest canonical payload accepted, in bytes (default 1 MiB). */
  maxPayloadBytes?: number;
  /** Create or upgrade the schema on open (default true). Read-only verifiers pass false. */
  migrate?: boolean;
  /** PostgreSQL pool size (default 10). */
  poolSize?: number;
}

export type Head = HeadRow;

/** An audit_chain row as the API returns it. */
export interface LedgerEntry extends EntryRow {
  /** appended_at as ISO-8601 UTC with microseconds. */
  appendedAt: string;
  /** The RFC 6962 leaf hash (index seq − 1). */
  leafHash: Buffer;
}

export interface AppendResult extends LedgerEntry {
  /** True when the identical event was already in the ledger (idempotent append). */
  existing: boolean;
}

export type { PreparedEvent } from './prepare-event.js';

export interface AppendPreparedOptions<T> {
  /**
   * The caller's own domain write, run in the same transaction as the entries, inside this
   * unit's savepoint and under the ledger's write lock, after the entries are written. If it
   * throws, neither its writes nor the entries are kept, the promise rejects with its error, and
   * other callers' events in the same group commit are unaffected. It gets no entries (building
   * them would lengthen the locked section; appendWith's write gets them).
   */
  inTransaction?: (tx: Tx) => Promise<T>;
}

export interface InclusionProof {
  seq: number;
  index: number;
  size: number;
  leafHash: Buffer;
  root: Buffer;
  proof: Buffer[];
}

export interface ConsistencyProof {
  oldSize: number;
  newSize: number;
  oldRoot: Buffer;
  newRoot: Buffer;
  proof: Buffer[];
}

export interface CheckpointRecord {
  id: number;
  origin: string;
  size: number;
  root: Buffer;
  chainHash: Buffer;
  note: string;
  createdAt: string;
  /** Witness cosignature lines stored with it, by the (redacted) sink that returned them. */
  cosignatures: Array<{ sink: string; line: string }>;
}

/**
 * The `cosignatures` column (JSONB on PostgreSQL, JSON text on SQLite) as a list; anything that
 * is not a list of {sink, line} strings is left out (verifying a cosignature is the reader's job).
 */
function cosignatureList(value: unknown): Array<{ sink: string; line: string }> {
  let parsed: unknown = value;
  if (typeof value === 'string') {
    try {
      parsed = JSON.parse(value);
    } catch {
      return [];
    }
  }
  if (!Array.isArray(parsed)) return [];
  return parsed.filter((c): c is { sink: string; line: string } => typeof (c as { sink?: unknown })?.sink === 'string' && typeof (c as { line?: unknown })?.line === 'string');
}

const LEDGER_MIGRATIONS = new URL('./migrations/', import.meta.url);

export function ledgerMigrations(store: Store) {
  return loadMigrations(LEDGER_MIGRATIONS, store.dialect);
}

export async function openLedger(options: LedgerOptions): Promise<Ledger> {
  const maxPayloadBytes = options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
  if (!Number.isSafeInteger(maxPayloadBytes) || maxPayloadBytes < 1) {
    throw new SealtrailError('invalid_argument', 'maxPayloadBytes must be a positive integer');
  }
  const migrating = options.migrate ?? true;
  const store = openStore(options.url, { poolSize: options.poolSize, mustExist: !migrating });
  try {
    const migrations = ledgerMigrations(store);
    if (migrating) {
      await migrate(store, 'ledger', migrations);
      await convertToTiles(store);
    } else {
      await assertMigrated(store, 'ledger', migrations);
      if (await tileConversionPending(store)) {
        throw new SealtrailError('schema_missing', `the ledger at ${store.location} still needs its Merkle tiles built; open it once read-write (e.g. \`sealtrail init\`)`);
      }
    }
  } catch (err) {
    await store.close().catch(() => {});
    throw err;
  }
  return new Ledger(store, maxPayloadBytes, options.url);
}

function toEntry(row: EntryRow, leafHash?: Buffer): LedgerEntry {
  return {
    seq: row.seq,
    kind: row.kind,
    pk: row.pk,
    eventHash: row.eventHash,
    prevHash: row.prevHash,
    chainHash: row.chainHash,
    appendedAtMicros: row.appendedAtMicros,
    payload: row.payload,
    appendedAt: isoFromMicros(row.appendedAtMicros),
    leafHash: leafHash ?? ledgerLeafHash({ kind: row.kind, pk: row.pk, eventHash: row.eventHash, appendedAtMicros: row.appendedAtMicros }),
  };
}

/** Checks every event before any is written; with several, an error names the event's index. */
function prepareAll<E>(events: readonly E[], prepare: (event: E) => PreparedEvent): PreparedEvent[] {
  return events.map((e, index) => {
    try {
      return prepare(e);
    } catch (err) {
      if (err instanceof SealtrailError && events.length > 1) {
        throw new SealtrailError(err.code, `event ${index}: ${err.message}`, { cause: err, details: { ...err.details, index } });
      }
      throw err;
    }
  });
}

function toResult(entry: AppendedEntry): AppendResult {
  return { ...toEntry(entry, entry.leafHash), existing: entry.existing };
}

export class Ledger {
  readonly store: Store;
  readonly maxPayloadBytes: number;
  private readonly appender: Appender;
  private closed = false;

  /** Where the ledger lives, so verification workers can open their own connections. */
  private readonly url: string | undefined;

  constructor(store: Store, maxPayloadBytes: number, url?: string) {
    this.store = store;
    this.url = url;
    this.maxPayloadBytes = maxPayloadBytes;
    this.appender = new Appender(store);
  }

  /** Appends one event; resolves once it is durable. Same (kind, pk, payload) again returns the existing entry. */
  async append(kind: string, pk: string, payload: unknown): Promise<AppendResult> {
    const [entry] = await this.appendBatch([{ kind, pk, payload }]);
    return entry!;
  }

  /** Appends events atomically (all or none), in order. */
  async appendBatch(events: readonly EventInput[]): Promise<AppendResult[]> {
    const { entries } = await this.appendWith(events);
    return entries;
  }

  /**
   * Appends events and runs `write` in the same transaction (domain rows next to their ledger
   * entries). If `write` throws, neither its rows nor the events are kept.
   */
  async appendWith<T = undefined>(events: readonly EventInput[], write?: (tx: Tx, entries: AppendResult[]) => Promise<T>): Promise<{ entries: AppendResult[]; result: T }> {
    this.assertOpen();
    if (!Array.isArray(events)) throw new SealtrailError('invalid_argument', 'events must be an array');
    const prepared = prepareAll(events, (e) => prepareEvent(e, this.maxPayloadBytes));
    const { entries, result } = await this.appender.enqueue(prepared, write && ((tx, appended) => write(tx, appended.map(toResult))));
    return { entries: entries.map(toResult), result };
  }

  /**
   * Appends events the caller has already canonicalised and hashed (PreparedEvent: capture's
   * sequencer and backfill build them from rows), atomically and in order, through the same group
   * commit as append. `inTransaction` is the caller's domain write in the same transaction (the
   * sequencer deletes the outbox ids it chained there). The events' shape is checked
   * (invalid_event, nothing written); that eventHash is the SHA-256 of canonical is the caller's
   * promise, which verification checks like any other entry. Neither the payload limit nor the
   * identifier length limit applies (see checkPreparedEvent).
   */
  async appendPrepared<T = undefined>(events: readonly PreparedEvent[], options: AppendPreparedOptions<T> = {}): Promise<{ entries: AppendResult[]; result: T }> {
    this.assertOpen();
    if (!Array.isArray(events)) throw new SealtrailError('invalid_argument', 'events must be an array');
    const prepared = prepareAll(events, checkPreparedEvent);
    const write = options.inTransaction;
    const { entries, result } = await this.appender.enqueue(prepared, write && ((tx) => write(tx)));
    // The appender's entries are this call's own fresh objects, so they are completed in place
    // rather than copied: the sequencer appends 10,000 at a time and copying showed in its profile.
    for (const entry of entries) (entry as AppendedEntry & { appendedAt?: string }).appendedAt = isoFromMicros(entry.appendedAtMicros);
    return { entries: entries as AppendResult[], result };
  }

  /**
   * Erases the payload of entry `seq` (an erasure request) in one transaction with a chained
   * `sealtrail.redaction` event that names the entry's seq and event_hash and gives the reason.
   * Hashes, chain and tree are untouched, so verification and proofs still hold. Refused, with
   * nothing written: a seq outside the ledger (out_of_range), an entry already blank
   * (already_redacted), a redaction event (not_redactable), an empty reason (invalid_argument).
   */
  redact(seq: number, reason: string): Promise<RedactionResult> {
    this.assertOpen();
    return redactEntry(this, seq, reason);
  }

  async head(): Promise<Head> {
    this.assertOpen();
    return this.store.readHead();
  }

  /** Streams entries seq in [from, to] (default: all), reading in batches. */
  async *entries(from = 1, to?: number): AsyncIterable<LedgerEntry> {
    this.assertOpen();
    const last = to ?? (await this.store.readHead()).size;
    for await (const batch of this.store.entryBatches(Math.max(1, from), last)) {
      for (const row of batch) yield toEntry(row);
    }
  }

  async entry(seq: number): Promise<LedgerEntry | null> {
    for await (const e of this.entries(seq, seq)) return e;
    return null;
  }

  verify(options: VerifyOptions = {}): Promise<VerifyReport> {
    this.assertOpen();
    return verifyLedger(this.store, options, this.url);
  }

  /** An RFC 9162 inclusion proof of entry `seq` in the tree of `size` (default: current size). */
  async proveInclusion(seq: number, size?: number): Promise<InclusionProof> {
    this.assertOpen();
    const head = await this.store.readHead();
    const treeSize = size ?? head.size;
    checkSize(treeSize, head.size, 'size');
    if (!Number.isSafeInteger(seq) || seq < 1 || seq > treeSize) {
      throw new SealtrailError('out_of_range', `seq ${seq} is not in a tree of size ${treeSize}`, { details: { seq, size: treeSize } });
    }
    const entry = await this.entry(seq);
    if (!entry) throw new SealtrailError('integrity_failure', `entry ${seq} is missing from audit_chain`, { details: { seq } });
    const read = this.nodeReader();
    const [proof, root] = await Promise.all([inclusionPath(read, seq - 1, treeSize), treeSize === head.size ? head.root : rootAt(read, treeSize)]);
    return { seq, index: seq - 1, size: treeSize, leafHash: entry.leafHash, root, proof };
  }

  /** An RFC 9162 consistency proof between two sizes of this ledger. */
  async proveConsistency(oldSize: number, newSize: number): Promise<ConsistencyProof> {
    this.assertOpen();
    const head = await this.store.readHead();
    checkSize(newSize, head.size, 'newSize');
    if (!Number.isSafeInteger(oldSize) || oldSize < 1 || oldSize > newSize) {
      throw new SealtrailError('out_of_range', `old size must be in 1..${newSize}`, { details: { oldSize, newSize } });
    }
    const read = this.nodeReader();
    const [proof, oldRoot, newRoot] = await Promise.all([
      oldSize === newSize ? Promise.resolve([]) : consistencyPath(read, oldSize, newSize),
      rootAt(read, oldSize),
      newSize === head.size ? Promise.resolve(head.root) : rootAt(read, newSize),
    ]);
    return { oldSize, newSize, oldRoot, newRoot, proof };
  }

  /** The Merkle root at an earlier size, from the stored subtrees (O(log n) reads). */
  async rootAt(size: number): Promise<Buffer> {
    const head = await this.store.readHead();
    checkSize(size, head.size, 'size');
    return rootAt(this.nodeReader(), size);
  }

  /**
   * Signs a C2SP checkpoint of the current head (size, root and the sealtrail-chain-hash line)
   * with one or more keys (several during a key rotation, all named after the log) and records it
   * in `checkpoints`. The origin is the keys' name; another origin is refused, because verifiers
   * accept a checkpoint only for the log its key is named after.
   */
  async checkpoint(signer: NoteSigner | NoteSigner[], options: { origin?: string; size?: number } = {}): Promise<CheckpointRecord> {
    this.assertOpen();
    const signers = Array.isArray(signer) ? signer : [signer];
    const origin = checkpointOrigin(signers, options.origin);
    // An earlier size (`size`): its root and chain hash never change, so they are read up front.
    const earlier = options.size === undefined ? undefined : await this.headAt(options.size);
    return this.store.writeTransaction(async (tx) => {
      const head = earlier ?? (await tx.ledger.head());
      const note = signCheckpoint({ origin, size: head.size, rootHash: head.root, chainHash: head.chainHash }, signers);
      const createdAt = new Date().toISOString();
      const rows = await tx.query<{ id: number }>(
        'INSERT INTO checkpoints (origin, size, root, chain_hash, note, created_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING id',
        [origin, head.size, head.root, head.chainHash, note, createdAt],
      );
      return { id: Number(rows[0]!.id), origin, size: head.size, root: head.root, chainHash: head.chainHash, note, createdAt, cosignatures: [] };
    });
  }

  /** Size, root and chain hash of the tree at `size` (1 … the head). */
  private async headAt(size: number): Promise<HeadRow> {
    const head = await this.store.readHead();
    if (size === head.size) return head;
    checkSize(size, head.size, 'size');
    const last = size === 0 ? null : await this.entry(size);
    if (!last) throw new SealtrailError('out_of_range', `size ${size} is outside the ledger (size ${head.size})`, { details: { size, current: head.size } });
    return { size, root: await this.rootAt(size), chainHash: last.chainHash };
  }

  /**
   * Checkpoints this ledger issued, oldest first, with the witness cosignatures stored for each.
   * `from` reads them through another reader, e.g. a snapshot that also streams the entries.
   */
  async checkpoints(from: Pick<Queryable, 'query'> = this.store): Promise<CheckpointRecord[]> {
    const rows = await from.query<{ id: number; origin: string; size: number; root: Buffer; chain_hash: Buffer; note: string; created_at: unknown; cosignatures: unknown }>(
      'SELECT id, origin, size, root, chain_hash, note, created_at, cosignatures FROM checkpoints ORDER BY id',
    );
    return rows.map((r) => ({
      id: Number(r.id),
      origin: r.origin,
      size: Number(r.size),
      root: r.root,
      chainHash: r.chain_hash,
      note: r.note,
      createdAt: r.created_at instanceof Date ? r.created_at.toISOString() : String(r.created_at),
      cosignatures: cosignatureList(r.cosignatures),
    }));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.store.close();
  }

  private nodeReader() {
    return (keys: Parameters<Store['readNodes']>[0]) => this.store.readNodes(keys);
  }

  private assertOpen(): void {
    if (this.closed) throw new SealtrailError('invalid_argument', 'the ledger is closed');
  }
}

/** The origin for a checkpoint signed by `signers`: their common key name (C2SP: key name = origin). */
export function checkpointOrigin(signers: readonly NoteSigner[], requested?: string): string {
  if (signers.length === 0) throw new SealtrailError('invalid_argument', 'a checkpoint needs at least one signer');
  const origin = requested ?? signers[0]!.name;
  const other = signers.find((s) => s.name !== origin);
  if (other) {
    throw new SealtrailError('invalid_argument', `the checkpoint origin ${JSON.stringify(origin)} is not the name of signing key ${JSON.stringify(other.name)}; verifiers accept a checkpoint only for the log its key is named after`, {
      details: { origin, key: other.name },
    });
  }
  return origin;
}

function checkSize(size: number, current: number, name: string): void {
  if (!Number.isSafeInteger(size) || size < 0 || size > current) {
    throw new SealtrailError('out_of_range', `${name} ${size} is outside the ledger (size ${current})`, { details: { [name]: size, current } });
  }
}

/** JSON form of a head, as `sealtrail head --json` prints it and `--trusted` reads it. */
export function headToJson(head: Head): { size: number; chain_hash: string; root: string } {
  return { size: head.size, chain_hash: head.chainHash.toString('hex'), root: encodeBase64(head.root) };
}

