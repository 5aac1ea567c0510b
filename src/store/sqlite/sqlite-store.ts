/**
 * SQLite backend (better-sqlite3): the embedded default, one file, zero set-up.
 * WAL with synchronous=FULL so a commit is durable when it returns; BEGIN IMMEDIATE takes the
 * file's write lock up front, which serialises appenders across processes too.
 */
import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { SealtrailError } from '../../core/errors.js';
import {
  entryKey,
  type EntryRow,
  type HeadRow,
  type LedgerTxOps,
  type NodeKey,
  type NodeRange,
  type Tile,
  type TileKey,
  type TileRange,
  type Row,
  type SessionLock,
  type Snapshot,
  type SnapshotReader,
  type SqlValue,
  type Store,
  type Tx,
  withSnapshot,
} from '../store.js';
import { AsyncMutex } from '../async-mutex.js';
import { tileKeyString } from '../../core/tile-edge.js';
import { nodeRangesFromTiles, nodesFromTiles, readOneTile } from '../tile-nodes.js';
import { assertBatchSize, assertStorableParams, assertStorableText, checkSessionLockKey, exactInteger } from '../params.js';
import { isoFromMicros, microsFromIso } from '../../core/timestamps.js';

type Db = Database.Database;

const BUSY_TIMEOUT_MS = 30_000;

export function openSqliteStore(path: string, options: { readonly?: boolean; mustExist?: boolean } = {}): SqliteStore {
  const file = resolve(path);
  const mustExist = (options.readonly ?? false) || (options.mustExist ?? false);
  if (mustExist && !existsSync(file)) {
    throw new SealtrailError('schema_missing', `no ledger at ${file}; run \`sealtrail init\``, { details: { location: file } });
  }
  // A mistyped path must not leave directories behind: only the file itself is ever created.
  if (!existsSync(dirname(file))) {
    throw new SealtrailError('database_unreachable', `the directory of ${file} does not exist; create it first`, { details: { location: file } });
  }
  let db: Db;
  try {
    db = new Database(file, { readonly: options.readonly ?? false, fileMustExist: mustExist, timeout: BUSY_TIMEOUT_MS });
    if (!options.readonly) {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
    }
    // Verification reads the whole file: map it rather than copy every page through read().
    db.pragma('mmap_size = 1073741824');
    db.pragma('foreign_keys = ON');
    db.defaultSafeIntegers(false);
  } catch (err) {
    throw new SealtrailError('database_unreachable', `cannot open SQLite database ${file}: ${(err as Error).message}`, {
      cause: err,
      details: { location: file },
    });
  }
  return new SqliteStore(db, file);
}

const fileMutexes = new Map<string, AsyncMutex>();

function mutexForFile(file: string): AsyncMutex {
  let mutex = fileMutexes.get(file);
  if (!mutex) {
    mutex = new AsyncMutex();
    fileMutexes.set(file, mutex);
  }
  return mutex;
}

function bind(params: readonly SqlValue[] | undefined): unknown[] {
  if (!params) return [];
  assertStorableParams(params);
  return params.map((p) => (typeof p === 'boolean' ? (p ? 1 : 0) : p));
}

function toEntry(r: Row): EntryRow {
  return {
    seq: r.seq as number,
    kind: r.event_kind as string,
    pk: r.event_pk as string,
    eventHash: r.event_hash as Buffer,
    prevHash: r.prev_hash as Buffer,
    chainHash: r.chain_hash as Buffer,
    appendedAtMicros: microsFromIso(r.appended_at as string),
    payload: (r.payload as string | null) ?? null,
  };
}

export class SqliteStore implements Store {
  readonly dialect = 'sqlite' as const;
  readonly capabilities = { concurrentProcesses: true, triggerCapture: false, roles: false, sessionLocks: false };
  readonly location: string;
  readonly db: Db;
  /**
   * Callers take turns on the connection. The lock is shared by every store open on the same
   * file in this process: better-sqlite3 waits for a busy database synchronously, so a second
   * connection blocking in BEGIN IMMEDIATE would freeze the event loop the first one needs to
   * finish its transaction. Other processes wait on SQLite's own lock (busy_timeout).
   */
  private readonly mutex: AsyncMutex;
  private readonly statements = new Map<string, Database.Statement>();
  /** Callers' own statements: 64-bit integers read exactly (bigint beyond 2^53), not rounded. */
  private readonly callerStatements = new Map<string, Database.Statement>();
  private savepointCounter = 0;
  private inTransaction = false;

