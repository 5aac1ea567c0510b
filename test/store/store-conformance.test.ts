/**
 * The Store contract (src/store/store.ts), one suite run once per backend: a real SQLite file and
 * a real PostgreSQL database. Where the dialects differ, the difference is written down below as a
 * named expectation (DIALECT), so a change in either backend's behaviour fails here rather than
 * surprising a caller.
 *
 * Differences found: PostgreSQL has no NUL in text (refused), SQLite keeps it; SQLite's type
 * affinity stores 1.5 in a BIGINT column, PostgreSQL refuses it. Found and fixed in the stores:
 * lone surrogates were silently replaced (one U+FFFD on PostgreSQL; on SQLite bytes that read back
 * as three), integers beyond 2^53 came back rounded on both, SQLite's ledger operations and
 * savepoints leaked raw driver errors, a batch size of 0 read as "no entries", and a connection
 * cut inside a PostgreSQL transaction crashed the process through the client's 'error' event.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { isSealtrailError, type ErrorCode } from '../../src/core/errors.js';
import { ledgerMigrations } from '../../src/ledger/ledger.js';
import { migrate } from '../../src/store/migrate.js';
import { openStore } from '../../src/store/open-store.js';
import type { Dialect, EntryRow, Store, StoreCapabilities } from '../../src/store/store.js';
import { adminUrl, BACKENDS, tempDir, testDatabasePrefix, withDatabase, type Backend } from '../helpers/databases.js';
import { serialisedIncrement } from './fixtures/serialised-increment.js';

const WORKER = fileURLToPath(new URL('./fixtures/write-worker.ts', import.meta.url));

interface DialectExpectations {
  /** The capability flags the backend must declare. */
  capabilities: StoreCapabilities;
  /** A NUL character in TEXT: kept as is (SQLite), or refused with this code (PostgreSQL has no NUL in text). */
  nulInText: 'kept' | ErrorCode;
  /** A non-integer value bound to an INTEGER/BIGINT column: SQLite's type affinity stores it as REAL. */
  fractionInIntegerColumn: 'stored' | ErrorCode;
  /** Column types the DDL in this suite uses. */
  blobType: string;
}

const DIALECT: Record<Dialect, DialectExpectations> = {
  sqlite: {
    capabilities: { concurrentProcesses: true, triggerCapture: false, roles: false, sessionLocks: false },
    nulInText: 'kept',
    fractionInIntegerColumn: 'stored',
    blobType: 'BLOB',
  },
  postgres: {
    capabilities: { concurrentProcesses: true, triggerCapture: true, roles: true, sessionLocks: true },
    nulInText: 'database_error',
    fractionInIntegerColumn: 'database_error',
    blobType: 'BYTEA',
  },
};

/** Both dialects, the same: what the contract promises whatever the backend. */
const BOTH = {
  /** A lone UTF-16 surrogate cannot be stored as UTF-8 text; it is refused, never replaced by U+FFFD. */
  loneSurrogate: 'invalid_argument' as ErrorCode,
  /** Integers of any size up to 64 bits read back exactly: a number when safe, a bigint beyond 2^53. */
  int64RoundTrip: true,
  /** Beyond 64 bits: refused. */
  beyond64Bits: 'database_error' as ErrorCode,
};

const code = (c: ErrorCode) => (e: unknown) => {
  assert.ok(isSealtrailError(e, c), `expected ${c}, got ${e instanceof Error ? `${(e as { code?: string }).code ?? e.name}: ${e.message}` : String(e)}`);
  return true;
};

