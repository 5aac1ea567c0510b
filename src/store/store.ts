/**
 * The narrow storage interface every backend implements (SQLite in sqlite/, PostgreSQL in
 * postgres/, same file names in each). Ledger and features talk to this, never to a driver.
 * Generic SQL uses `?` placeholders on both backends; dialect differences that matter to
 * callers are capability flags, not `if (postgres)` scattered through the code.
 */

import type { Tile, TileKey } from '../core/tile-edge.js';

export type { Tile, TileKey } from '../core/tile-edge.js';

export type SqlValue = null | number | bigint | string | Uint8Array | boolean;
export type Row = Record<string, unknown>;

export interface Queryable {
  /** Runs one statement with `?` placeholders and returns its rows. */
  query<T extends Row = Row>(sql: string, params?: readonly SqlValue[]): Promise<T[]>;
  /** Runs one statement with `?` placeholders and returns the number of rows it changed. */
  run(sql: string, params?: readonly SqlValue[]): Promise<number>;
}

/** A transaction in progress. Savepoints let one failing unit of a group commit roll back alone. */
export interface Tx extends Queryable {
  /** Runs a multi-statement SQL script (no placeholders) inside this transaction. */
  exec(script: string): Promise<void>;
  savepoint<T>(fn: () => Promise<T>): Promise<T>;
  /** Ledger-specific bulk operations (one round trip per batch on PostgreSQL). */
  readonly ledger: LedgerTxOps;
}

export type Dialect = 'sqlite' | 'postgres';

export interface StoreCapabilities {
  /** Several processes can append at once (both backends; SQLite through its file lock). */
  readonly concurrentProcesses: boolean;
  /** Database-side triggers can chain rows themselves (PostgreSQL capture). */
  readonly triggerCapture: boolean;
  /** Roles and grants exist (read-only verifier role). */
  readonly roles: boolean;
  /** trySessionLock works (PostgreSQL advisory locks); without it, it fails with unsupported_backend. */
  readonly sessionLocks: boolean;
}

/** A session-level lock taken by Store.trySessionLock, held on a connection of its own. */
export interface SessionLock {
  readonly key: bigint;
  /**
   * LISTENs on `channel` (a lower-case SQL identifier) in the lock's own session and calls
   * `onNotify` for every NOTIFY on it until release: the holder of a leader lock is the session
   * others wake (the capture sequencer, woken by queued writers).
   */
  listen(channel: string, onNotify: () => void): Promise<void>;
  /**
   * Lets go of the lock and returns its connection. Never rejects: when the unlock itself fails
   * (a lost connection) the connection is discarded, and the session ending frees the lock.
   */
  release(): Promise<void>;
}

export interface Store extends Queryable {
  readonly dialect: Dialect;
  readonly capabilities: StoreCapabilities;
  /** A display form of the location with any password removed. */
  readonly location: string;
  /**
   * Runs fn in one transaction that holds the ledger's write lock from its start
   * (SQLite: BEGIN IMMEDIATE; PostgreSQL: the head row locked FOR UPDATE), so appenders in
   * this process, other processes and database triggers are serialised.
   */
  writeTransaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T>;
  /** Runs fn in an ordinary transaction (no ledger lock). */
  transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T>;
  /** Runs a multi-statement SQL script (no placeholders) outside any transaction. */
  exec(script: string): Promise<void>;
  /**
   * Tries once, without waiting, to take the session-level lock `key` (a signed 64-bit integer)
   * on a dedicated connection, for leader election among processes (the capture sequencer).
   * Resolves to the held lock, or null when another session holds it. The lock lasts until
   * released or until its session ends (a crashed holder frees it). Unlike writeTransaction's
   * lock it does not serialise writes: it only tells who leads. SQLite: unsupported_backend
   * (capabilities.sessionLocks is false).
   */
  trySessionLock(key: bigint): Promise<SessionLock | null>;
  /** Streams audit_chain rows seq in [from, to] in batches, in seq order. */
  entryBatches(from: number, to: number, batchSize?: number): AsyncIterable<EntryRow[]>;
  /**
   * The Merkle subtree hashes for the given (level, index) pairs, computed from the stored tiles
   * (a subtree whose tile is missing or too short is absent from the map).
   */
  readNodes(keys: readonly NodeKey[]): Promise<Map<string, Buffer>>;
  /**
   * One stored tile (C2SP tlog-tiles): level, index and, for a partial tile, the width wanted. A
   * full tile or a wider partial one serves any width as its first `width` hashes; null when the
   * tile is absent or shorter. Bad arguments are invalid_argument.
   */
  readTile(level: number, index: number, width?: number): Promise<Tile | null>;
  readHead(): Promise<HeadRow>;
  /**
   * Opens a read-only view of one consistent snapshot (SQLite: a separate read-only connection
   * holding one WAL read transaction; PostgreSQL: a dedicated client in a REPEATABLE READ READ
   * ONLY transaction, optionally adopting a snapshot exported by another connection). Release it.
   */
  openSnapshot(options?: SnapshotOptions): Promise<Snapshot>;
  /** Runs fn on one snapshot and releases it afterwards. */
  readSnapshot<T>(fn: (snapshot: SnapshotReader) => Promise<T>, options?: SnapshotOptions): Promise<T>;
  close(): Promise<void>;
}