  constructor(db: Db, location: string) {
    this.db = db;
    this.location = location;
    this.mutex = mutexForFile(location);
  }

  private prepare(sql: string): Database.Statement {
    let stmt = this.statements.get(sql);
    if (!stmt) {
      stmt = this.db.prepare(sql);
      this.statements.set(sql, stmt);
    }
    return stmt;
  }

  private prepareCallers(sql: string): Database.Statement {
    let stmt = this.callerStatements.get(sql);
    if (!stmt) {
      stmt = this.db.prepare(sql);
      if (stmt.reader) stmt.safeIntegers(true);
      this.callerStatements.set(sql, stmt);
    }
    return stmt;
  }

  private querySync<T extends Row>(sql: string, params?: readonly SqlValue[]): T[] {
    const stmt = this.prepareCallers(sql);
    if (!stmt.reader) {
      stmt.run(...bind(params));
      return [];
    }
    const rows = stmt.all(...bind(params)) as Row[];
    for (const row of rows) {
      for (const key in row) {
        const v = row[key];
        if (typeof v === 'bigint') row[key] = exactInteger(v);
      }
    }
    return rows as T[];
  }

  private runSync(sql: string, params?: readonly SqlValue[]): number {
    return this.prepareCallers(sql).run(...bind(params)).changes;
  }

  async query<T extends Row = Row>(sql: string, params?: readonly SqlValue[]): Promise<T[]> {
    return this.mutex.run(async () => this.wrap(() => this.querySync<T>(sql, params)));
  }

  async run(sql: string, params?: readonly SqlValue[]): Promise<number> {
    return this.mutex.run(async () => this.wrap(() => this.runSync(sql, params)));
  }

  async exec(script: string): Promise<void> {
    await this.mutex.run(async () => this.wrap(() => this.db.exec(script)));
  }

  writeTransaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    return this.runTransaction('BEGIN IMMEDIATE', fn);
  }

  transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    return this.runTransaction('BEGIN', fn);
  }

  private runTransaction<T>(begin: string, fn: (tx: Tx) => Promise<T>): Promise<T> {
    return this.mutex.run(async () => {
      if (this.inTransaction) throw new SealtrailError('internal', 'nested transaction on one SQLite connection');
      this.wrap(() => this.db.exec(begin));
      this.inTransaction = true;
      const scope = { open: true };
      try {
        const result = await fn(this.txHandle(scope));
        this.txWrap(scope, () => this.db.exec('COMMIT'));
        return result;
      } catch (err) {
        if (this.db.inTransaction) this.db.exec('ROLLBACK');
        throw err;
      } finally {
        scope.open = false;
        this.inTransaction = false;
      }
    });
  }

  private txHandle(scope: { open: boolean }): Tx {
    const guarded = <T>(fn: () => T): T => this.txWrap(scope, fn);
    const ledger: LedgerTxOps = {
      head: async () => guarded(() => this.headSync()),
      findByKeys: async (keys) => {
        return guarded(() => {
          const found = new Map<string, EntryRow>();
          const stmt = this.prepare('SELECT * FROM audit_chain WHERE event_kind = ? AND event_pk = ?');
          for (const { kind, pk } of keys) {
            assertStorableText(kind, 'an event kind');
            assertStorableText(pk, 'an event pk');
            const row = stmt.get(kind, pk) as Row | undefined;
            if (row) found.set(entryKey(kind, pk), toEntry(row));
          }
          return found;
        });
      },
      insertEntries: async (rows) => {
        const stmt = this.prepare(
          'INSERT INTO audit_chain (seq, event_kind, event_pk, event_hash, prev_hash, chain_hash, appended_at, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
        );
        guarded(() => {
          for (const r of rows) {
            assertStorableText(r.kind, 'an event kind');
            assertStorableText(r.pk, 'an event pk');
            if (r.payload !== null) assertStorableText(r.payload, 'a payload');
            stmt.run(r.seq, r.kind, r.pk, r.eventHash, r.prevHash, r.chainHash, isoFromMicros(r.appendedAtMicros), r.payload);
          }
        });
      },
      writeTiles: async (tiles: readonly Tile[]) => {
        const stmt = this.prepare(
          'INSERT INTO merkle_tiles (level, idx, width, hashes) VALUES (?, ?, ?, ?) ON CONFLICT (level, idx) DO UPDATE SET width = excluded.width, hashes = excluded.hashes',
        );
        guarded(() => {
          for (const t of tiles) stmt.run(t.level, t.index, t.width, t.hashes);
        });
      },
      readTiles: async (keys) => guarded(() => readTilesWith((sql) => this.prepare(sql), keys)),
      readNodes: async (keys) => nodesFromTiles(keys, async (k) => guarded(() => readTilesWith((sql) => this.prepare(sql), k))),
      writeHead: async (head: HeadRow) => {
        guarded(() => this.runSync('UPDATE ledger_head SET size = ?, chain_hash = ?, root = ? WHERE id = 1', [head.size, head.chainHash, head.root]));
      },
    };
    return {
      ledger,
      exec: async (script: string) => guarded(() => void this.db.exec(script)),
      query: async <T extends Row>(sql: string, params?: readonly SqlValue[]) => guarded(() => this.querySync<T>(sql, params)),
      run: async (sql: string, params?: readonly SqlValue[]) => guarded(() => this.runSync(sql, params)),
      savepoint: async <T>(fn: () => Promise<T>) => {
        const name = `sp_${++this.savepointCounter}`;
        guarded(() => this.db.exec(`SAVEPOINT ${name}`));
        let result: T;
        try {
          result = await fn();
        } catch (err) {
          // After SQLite's automatic rollback the savepoint is gone with the transaction: report
          // that instead of fn's error, so the caller cannot mistake it for a failure of fn alone.
          if (!this.db.inTransaction) throw rolledBack(this.location, err);
          guarded(() => {
            this.db.exec(`ROLLBACK TO ${name}`);
            this.db.exec(`RELEASE ${name}`);
          });
          throw err;
        }
        guarded(() => this.db.exec(`RELEASE ${name}`));
        return result;
      },
    };
  }

  private headSync(): HeadRow {
    const row = this.prepare('SELECT size, chain_hash, root FROM ledger_head WHERE id = 1').get() as Row | undefined;
    if (!row) throw new SealtrailError('schema_missing', `no ledger at ${this.location}; run \`sealtrail init\``);
    return { size: row.size as number, chainHash: row.chain_hash as Buffer, root: row.root as Buffer };
  }

  private readTiles(keys: readonly TileKey[]): Promise<Map<string, Tile>> {
    return this.mutex.run(async () => this.wrap(() => readTilesWith((sql) => this.prepare(sql), keys)));
  }

  async readHead(): Promise<HeadRow> {
    return this.mutex.run(async () => this.wrap(() => this.headSync()));
  }

  async readNodes(keys: readonly NodeKey[]): Promise<Map<string, Buffer>> {
    return nodesFromTiles(keys, (k) => this.readTiles(k));
  }

  async readTile(level: number, index: number, width?: number): Promise<Tile | null> {
    return readOneTile((k) => this.readTiles(k), level, index, width);
  }

  async *entryBatches(from: number, to: number, batchSize = 20_000): AsyncIterable<EntryRow[]> {
    yield* readEntryBatches(this.db, (fn) => this.mutex.run(async () => this.wrap(fn)), from, to, batchSize);
  }

  /**
   * SQLite has no session-level locks: a file lock taken by a process that then dies would need
   * stale-lock detection, and nothing SQLite-based elects a leader today.
   */
  async trySessionLock(key: bigint): Promise<SessionLock | null> {
    checkSessionLockKey(key);
    throw new SealtrailError('unsupported_backend', 'session locks need PostgreSQL; SQLite has none', { details: { dialect: this.dialect } });
  }

  async openSnapshot(): Promise<Snapshot> {
    return openSqliteSnapshot(this.location);
  }

  readSnapshot<T>(fn: (snapshot: SnapshotReader) => Promise<T>): Promise<T> {
    return withSnapshot(this, fn);
  }

  async close(): Promise<void> {
    await this.mutex.run(async () => {
      if (this.db.open) this.db.close();
    });
  }

  /**
   * Runs one step of the transaction `scope`. SQLite rolls a whole transaction back by itself on
   * some errors (SQLITE_FULL, SQLITE_IOERR, SQLITE_NOMEM, SQLITE_BUSY in some cases); the
   * connection is then in autocommit mode, where every later statement would commit on its own.
   * So a step runs only while the transaction is still open, and an error that ended it says so.
   */
  private txWrap<T>(scope: { open: boolean }, fn: () => T): T {
    if (!scope.open) throw new SealtrailError('internal', 'a transaction handle was used after its transaction ended');
    if (!this.db.inTransaction) throw rolledBack(this.location, undefined);
    try {
      return fn();
    } catch (err) {
      if (!this.db.inTransaction) throw rolledBack(this.location, err);
      throw mapSqliteError(err, this.location);
    }
  }

  /** Maps driver errors to coded ones. */
  private wrap<T>(fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      throw mapSqliteError(err, this.location);
    }
  }
}

