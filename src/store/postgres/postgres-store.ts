/**
 * PostgreSQL backend (node-postgres): production, many writers. Appenders in any process and
 * the capture triggers serialise on the ledger_head row (SELECT ... FOR UPDATE), so the chain
 * never forks; bulk operations use unnest() arrays, one round trip per batch.
 */
import pg from 'pg';
import { SealtrailError } from '../../core/errors.js';
import { redact } from '../../core/redact.js';
import {
  entryKey,
  type EntryRow,
  type HeadRow,
  type LedgerTxOps,
  type NodeKey,
  type Row,
  type Tile,
  type TileKey,
  type TileRange,
  type SessionLock,
  type Snapshot,
  type SnapshotOptions,
  type SnapshotReader,
  type SqlValue,
  type Store,
  type Tx,
  withSnapshot,
} from '../store.js';
import { isoFromMicros } from '../../core/timestamps.js';
import { tileKeyString } from '../../core/tile-edge.js';
import { nodeRangesFromTiles, nodesFromTiles, readOneTile } from '../tile-nodes.js';
import { assertBatchSize, assertStorableParams, assertStorableText, checkSessionLockKey } from '../params.js';

/**
 * The advisory lock writers take only while the ledger tables do not exist yet (the first
 * migration). Once they do, every writer locks the ledger_head row instead: a row lock needs
 * UPDATE privilege on the table, so a role that can merely connect (the read-only role) cannot
 * take it and stall the writers, as it could with an advisory lock. Documented in docs/spec.md.
 */
export const LEDGER_LOCK_KEY = 7_304_041_771_292_001n;
const LOCK_HEAD = 'SELECT 1 FROM ledger_head WHERE id = 1 FOR UPDATE';
const BEFORE_LEDGER = `SELECT pg_advisory_xact_lock($1) WHERE to_regclass('ledger_head') IS NULL`;

const INT8_OID = 20;
const NUMERIC_OID = 1700;

const typeParsers = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    // seq, sizes and ids fit in a double; a value beyond 2^53 comes back exact, as a bigint.
    if (oid === INT8_OID)
      return (v: string) => {
        const n = Number(v);
        return Number.isSafeInteger(n) ? n : BigInt(v);
      };
    if (oid === NUMERIC_OID) return (v: string) => v;
    return pg.types.getTypeParser(oid, format as 'text');
  },
};

const ENTRY_COLUMNS = `seq, event_kind, event_pk, event_hash, prev_hash, chain_hash,
  (extract(epoch from appended_at) * 1000000)::int8::text AS appended_at_us, payload`;

export function toPositional(sql: string): string {
  let out = '';
  let n = 0;
  let quote: string | null = null;
  for (let i = 0; i < sql.length; i++) {
    const c = sql[i]!;
    if (quote) {
      if (c === quote) quote = null;
      out += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      out += c;
    } else if (c === '?') {
      out += `$${++n}`;
    } else {
      out += c;
    }
  }
  return out;
}

function toEntry(r: Row): EntryRow {
  return {
    seq: Number(r.seq),
    kind: r.event_kind as string,
    pk: r.event_pk as string,
    eventHash: r.event_hash as Buffer,
    prevHash: r.prev_hash as Buffer,
    chainHash: r.chain_hash as Buffer,
    appendedAtMicros: BigInt(r.appended_at_us as string),
    payload: (r.payload as string | null) ?? null,
  };
}


export function openPostgresStore(url: string, options: { poolSize?: number } = {}): PostgresStore {
  const pool = new pg.Pool({
    connectionString: url,
    max: options.poolSize ?? 10,
    types: typeParsers,
    connectionTimeoutMillis: 10_000,
  });
  // An idle client losing its connection must not crash the process; the next query reports it.
  pool.on('error', () => {});
  return new PostgresStore(pool, redact(url));
}

type Client = pg.PoolClient | pg.Pool;

/**
 * Checks a connection out of the pool. A connection lost while checked out is reported by the
 * query that was running (or the next one); without a listener the client's 'error' event would
 * crash the process instead, and such a connection is discarded, never returned to the pool.
 */