export interface SnapshotOptions {
  /** PostgreSQL: a snapshot id from SnapshotReader.exportSnapshot() whose transaction is still open. */
  snapshotId?: string;
}

/** Reads that all see the same committed state of the database. */
export interface SnapshotReader {
  query<T extends Row = Row>(sql: string, params?: readonly SqlValue[]): Promise<T[]>;
  entryBatches(from: number, to: number, batchSize?: number): AsyncIterable<EntryRow[]>;
  readNodes(keys: readonly NodeKey[]): Promise<Map<string, Buffer>>;
  /** The subtree hashes at idx in [from, to] of each given level, from tiles read in one round trip; a missing node is undefined. */
  readNodeRanges(ranges: readonly NodeRange[]): Promise<Array<Array<Buffer | undefined>>>;
  /** The stored tiles with index in [from, to] of each given tile level, in one round trip, in index order. */
  readTileRanges(ranges: readonly TileRange[]): Promise<Tile[][]>;
  readTile(level: number, index: number, width?: number): Promise<Tile | null>;
  readHead(): Promise<HeadRow>;
  /**
   * PostgreSQL: exports this snapshot (pg_export_snapshot) so other connections, e.g. verification
   * workers, read exactly the same state while this one stays open. SQLite: null (no such API;
   * see docs/spec.md for why a worker's own later snapshot is equivalent for verification).
   */
  exportSnapshot(): Promise<string | null>;
}

export interface Snapshot extends SnapshotReader {
  release(): Promise<void>;
}

/** Tile indices [from, to] of one tile level. */
export interface TileRange {
  level: number;
  from: number;
  to: number;
}

export interface NodeRange {
  level: number;
  from: number;
  to: number;
}

/** readSnapshot on top of openSnapshot, shared by the backends. */
export async function withSnapshot<T>(store: Store, fn: (snapshot: SnapshotReader) => Promise<T>, options?: SnapshotOptions): Promise<T> {
  const snapshot = await store.openSnapshot(options);
  try {
    return await fn(snapshot);
  } finally {
    await snapshot.release();
  }
}

export interface EntryRow {
  seq: number;
  kind: string;
  pk: string;
  eventHash: Buffer;
  prevHash: Buffer;
  chainHash: Buffer;
  /** Microseconds since the Unix epoch, UTC (the precision PostgreSQL keeps). */
  appendedAtMicros: bigint;
  payload: string | null;
}

export interface HeadRow {
  size: number;
  chainHash: Buffer;
  root: Buffer;
}

export interface NodeKey {
  level: number;
  index: number;
}

export interface MerkleNode extends NodeKey {
  hash: Buffer;
}

export function nodeKeyString(level: number, index: number): string {
  return `${level}/${index}`;
}

export interface LedgerTxOps {
  /** The head row, read under the write lock. */
  head(): Promise<HeadRow>;
  /** Existing entries for these (kind, pk) pairs, keyed by `kind\u0000pk`. */
  findByKeys(keys: ReadonlyArray<{ kind: string; pk: string }>): Promise<Map<string, EntryRow>>;
  insertEntries(rows: readonly EntryRow[]): Promise<void>;
  /**
   * Writes tiles (insert, or replace the stored tile with the same level and index): a full tile
   * once, a partial one as it grows. Callers only ever extend a tile; the PostgreSQL guards refuse
   * anything else.
   */
  writeTiles(tiles: readonly Tile[]): Promise<void>;
  readTiles(keys: readonly TileKey[]): Promise<Map<string, Tile>>;
  readNodes(keys: readonly NodeKey[]): Promise<Map<string, Buffer>>;
  writeHead(head: HeadRow): Promise<void>;
}

export function entryKey(kind: string, pk: string): string {
  return `${kind}\u0000${pk}`;
}