type Runner = <T>(fn: () => T) => Promise<T>;

interface TileRow {
  level: number;
  idx: number;
  width: number;
  hashes: Buffer;
}

function toTile(r: TileRow): Tile {
  // A tampered row may hold any type; only a blob of the right length is a tile.
  return { level: Number(r.level), index: Number(r.idx), width: Number(r.width), hashes: Buffer.isBuffer(r.hashes) ? r.hashes : Buffer.alloc(0) };
}

function readTilesWith(prepare: (sql: string) => Database.Statement, keys: readonly TileKey[]): Map<string, Tile> {
  const stmt = prepare('SELECT level, idx, width, hashes FROM merkle_tiles WHERE level = ? AND idx = ?');
  const out = new Map<string, Tile>();
  for (const { level, index } of keys) {
    const row = stmt.get(level, index) as TileRow | undefined;
    if (row) out.set(tileKeyString(level, index), toTile(row));
  }
  return out;
}

/**
 * The three hashes of a row as one 96-byte blob (event ‖ prev ‖ chain): better-sqlite3 copies each
 * blob into a Buffer of its own, and those copies were a good part of reading rows; one copy per
 * row, cut into views, costs about a quarter less. Only when all three are 32-byte blobs: anything
 * else (a tampered row) yields NULL and that row's hashes are read one by one, as stored.
 */
const PACKED_HASHES =
  "CASE WHEN typeof(event_hash) = 'blob' AND typeof(prev_hash) = 'blob' AND typeof(chain_hash) = 'blob' AND length(event_hash) = 32 AND length(prev_hash) = 32 AND length(chain_hash) = 32 THEN CAST(event_hash || prev_hash || chain_hash AS BLOB) END";

async function* readEntryBatches(db: Db, run: Runner, from: number, to: number, batchSize: number): AsyncIterable<EntryRow[]> {
  assertBatchSize(batchSize);
  // Raw rows (arrays, no per-row key objects): this is the verification hot path.
  let stmt: Database.Statement | undefined;
  let single: Database.Statement | undefined;
  let next = from;
  while (next <= to) {
    const rows = await run(() => {
      stmt ??= db
        .prepare(`SELECT seq, event_kind, event_pk, ${PACKED_HASHES}, appended_at, payload FROM audit_chain WHERE seq >= ? AND seq <= ? ORDER BY seq LIMIT ?`)
        .raw(true);
      const found = stmt.all(next, to, batchSize) as unknown[][];
      for (const r of found) {
        if (r[3] !== null) continue;
        single ??= db.prepare('SELECT event_hash, prev_hash, chain_hash FROM audit_chain WHERE seq = ?').raw(true);
        // A tampered hash may hold any type; only a blob is a hash (anything else then mismatches, never crashes).
        r[3] = (single.get(r[0]) as unknown[]).map((h) => (Buffer.isBuffer(h) ? h : Buffer.alloc(0)));
      }
      return found;
    });
    if (rows.length === 0) return;
    const batch = rows.map((r): EntryRow => {
      const hashes = r[3] as Buffer | [Buffer, Buffer, Buffer];
      const packed = Buffer.isBuffer(hashes);
      return {
        seq: r[0] as number,
        kind: r[1] as string,
        pk: r[2] as string,
        eventHash: packed ? hashes.subarray(0, 32) : hashes[0],
        prevHash: packed ? hashes.subarray(32, 64) : hashes[1],
        chainHash: packed ? hashes.subarray(64, 96) : hashes[2],
        appendedAtMicros: microsFromIso(r[4] as string),
        payload: (r[5] as string | null) ?? null,
      };
    });
    yield batch;
    next = batch[batch.length - 1]!.seq + 1;
  }
}

/**
 * A second, read-only connection holding one read transaction. In WAL mode that transaction sees
 * the database as of its first read until it ends, whatever other connections commit meanwhile,
 * and it neither waits for nor blocks writers. It needs no turn on the file's in-process lock for
 * the same reason.
 */