async function checkout(pool: pg.Pool, location: string): Promise<{ client: pg.PoolClient; release: (discard: boolean) => void }> {
  let client: pg.PoolClient;
  try {
    client = await pool.connect();
  } catch (err) {
    throw mapPgError(err, location);
  }
  let broken = false;
  const onError = () => {
    broken = true;
  };
  client.on('error', onError);
  return {
    client,
    release: (discard) => {
      client.off('error', onError);
      client.release(discard || broken);
    },
  };
}

async function q<T extends Row>(client: Client, location: string, sql: string, params?: readonly unknown[]): Promise<pg.QueryResult<T>> {
  assertStorableParams(params);
  try {
    return await client.query<T>(sql, params as unknown[] | undefined);
  } catch (err) {
    throw mapPgError(err, location);
  }
}

export class PostgresStore implements Store {
  readonly dialect = 'postgres' as const;
  readonly capabilities = { concurrentProcesses: true, triggerCapture: true, roles: true, sessionLocks: true };
  readonly location: string;
  readonly pool: pg.Pool;

  constructor(pool: pg.Pool, location: string) {
    this.pool = pool;
    this.location = location;
  }

  async query<T extends Row = Row>(sql: string, params?: readonly SqlValue[]): Promise<T[]> {
    return (await q<T>(this.pool, this.location, toPositional(sql), params)).rows;
  }

  async run(sql: string, params?: readonly SqlValue[]): Promise<number> {
    return (await q(this.pool, this.location, toPositional(sql), params)).rowCount ?? 0;
  }

  async exec(script: string): Promise<void> {
    await q(this.pool, this.location, script);
  }

  async trySessionLock(key: bigint): Promise<SessionLock | null> {
    const text = checkSessionLockKey(key).toString();
    // The connection stays checked out while the lock is held; a loss of it while idle is reported
    // through checkout's listener instead of crashing the process, and it is discarded on release.
    const { client, release: done } = await checkout(this.pool, this.location);
    let locked: boolean;
    try {
      locked = (await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1::int8) AS ok', [text])).rows[0]?.ok === true;
    } catch (err) {
      done(true);
      throw mapPgError(err, this.location);
    }
    if (!locked) {
      done(false);
      return null;
    }
    let released = false;
    const listeners: Array<() => void> = [];
    const onNotification = () => {
      for (const fn of listeners) fn();
    };
    client.on('notification', onNotification);
    return {
      key,
      listen: async (channel, onNotify) => {
        if (!/^[a-z_][a-z0-9_]{0,62}$/.test(channel)) throw new SealtrailError('invalid_argument', `a channel is a lower-case SQL identifier, not ${JSON.stringify(channel)}`);
        listeners.push(onNotify);
        try {
          await client.query(`LISTEN ${channel}`);
        } catch (err) {
          throw mapPgError(err, this.location);
        }
      },
      release: async () => {
        if (released) return;
        released = true;
        client.off('notification', onNotification);
        const ok = await client.query(listeners.length > 0 ? 'UNLISTEN *' : 'SELECT 1').then(
          () => client.query('SELECT pg_advisory_unlock($1::int8)', [text]).then(() => true, () => false),
          () => false,
        );
        done(!ok);
      },
    };
  }

  writeTransaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    return this.runTransaction(true, fn);
  }

  transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    return this.runTransaction(false, fn);
  }

  private async runTransaction<T>(lock: boolean, fn: (tx: Tx) => Promise<T>): Promise<T> {
    const { client, release } = await checkout(this.pool, this.location);
    let broken = false;
    try {
      await q(client, this.location, 'BEGIN');
      if (lock) {
        // rowCount 1: there is no ledger yet, and the advisory lock is held instead.
        if ((await q(client, this.location, BEFORE_LEDGER, [LEDGER_LOCK_KEY.toString()])).rowCount === 0) await q(client, this.location, LOCK_HEAD);
      }
      const result = await fn(this.txHandle(client));
      // COMMIT of a transaction an error aborted "succeeds" as a ROLLBACK: never report that as durable.
      const commit = await q(client, this.location, 'COMMIT');
      if (commit.command !== 'COMMIT') {
        throw new SealtrailError('database_error', `PostgreSQL rolled the transaction back at COMMIT (${commit.command}): an earlier statement in it failed`, {
          details: { location: this.location },
        });
      }
      return result;
    } catch (err) {
      try {
        await client.query('ROLLBACK');
      } catch {
        broken = true;
      }
      throw err;
    } finally {
      release(broken);
    }
  }

  private txHandle(client: pg.PoolClient): Tx {
    const location = this.location;
    let savepoints = 0;
    const ledger: LedgerTxOps = {
      async head() {
        return readHead(client, location);
      },
      async findByKeys(keys) {
        const found = new Map<string, EntryRow>();
        if (keys.length === 0) return found;
        const res = await q(
          client,
          location,
          `SELECT ${ENTRY_COLUMNS} FROM audit_chain a
           JOIN unnest($1::text[], $2::text[]) AS k(kind, pk) ON a.event_kind = k.kind AND a.event_pk = k.pk`,
          [keys.map((k) => k.kind), keys.map((k) => k.pk)],
        );
        for (const row of res.rows) {
          const e = toEntry(row);
          found.set(entryKey(e.kind, e.pk), e);
        }
        return found;
      },
      async insertEntries(rows) {
        if (rows.length === 0) return;
        for (const r of rows) {
          assertStorableText(r.kind, 'an event kind');
          assertStorableText(r.pk, 'an event pk');
          if (r.payload !== null) assertStorableText(r.payload, 'a payload');
        }
        // Hashes travel as one binary bytea per column and text as JSON arrays: node-postgres would
        // otherwise hex-encode and escape every element of a text array literal.
        await q(
          client,
          location,
          `INSERT INTO audit_chain (seq, event_kind, event_pk, event_hash, prev_hash, chain_hash, appended_at, payload)
           SELECT r.seq, r.kind, r.pk, substring($4::bytea FROM r.i::int * 32 - 31 FOR 32), substring($5::bytea FROM r.i::int * 32 - 31 FOR 32),
                  substring($6::bytea FROM r.i::int * 32 - 31 FOR 32), r.at, r.payload
           FROM ROWS FROM (unnest($1::int8[]), json_array_elements_text($2::json), json_array_elements_text($3::json), unnest($7::timestamptz[]),
                           json_array_elements_text($8::json)) WITH ORDINALITY AS r(seq, kind, pk, at, payload, i)`,
          [
            rows.map((r) => r.seq),
            JSON.stringify(rows.map((r) => r.kind)),
            JSON.stringify(rows.map((r) => r.pk)),
            packHashes(rows.map((r) => r.eventHash)),
            packHashes(rows.map((r) => r.prevHash)),
            packHashes(rows.map((r) => r.chainHash)),
            rows.map((r) => isoFromMicros(r.appendedAtMicros)),
            JSON.stringify(rows.map((r) => r.payload)),
          ],
        );
      },
      async writeTiles(tiles: readonly Tile[]) {
        if (tiles.length === 0) return;
        // One statement per batch: the tiles' bytes travel packed in one bytea, cut apart by offset.
        const offsets: number[] = [];
        let at = 0;
        for (const t of tiles) {
          offsets.push(at);
          at += t.hashes.length;
        }
        await q(
          client,
          location,
          `INSERT INTO merkle_tiles (level, idx, width, hashes)
           SELECT t.level, t.idx, t.width, substring($5::bytea FROM t.off::int + 1 FOR t.width * 32)
           FROM unnest($1::int2[], $2::int8[], $3::int2[], $4::int8[]) AS t(level, idx, width, off)
           ON CONFLICT (level, idx) DO UPDATE SET width = EXCLUDED.width, hashes = EXCLUDED.hashes`,
          [tiles.map((t) => t.level), tiles.map((t) => t.index), tiles.map((t) => t.width), offsets, Buffer.concat(tiles.map((t) => t.hashes))],
        );
      },
      async readTiles(keys) {
        return readTiles(client, location, keys);
      },
      async readNodes(keys) {
        return nodesFromTiles(keys, (k) => readTiles(client, location, k));
      },
      async writeHead(head: HeadRow) {
        await q(client, location, 'UPDATE ledger_head SET size = $1, chain_hash = $2, root = $3 WHERE id = 1', [head.size, head.chainHash, head.root]);
      },
    };
    return {
      ledger,
      exec: async (script: string) => void (await q(client, location, script)),
      query: async <T extends Row>(sql: string, params?: readonly SqlValue[]) => (await q<T>(client, location, toPositional(sql), params)).rows,
      run: async (sql: string, params?: readonly SqlValue[]) => (await q(client, location, toPositional(sql), params)).rowCount ?? 0,
      savepoint: async <T>(fn: () => Promise<T>) => {
        const name = `sp_${++savepoints}`;
        await q(client, location, `SAVEPOINT ${name}`);
        try {
          const result = await fn();
          await q(client, location, `RELEASE SAVEPOINT ${name}`);
          return result;
        } catch (err) {
          await q(client, location, `ROLLBACK TO SAVEPOINT ${name}`);
          throw err;
        }
      },
    };
  }

  async readHead(): Promise<HeadRow> {
    return readHead(this.pool, this.location);
  }

  async readNodes(keys: readonly NodeKey[]): Promise<Map<string, Buffer>> {
    return nodesFromTiles(keys, (k) => readTiles(this.pool, this.location, k));
  }

  async readTile(level: number, index: number, width?: number): Promise<Tile | null> {
    return readOneTile((k) => readTiles(this.pool, this.location, k), level, index, width);
  }

  entryBatches(from: number, to: number, batchSize = 20_000): AsyncIterable<EntryRow[]> {
    return readEntryBatches(this.pool, this.location, from, to, batchSize);
  }

  async openSnapshot(options: SnapshotOptions = {}): Promise<Snapshot> {
    const location = this.location;
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw mapPgError(err, location);
    }
    try {
      await q(client, location, 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      if (options.snapshotId !== undefined) {
        // SET TRANSACTION SNAPSHOT takes no parameters; the id's shape is checked instead.
        if (!/^[0-9A-F]+-[0-9A-F]+(-[0-9A-F]+)?$/i.test(options.snapshotId)) {
          throw new SealtrailError('invalid_argument', `not a PostgreSQL snapshot id: ${JSON.stringify(options.snapshotId)}`);
        }
        await q(client, location, `SET TRANSACTION SNAPSHOT '${options.snapshotId}'`);
      }
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      client.release(true);
      throw err;
    }
    let released = false;
    return {
      query: async <T extends Row>(sql: string, params?: readonly SqlValue[]) => (await q<T>(client, location, toPositional(sql), params)).rows,
      entryBatches: (from, to, batchSize = 20_000) => readEntryBatches(client, location, from, to, batchSize),
      readNodes: (keys) => nodesFromTiles(keys, (k) => readTiles(client, location, k)),
      readNodeRanges: (ranges) => nodeRangesFromTiles(ranges, (r) => readTileRanges(client, location, r)),
      readTileRanges: (ranges) => readTileRanges(client, location, ranges),
      readTile: (level, index, width) => readOneTile((k) => readTiles(client, location, k), level, index, width),
      readHead: () => readHead(client, location),
      exportSnapshot: async () => (await q<{ id: string }>(client, location, 'SELECT pg_export_snapshot() AS id')).rows[0]!.id,
      release: async () => {
        if (released) return;
        released = true;
        let broken = false;
        try {
          await client.query('COMMIT');
        } catch {
          broken = true;
        }
        client.release(broken);
      },
    };
  }

  readSnapshot<T>(fn: (snapshot: SnapshotReader) => Promise<T>, options?: SnapshotOptions): Promise<T> {
    return withSnapshot(this, fn, options);
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

async function* readEntryBatches(client: Client, location: string, from: number, to: number, batchSize: number): AsyncIterable<EntryRow[]> {
  assertBatchSize(batchSize);
  let next = from;
  while (next <= to) {
    const res = await q(client, location, `SELECT ${ENTRY_COLUMNS} FROM audit_chain WHERE seq >= $1 AND seq <= $2 ORDER BY seq LIMIT $3`, [next, to, batchSize]);
    if (res.rows.length === 0) return;
    const batch = res.rows.map(toEntry);
    yield batch;
    next = batch[batch.length - 1]!.seq + 1;
  }
}

/** One statement, one index range scan per tile level (UNION ALL keeps each branch a plain range scan). */
async function readTileRanges(client: Client, location: string, ranges: readonly TileRange[]): Promise<Tile[][]> {
  const out = ranges.map((): Tile[] => []);
  const asked = ranges.map((r, i) => ({ ...r, i })).filter((r) => r.to >= r.from);
  if (asked.length === 0) return out;
  const sql =
    asked
      .map((_, k) => `SELECT ${k}::int AS r, level, idx, width, hashes FROM merkle_tiles WHERE level = $${3 * k + 1} AND idx >= $${3 * k + 2} AND idx <= $${3 * k + 3}`)
      .join(' UNION ALL ') + ' ORDER BY r, idx';
  const res = await q<{ r: number; level: number; idx: string | number; width: number; hashes: Buffer }>(client, location, sql, asked.flatMap((r) => [r.level, r.from, r.to]));
  for (const row of res.rows) out[asked[row.r]!.i]!.push(toTile(row));
  return out;
}

function toTile(row: { level: number; idx: string | number; width: number; hashes: Buffer }): Tile {
  return { level: Number(row.level), index: Number(row.idx), width: Number(row.width), hashes: row.hashes };
}

async function readTiles(client: Client, location: string, keys: readonly TileKey[]): Promise<Map<string, Tile>> {
  const out = new Map<string, Tile>();
  if (keys.length === 0) return out;
  const res = await q<{ level: number; idx: string | number; width: number; hashes: Buffer }>(
    client,
    location,
    `SELECT t.level, t.idx, t.width, t.hashes FROM merkle_tiles t
     JOIN unnest($1::int2[], $2::int8[]) AS k(level, idx) ON t.level = k.level AND t.idx = k.idx`,
    [keys.map((k) => k.level), keys.map((k) => k.index)],
  );
  for (const row of res.rows) {
    const tile = toTile(row);
    out.set(tileKeyString(tile.level, tile.index), tile);
  }
  return out;
}

/** 32-byte hashes back to back; the SQL cuts them apart again by position. */
function packHashes(hashes: readonly Buffer[]): Buffer {
  const packed = Buffer.concat(hashes);
  if (packed.length !== hashes.length * 32) throw new SealtrailError('invalid_argument', 'every hash must be 32 bytes');
  return packed;
}

async function readHead(client: Client, location: string): Promise<HeadRow> {
  const res = await q(client, location, 'SELECT size, chain_hash, root FROM ledger_head WHERE id = 1');
  const row = res.rows[0];
  if (!row) throw new SealtrailError('schema_missing', `no ledger at ${location}; run \`sealtrail init\``);
  return { size: Number(row.size), chainHash: row.chain_hash as Buffer, root: row.root as Buffer };
}

const CONNECTION_ERRORS = new Set(['ECONNREFUSED', 'ENOTFOUND', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'EAI_AGAIN', 'EPIPE']);

export function mapPgError(err: unknown, location: string): unknown {
  if (err instanceof SealtrailError) return err;
  const e = err as { code?: string; message?: string };
  const message = e.message ?? String(err);
  if ((e.code && CONNECTION_ERRORS.has(e.code)) || (e.code === '55000' && /accepting connections/.test(message)) || /Connection terminated|timeout expired|connect ECONN|Client has encountered a connection error/i.test(message)) {
    return new SealtrailError('database_unreachable', `cannot reach PostgreSQL at ${location}: ${message}`, { cause: err, details: { location } });
  }
  switch (e.code) {
    case '3D000': // database does not exist
    case '28P01': // password authentication failed
    case '28000':
    case '57P01': // admin shutdown
    case '57P03': // cannot connect now
      return new SealtrailError('database_unreachable', `cannot use PostgreSQL at ${location}: ${message}`, { cause: err, details: { location, sqlstate: e.code } });
    case '42P01': // undefined_table
      return new SealtrailError('schema_missing', `${message} at ${location}; run \`sealtrail init\``, { cause: err, details: { sqlstate: e.code } });
    case '42501': // insufficient_privilege
      return new SealtrailError('permission_denied', `PostgreSQL refused: ${message}`, { cause: err, details: { sqlstate: e.code } });
    default:
      return new SealtrailError('database_error', `PostgreSQL error: ${message}`, { cause: err, details: { sqlstate: e.code } });
  }
}