async function withStore<T>(url: string, fn: (store: Store) => Promise<T>): Promise<T> {
  const store = openStore(url);
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

/** A fresh database with the ledger schema and the suite's own tables. */
async function freshLedgerDb(backend: Backend): Promise<string> {
  const url = await backend.freshUrl();
  await withStore(url, async (store) => {
    await migrate(store, 'ledger', ledgerMigrations(store));
    await store.exec(`CREATE TABLE counter (v BIGINT NOT NULL); INSERT INTO counter VALUES (0);
      CREATE TABLE writes (v BIGINT PRIMARY KEY, head_size BIGINT NOT NULL, who TEXT NOT NULL)`);
  });
  return url;
}

function entry(seq: number, over: Partial<EntryRow> = {}): EntryRow {
  const h = (tag: number) => Buffer.alloc(32, (seq * 7 + tag) % 256);
  return {
    seq,
    kind: 'k',
    pk: `pk-${seq}`,
    eventHash: h(1),
    prevHash: h(2),
    chainHash: h(3),
    appendedAtMicros: 1_764_547_200_000_000n + BigInt(seq),
    payload: seq % 3 === 0 ? null : `{"n":${seq}}`,
    ...over,
  };
}

async function insertEntries(store: Store, rows: EntryRow[]): Promise<void> {
  await store.writeTransaction((tx) => tx.ledger.insertEntries(rows));
}

async function batchSizes(store: Store, from: number, to: number, size?: number): Promise<number[][]> {
  const out: number[][] = [];
  for await (const batch of store.entryBatches(from, to, size)) out.push(batch.map((e) => e.seq));
  return out;
}

function runWriter(url: string, who: string, count: number) {
  const child = spawn(process.execPath, ['--import', 'tsx', WORKER, url, who, String(count)], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready\n')) resolve();
    });
    child.on('exit', (c) => reject(new Error(`writer ${who} exited (${c}) before it was ready: ${err}`)));
  });
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const done = new Promise<void>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (c) => (c === 0 ? resolve() : reject(new Error(`writer ${who} failed (${c}): ${err}`))));
  });
  return { ready, done, go: () => child.stdin.end('go\n') };
}