function openSqliteSnapshot(location: string): Snapshot {
  let db: Db;
  try {
    db = new Database(location, { readonly: true, fileMustExist: true, timeout: BUSY_TIMEOUT_MS });
    db.pragma('mmap_size = 1073741824');
    db.defaultSafeIntegers(false);
    db.exec('BEGIN');
    // The snapshot starts at the first read, not at BEGIN.
    db.prepare('SELECT size FROM ledger_head WHERE id = 1').get();
  } catch (err) {
    throw mapSqliteError(err, location);
  }
  const statements = new Map<string, Database.Statement>();
  const prepare = (sql: string) => {
    let stmt = statements.get(sql);
    if (!stmt) {
      stmt = db.prepare(sql);
      statements.set(sql, stmt);
    }
    return stmt;
  };
  const run: Runner = async (fn) => {
    try {
      return fn();
    } catch (err) {
      throw mapSqliteError(err, location);
    }
  };
  const readTiles = (keys: readonly TileKey[]) => run(() => readTilesWith(prepare, keys));
  const readTileRanges = (ranges: readonly TileRange[]) =>
    run(() => {
      const stmt = prepare('SELECT level, idx, width, hashes FROM merkle_tiles WHERE level = ? AND idx >= ? AND idx <= ? ORDER BY idx');
      return ranges.map(({ level, from, to }) => (stmt.all(level, from, to) as TileRow[]).map(toTile));
    });
  return {
    query: <T extends Row>(sql: string, params?: readonly SqlValue[]) => run(() => prepare(sql).all(...bind(params)) as T[]),
    entryBatches: (from, to, batchSize = 20_000) => readEntryBatches(db, run, from, to, batchSize),
    readNodes: (keys) => nodesFromTiles(keys, readTiles),
    readNodeRanges: (ranges: readonly NodeRange[]) => nodeRangesFromTiles(ranges, readTileRanges),
    readTileRanges,
    readTile: (level, index, width) => readOneTile(readTiles, level, index, width),
    readHead: () =>
      run(() => {
        const row = prepare('SELECT size, chain_hash, root FROM ledger_head WHERE id = 1').get() as Row | undefined;
        if (!row) throw new SealtrailError('schema_missing', `no ledger at ${location}; run \`sealtrail init\``);
        return { size: row.size as number, chainHash: row.chain_hash as Buffer, root: row.root as Buffer };
      }),
    exportSnapshot: async () => null,
    release: async () => {
      if (!db.open) return;
      if (db.inTransaction) db.exec('COMMIT');
      db.close();
    },
  };
}

function rolledBack(location: string, cause: unknown): SealtrailError {
  const mapped = cause === undefined ? undefined : mapSqliteError(cause, location);
  const why = mapped instanceof Error ? `: ${mapped.message}` : ' after an earlier error';
  return new SealtrailError('database_error', `SQLite rolled the transaction back${why}; nothing of it was committed`, {
    ...(cause === undefined ? {} : { cause }),
    details: { location, rolledBack: true, ...(mapped instanceof SealtrailError ? mapped.details : {}) },
  });
}

function mapSqliteError(err: unknown, location: string): unknown {
  if (err instanceof SealtrailError) return err;
  const e = err as { code?: string; message?: string };
  if (typeof e.code === 'string' && e.code.startsWith('SQLITE_')) {
    if (e.code === 'SQLITE_READONLY' || e.code === 'SQLITE_AUTH') {
      return new SealtrailError('permission_denied', `SQLite refused the write: ${e.message}`, { cause: err, details: { location } });
    }
    if (e.code.startsWith('SQLITE_CONSTRAINT')) {
      return new SealtrailError('database_error', `constraint violated: ${e.message}`, { cause: err, details: { sqlite: e.code } });
    }
    if (e.message?.includes('no such table')) {
      return new SealtrailError('schema_missing', `${e.message} in ${location}; run \`sealtrail init\``, { cause: err });
    }
    return new SealtrailError('database_error', `SQLite error: ${e.message}`, { cause: err, details: { sqlite: e.code } });
  }
  // better-sqlite3 refuses some values before SQLite sees them (an integer beyond 64 bits).
  if (err instanceof RangeError && /bound|bind/i.test(err.message)) {
    return new SealtrailError('database_error', `SQLite cannot store the value: ${err.message}`, { cause: err });
  }
  return err;
}