for (const backend of BACKENDS) {
  const expect = DIALECT[backend.name];

  describe(`store contract on ${backend.name}`, () => {
    it('declares the capabilities this suite expects of it', async () => {
      await withStore(await backend.freshUrl(), async (store) => {
        assert.equal(store.dialect, backend.name);
        assert.deepEqual({ ...store.capabilities }, expect.capabilities);
      });
    });

    describe('savepoints', () => {
      let url: string;
      before(async () => {
        url = await backend.freshUrl();
        await withStore(url, (s) => s.exec('CREATE TABLE sp (id INTEGER PRIMARY KEY, note TEXT NOT NULL)'));
      });
      const ids = (s: Store) => s.query<{ id: number }>('SELECT id FROM sp ORDER BY id').then((r) => r.map((x) => Number(x.id)));

      it('an inner failure rolls back only the savepoint; the outer transaction continues and commits', async () => {
        await withStore(url, async (store) => {
          await store.exec('DELETE FROM sp');
          await store.writeTransaction(async (tx) => {
            await tx.run('INSERT INTO sp VALUES (?, ?)', [1, 'before']);
            await assert.rejects(
              tx.savepoint(async () => {
                await tx.run('INSERT INTO sp VALUES (?, ?)', [2, 'inside']);
                throw new Error('unit failed');
              }),
              /unit failed/,
            );
            await tx.run('INSERT INTO sp VALUES (?, ?)', [3, 'after']);
          });
          assert.deepEqual(await ids(store), [1, 3]);
        });
      });

      it('a failing statement inside a savepoint leaves the transaction usable (PostgreSQL would otherwise abort it)', async () => {
        await withStore(url, async (store) => {
          await store.exec('DELETE FROM sp');
          await store.transaction(async (tx) => {
            await tx.run('INSERT INTO sp VALUES (?, ?)', [1, 'a']);
            await assert.rejects(
              tx.savepoint(() => tx.run('INSERT INTO sp VALUES (?, ?)', [1, 'duplicate'])),
              code('database_error'),
            );
            await tx.run('INSERT INTO sp VALUES (?, ?)', [2, 'b']);
          });
          assert.deepEqual(await ids(store), [1, 2]);
        });
      });

      it('savepoints nest: an inner failure caught inside an outer savepoint keeps the outer one', async () => {
        await withStore(url, async (store) => {
          await store.exec('DELETE FROM sp');
          const value = await store.writeTransaction(async (tx) =>
            tx.savepoint(async () => {
              await tx.run('INSERT INTO sp VALUES (?, ?)', [1, 'outer']);
              await tx.savepoint(() => tx.run('INSERT INTO sp VALUES (?, ?)', [2, 'inner ok']));
              await assert.rejects(
                tx.savepoint(async () => {
                  await tx.run('INSERT INTO sp VALUES (?, ?)', [3, 'inner fails']);
                  await tx.run('INSERT INTO no_such_table VALUES (1)');
                }),
                code('schema_missing'),
              );
              return 'returned';
            }),
          );
          assert.equal(value, 'returned');
          assert.deepEqual(await ids(store), [1, 2]);
        });
      });

      it('a failure after a released savepoint still rolls back the whole transaction', async () => {
        await withStore(url, async (store) => {
          await store.exec('DELETE FROM sp');
          await assert.rejects(
            store.writeTransaction(async (tx) => {
              await tx.savepoint(() => tx.run('INSERT INTO sp VALUES (?, ?)', [1, 'released']));
              throw new Error('outer failed');
            }),
            /outer failed/,
          );
          assert.deepEqual(await ids(store), []);
          // and the store is usable afterwards
          await store.writeTransaction((tx) => tx.run('INSERT INTO sp VALUES (?, ?)', [9, 'later']));
          assert.deepEqual(await ids(store), [9]);
        });
      });
    });

    describe('write serialisation', () => {
      it('concurrent writeTransaction callers on one store and on two stores of one database never interleave', async () => {
        const url = await freshLedgerDb(backend);
        const a = openStore(url);
        const b = openStore(url);
        try {
          const seen = await Promise.all(Array.from({ length: 40 }, (_, i) => serialisedIncrement(i % 2 ? a : b, `lane${i}`)));
          assert.deepEqual([...seen].sort((x, y) => x - y), Array.from({ length: 40 }, (_, i) => i), 'each saw a different value: no lost update');
          await assertConsistent(a, 40);
        } finally {
          await a.close();
          await b.close();
        }
      });

      it('write transactions from two processes never interleave, and the head stays consistent', async () => {
        const url = await freshLedgerDb(backend);
        const writers = [runWriter(url, 'p1', 60), runWriter(url, 'p2', 60)];
        try {
          await Promise.all(writers.map((w) => w.ready));
        } finally {
          for (const w of writers) w.go();
        }
        await Promise.all(writers.map((w) => w.done));
        await withStore(url, async (store) => {
          await assertConsistent(store, 120);
          const who = await store.query<{ who: string; n: number }>('SELECT who, count(*) AS n FROM writes GROUP BY who ORDER BY who');
          assert.deepEqual(who.map((r) => [r.who, Number(r.n)]), [['p1', 60], ['p2', 60]]);
        });
      });

      async function assertConsistent(store: Store, total: number): Promise<void> {
        const [counter] = await store.query<{ v: number }>('SELECT v FROM counter');
        assert.equal(Number(counter!.v), total);
        const writes = await store.query<{ v: number; head_size: number }>('SELECT v, head_size FROM writes ORDER BY v');
        assert.deepEqual(writes.map((w) => Number(w.v)), Array.from({ length: total }, (_, i) => i), 'one write per value: none lost, none repeated');
        assert.ok(writes.every((w) => Number(w.head_size) === Number(w.v)), 'every writer saw the head the counter said');
        assert.equal((await store.readHead()).size, total);
      }
    });

    describe('error mapping', () => {
      it('schema_missing: a table that does not exist, and a database that was never initialised', async () => {
        await withStore(await backend.freshUrl(), async (store) => {
          await assert.rejects(store.query('SELECT * FROM no_such_table'), code('schema_missing'));
          await assert.rejects(store.readHead(), code('schema_missing'));
          await assert.rejects(store.writeTransaction((tx) => tx.ledger.head()), code('schema_missing'));
          await assert.rejects(
            (async () => {
              for await (const _ of store.entryBatches(1, 10)) assert.fail('no batches from a missing table');
            })(),
            code('schema_missing'),
          );
        });
      });

      it('permission_denied: a connection that may read but not write', async () => {
        const url = await freshLedgerDb(backend);
        const reader = await readOnlyConnection(backend, url);
        try {
          const store = reader.open();
          try {
            assert.equal((await store.readHead()).size, 0);
            await assert.rejects(store.run('INSERT INTO counter VALUES (1)'), code('permission_denied'));
            await assert.rejects(store.writeTransaction((tx) => tx.ledger.writeHead({ size: 1, chainHash: Buffer.alloc(32), root: Buffer.alloc(32) })), code('permission_denied'));
          } finally {
            await store.close();
          }
        } finally {
          await reader.drop();
        }
      });

      it('database_unreachable: a location that cannot be opened or reached', async () => {
        if (backend.name === 'sqlite') {
          const dir = tempDir();
          writeFileSync(join(dir, 'a-file'), '');
          // The database's directory would have to be created inside a regular file.
          assert.throws(() => openStore(join(dir, 'a-file', 'sub', 'ledger.db')), code('database_unreachable'));
          // A directory where the database file should be.
          mkdirSync(join(dir, 'a-dir'));
          assert.throws(() => openStore(join(dir, 'a-dir')), code('database_unreachable'));
          return;
        }
        const closedPort = await unusedPort();
        await withStore(`postgres://postgres:x@127.0.0.1:${closedPort}/nothing`, async (store) => {
          await assert.rejects(store.query('SELECT 1'), code('database_unreachable'));
          await assert.rejects(store.writeTransaction(async () => undefined), code('database_unreachable'));
        });
        await withStore(withDatabase(adminUrl(), `${testDatabasePrefix()}missing`), async (store) => {
          await assert.rejects(store.query('SELECT 1'), code('database_unreachable'));
        });
      });

      if (backend.name === 'postgres') {
        it('database_unreachable: the connection is cut in the middle of a write transaction, and the store recovers', async () => {
          const url = await freshLedgerDb(backend);
          await withStore(url, async (store) => {
            await assert.rejects(
              store.writeTransaction(async (tx) => {
                const [{ pid }] = (await tx.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')) as [{ pid: number }];
                await tx.run('UPDATE counter SET v = 99');
                await adminQuery('SELECT pg_terminate_backend($1)', [pid]);
                await tx.run('UPDATE counter SET v = 100');
              }),
              code('database_unreachable'),
            );
            const [row] = await store.query<{ v: number }>('SELECT v FROM counter');
            assert.equal(Number(row!.v), 0, 'nothing of the cut transaction was committed');
            assert.equal(await serialisedIncrement(store, 'after'), 0, 'the next write transaction works');
          });
        });
      }
    });

    describe('entryBatches boundaries', () => {
      let url: string;
      before(async () => {
        url = await freshLedgerDb(backend);
        await withStore(url, (s) => insertEntries(s, Array.from({ length: 12 }, (_, i) => entry(i + 1))));
      });

      it('an empty ledger yields no batch', async () => {
        await withStore(await freshLedgerDb(backend), async (store) => {
          assert.deepEqual(await batchSizes(store, 1, 10), []);
          assert.deepEqual(await batchSizes(store, 1, 10, 1), []);
        });
      });

      it('from > to yields nothing; from = to yields that one entry', async () => {
        await withStore(url, async (store) => {
          assert.deepEqual(await batchSizes(store, 5, 4), []);
          assert.deepEqual(await batchSizes(store, 12, 1), []);
          assert.deepEqual(await batchSizes(store, 7, 7), [[7]]);
        });
      });

      it('batch size 1, exact multiples and a remainder: every entry once, in order, no empty batch', async () => {
        await withStore(url, async (store) => {
          const all = Array.from({ length: 12 }, (_, i) => i + 1);
          assert.deepEqual(await batchSizes(store, 1, 12, 1), all.map((s) => [s]));
          assert.deepEqual(await batchSizes(store, 1, 12, 4), [all.slice(0, 4), all.slice(4, 8), all.slice(8)]);
          assert.deepEqual(await batchSizes(store, 1, 12, 12), [all]);
          assert.deepEqual(await batchSizes(store, 1, 12, 5), [all.slice(0, 5), all.slice(5, 10), all.slice(10)]);
          assert.deepEqual(await batchSizes(store, 3, 8, 3), [[3, 4, 5], [6, 7, 8]]);
          assert.deepEqual(await batchSizes(store, 1, 12), [all], 'the default batch size covers a small range in one batch');
        });
      });

      it('ranges past the end stop at the last entry; ranges wholly past it yield nothing', async () => {
        await withStore(url, async (store) => {
          assert.deepEqual(await batchSizes(store, 10, 1000, 2), [[10, 11], [12]]);
          assert.deepEqual(await batchSizes(store, 13, 20), []);
          assert.deepEqual(await batchSizes(store, 0, 2), [[1, 2]]);
          assert.deepEqual(await batchSizes(store, Number.MAX_SAFE_INTEGER - 1, Number.MAX_SAFE_INTEGER), []);
        });
      });

      it('a batch size that is not a positive integer is refused, not read as "nothing to verify"', async () => {
        await withStore(url, async (store) => {
          for (const size of [0, -1, 1.5, Number.NaN]) {
            await assert.rejects(batchSizes(store, 1, 12, size), code('invalid_argument'), `batch size ${size}`);
          }
        });
      });

      it('every field of an entry reads back as written', async () => {
        await withStore(url, async (store) => {
          const read: EntryRow[] = [];
          for await (const batch of store.entryBatches(1, 12, 5)) read.push(...batch);
          assert.deepEqual(read, Array.from({ length: 12 }, (_, i) => entry(i + 1)));
          const found = await store.writeTransaction((tx) => tx.ledger.findByKeys([{ kind: 'k', pk: 'pk-3' }, { kind: 'k', pk: 'absent' }]));
          assert.deepEqual([...found.values()], [entry(3)]);
        });
      });
    });

    describe('text', () => {
      let url: string;
      before(async () => {
        url = await freshLedgerDb(backend);
        await withStore(url, (s) => s.exec('CREATE TABLE texts (id INTEGER PRIMARY KEY, t TEXT)'));
      });
      const roundTrip = (store: Store, id: number, text: string) =>
        store
          .run('INSERT INTO texts VALUES (?, ?)', [id, text])
          .then(() => store.query<{ t: string }>('SELECT t FROM texts WHERE id = ?', [id]))
          .then((r) => r[0]!.t);

      it('any well-formed Unicode round-trips: astral characters, combining marks, quotes and placeholders', async () => {
        await withStore(url, async (store) => {
          const samples = ['😀 \u{10FFFF}', 'e\u0301', "it's ? $1 \\", '\uFEFFbom', 'tab\tnew\nline\r'];
          for (const [i, s] of samples.entries()) assert.equal(await roundTrip(store, 100 + i, s), s);
        });
      });

      it(`a NUL character in TEXT is ${expect.nulInText === 'kept' ? 'kept' : `refused (${expect.nulInText})`}`, async () => {
        await withStore(url, async (store) => {
          if (expect.nulInText === 'kept') {
            assert.equal(await roundTrip(store, 1, 'a\u0000b'), 'a\u0000b');
            await insertEntries(store, [entry(1, { pk: 'nul\u0000pk', payload: '"\u0000"' })]);
            const [batch] = await batchSizesEntries(store);
            assert.equal(batch!.pk, 'nul\u0000pk');
          } else {
            await assert.rejects(roundTrip(store, 1, 'a\u0000b'), code(expect.nulInText));
            await assert.rejects(insertEntries(store, [entry(1, { pk: 'nul\u0000pk' })]), code(expect.nulInText));
            assert.deepEqual(await store.query('SELECT t FROM texts WHERE id = 1'), []);
          }
        });
      });

      it('a lone surrogate is refused (invalid_argument), never stored as U+FFFD', async () => {
        await withStore(url, async (store) => {
          for (const [i, s] of ['x\uD800y', '\uDC00', 'end\uD83D'].entries()) {
            await assert.rejects(roundTrip(store, 200 + i, s), code(BOTH.loneSurrogate), JSON.stringify(s));
            await assert.rejects(insertEntries(store, [entry(50 + i, { kind: s })]), code(BOTH.loneSurrogate), `kind ${JSON.stringify(s)}`);
            await assert.rejects(insertEntries(store, [entry(50 + i, { payload: `"${s}"` })]), code(BOTH.loneSurrogate), `payload ${JSON.stringify(s)}`);
          }
          assert.deepEqual(await store.query('SELECT t FROM texts WHERE id >= 200'), []);
        });
      });

      async function batchSizesEntries(store: Store): Promise<EntryRow[]> {
        const out: EntryRow[] = [];
        for await (const b of store.entryBatches(1, 1)) out.push(...b);
        return out;
      }
    });

    describe('integers', () => {
      let url: string;
      before(async () => {
        url = await freshLedgerDb(backend);
        await withStore(url, (s) => s.exec('CREATE TABLE nums (id INTEGER PRIMARY KEY, n BIGINT)'));
      });

      it('64-bit values in INTEGER/BIGINT columns read back exactly: numbers while safe, bigints beyond 2^53', async () => {
        await withStore(url, async (store) => {
          const values = [0n, 1n, -1n, 2n ** 53n - 1n, -(2n ** 53n - 1n), 2n ** 53n, 2n ** 53n + 1n, -(2n ** 53n) - 1n, 2n ** 63n - 1n, -(2n ** 63n)];
          for (const [i, v] of values.entries()) await store.run('INSERT INTO nums VALUES (?, ?)', [i, v]);
          const rows = await store.query<{ id: number; n: number | bigint }>('SELECT id, n FROM nums ORDER BY id');
          for (const r of rows) {
            const want = values[Number(r.id)]!;
            const safe = want >= BigInt(Number.MIN_SAFE_INTEGER) && want <= BigInt(Number.MAX_SAFE_INTEGER);
            assert.equal(typeof r.n, safe ? 'number' : 'bigint', `type of ${want}`);
            assert.equal(BigInt(r.n), want, `value ${want}`);
          }
          // also as a parameter compared in SQL, and computed by the database
          assert.equal((await store.query('SELECT id FROM nums WHERE n = ?', [2n ** 53n + 1n])).length, 1);
          const [sum] = await store.query<{ s: number | bigint }>('SELECT n + 1 AS s FROM nums WHERE id = ?', [6]);
          assert.equal(BigInt(sum!.s), 2n ** 53n + 2n);
        });
      });

      it(`beyond 64 bits is refused (${BOTH.beyond64Bits}); a fraction in an integer column is ${expect.fractionInIntegerColumn}`, async () => {
        await withStore(url, async (store) => {
          await assert.rejects(store.run('INSERT INTO nums VALUES (?, ?)', [900, 2n ** 64n]), code(BOTH.beyond64Bits));
          if (expect.fractionInIntegerColumn === 'stored') {
            await store.run('INSERT INTO nums VALUES (?, ?)', [901, 1.5]);
            assert.deepEqual(await store.query('SELECT n FROM nums WHERE id = 901'), [{ n: 1.5 }]);
          } else {
            await assert.rejects(store.run('INSERT INTO nums VALUES (?, ?)', [901, 1.5]), code(expect.fractionInIntegerColumn));
          }
        });
      });

      it('seq up to 2^53 - 1 round-trips through the ledger operations', async () => {
        await withStore(url, async (store) => {
          const big = Number.MAX_SAFE_INTEGER;
          await insertEntries(store, [entry(big - 1), entry(big)]);
          assert.deepEqual(await batchSizes(store, big - 1, big, 1), [[big - 1], [big]]);
          await store.writeTransaction((tx) => tx.ledger.writeHead({ size: big, chainHash: Buffer.alloc(32, 1), root: Buffer.alloc(32, 2) }));
          assert.equal((await store.readHead()).size, big);
          // The last leaf's tile: index (2^53 - 2) / 256, position 254.
          const tileIndex = Math.floor((big - 1) / 256);
          const hashes = Buffer.concat(Array.from({ length: 255 }, (_, i) => Buffer.alloc(32, i)));
          await store.writeTransaction((tx) => tx.ledger.writeTiles([{ level: 0, index: tileIndex, width: 255, hashes }]));
          const nodes = await store.readNodes([{ level: 0, index: big - 1 }]);
          assert.deepEqual([...nodes.entries()], [[`0/${big - 1}`, Buffer.alloc(32, 254)]]);
          const tile = await store.readTile(0, tileIndex);
          assert.deepEqual({ width: tile?.width, index: tile?.index }, { width: 255, index: tileIndex });
        });
      });
    });

    it('bytes round-trip exactly, including empty and all byte values', async () => {
      await withStore(await backend.freshUrl(), async (store) => {
        await store.exec(`CREATE TABLE bytes (id INTEGER PRIMARY KEY, b ${expect.blobType})`);
        const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
        await store.run('INSERT INTO bytes VALUES (?, ?), (?, ?)', [1, all, 2, Buffer.alloc(0)]);
        const rows = await store.query<{ b: Buffer }>('SELECT b FROM bytes ORDER BY id');
        assert.deepEqual([...rows[0]!.b], [...all]);
        assert.equal(rows[1]!.b.length, 0);
      });
    });
  });
}

// ---- backend-specific set-up: a read-only connection -------------------------------------------

async function readOnlyConnection(backend: Backend, url: string): Promise<{ open: () => Store; drop: () => Promise<void> }> {
  if (backend.name === 'sqlite') {
    // SQLite has no roles: read-only is how the file is opened.
    return { open: () => openStore(url, { readonly: true }), drop: async () => {} };
  }
  const role = `${testDatabasePrefix()}ro_${randomBytes(3).toString('hex')}`;
  const password = randomBytes(9).toString('base64url');
  await adminQuery(`CREATE ROLE ${role} LOGIN PASSWORD '${password}'`);
  await withClient(url, (c) => c.query(`GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${role}`));
  const u = new URL(url);
  u.username = role;
  u.password = password;
  return {
    open: () => openStore(u.toString()),
    drop: async () => {
      await withClient(url, (c) => c.query(`REVOKE ALL ON ALL TABLES IN SCHEMA public FROM ${role}`));
      await adminQuery(`DROP ROLE IF EXISTS ${role}`);
    },
  };
}

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

function adminQuery(sql: string, params?: unknown[]) {
  return withClient(adminUrl(), (c) => c.query(sql, params));
}

async function unusedPort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}
