import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { openLedger, type Ledger } from '../../src/ledger/ledger.js';
import { drainOutbox, installCapture, scanCapture, unwatchTable, watchTable } from '../../src/capture/capture.js';
import { postgresUrl } from '../helpers/databases.js';

const CHILD = fileURLToPath(new URL('./fixtures/sequencer-child.ts', import.meta.url));

async function fixture(): Promise<{ url: string; ledger: Ledger; sql: (text: string, params?: unknown[]) => Promise<pg.QueryResult>; close: () => Promise<void> }> {
  const url = await postgresUrl();
  const ledger = await openLedger({ url });
  await installCapture(ledger.store);
  const pool = new pg.Pool({ connectionString: url, max: 6 });
  return {
    url,
    ledger,
    sql: (text, params) => pool.query(text, params),
    close: async () => {
      await pool.end();
      await ledger.close();
    },
  };
}

const slotName = async (f: { sql: (t: string) => Promise<pg.QueryResult> }) => (await f.sql('SELECT slot_name FROM capture_wal')).rows[0].slot_name as string;

/** Every column type the canonical row form distinguishes, plus a TOASTed value and a stored generated column. */
const columns = `(
  id bigint PRIMARY KEY, small smallint, i int, big bigint, n numeric, n2 numeric(12,4), f float8, r real,
  t text, vc varchar(20), bp char(5), ok boolean, ts timestamptz, lt timestamp, lt3 timestamp(3), d date, tm time, ttz timetz,
  u uuid, j jsonb, js json, ia int[], ta text[][], tsa timestamptz[], b bytea, ba bytea[], pos positive_int, addr inet, iv interval,
  "Ünï ""quoted"" col" text, "😀" int, long_text text, twice bigint GENERATED ALWAYS AS (i::bigint * 2) STORED)`;

const rows = `VALUES
  (1, 7, -2147483648, 9007199254740991, 1.50, 12345678.1234, 0.1, 3.25,
   E'quote " backslash \\\\ newline \\n tab \\t bell \\x07 é 中文 😀', 'x', 'ab', true,
   '2024-02-29 23:59:59.999999+05:30', '1999-12-31 01:02:03.5', '1999-12-31 01:02:03.123', '2024-02-29', '13:14:15.5', '13:14:15+02',
   'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11',
   '{"z":1,"a":[1.0,2.50,-0,1e30,123456789012345678,0.0000001,3.14159,{"é":null,"e":true}],"\uE000":"pua","😀":"astral","":""}',
   '{"b": 1,  "a": [2.50, 1e3]}',
   '{{1,2},{3,NULL}}', '{{"a","b"},{"c\\"d",NULL}}', '{"2024-01-01 00:00:00+00",NULL,infinity}', '\\x00ff10', '{"\\\\x01",NULL}',
   5, '192.168.0.1/24', '1 year 2 mons 3 days 04:05:06.7', 'col', 1, repeat('toast me ', 20000)),
  (9007199254740993, NULL, NULL, -9223372036854775808, 'NaN', NULL, 'Infinity', '-Infinity', '', NULL, NULL, false,
   'infinity', '-infinity', NULL, '0001-01-01', NULL, NULL, NULL, '[]', 'null', '{}', '{}', '{}', '\\x', '{}', NULL, NULL, NULL, NULL, NULL, NULL),
  (3, NULL, 42, NULL, 100000000000000000000000.000001, NULL, 1e-7, 1e-30, NULL, NULL, NULL, NULL,
   '1970-01-01 00:00:00+00', NULL, NULL, NULL, NULL, NULL, NULL, '{"n":-12.3400}', '"s"', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '')`;

const history = async (f: { sql: (t: string, p?: unknown[]) => Promise<pg.QueryResult> }, kind: string) =>
  (
    await f.sql(`SELECT regexp_replace(event_pk, '@[0-9]+$', '') AS pk, encode(event_hash, 'hex') AS h FROM audit_chain WHERE event_kind = $1 ORDER BY seq`, [kind])
  ).rows.map((r) => `${r.pk} ${r.h}`);

test('a row captured in wal mode has the same event pk and hash as in sync and queued mode, for every column type, inserts, updates (also of the key, with a TOASTed value unchanged) and deletes', async () => {
  const f = await fixture();
  try {
    await f.sql('CREATE DOMAIN positive_int AS int CHECK (VALUE > 0)');
    for (const t of ['s', 'q', 'w']) await f.sql(`CREATE TABLE ${t} ${columns}`);
    await watchTable(f.ledger.store, 's', { mode: 'sync', kind: 'x_sync', updates: true, deletes: true });
    await watchTable(f.ledger.store, 'q', { mode: 'queued', kind: 'x_queued', updates: true, deletes: true });
    const w = await watchTable(f.ledger.store, 'w', { mode: 'wal', kind: 'x_wal', updates: true, deletes: true });
    assert.equal(w.mode, 'wal');
    // The writer's session settings must not matter: the sequencer's own session reads the slot.
    for (const t of ['s', 'q', 'w']) {
      await f.sql(`BEGIN; SET LOCAL TimeZone = 'America/New_York'; SET LOCAL DateStyle = 'SQL, DMY'; SET LOCAL extra_float_digits = -3; INSERT INTO ${t} ${rows}; COMMIT`);
      await f.sql(`UPDATE ${t} SET i = 43 WHERE id = 3`); // key unchanged: one #update version
      await f.sql(`UPDATE ${t} SET small = 8 WHERE id = 1`); // long_text unchanged: not re-sent by pgoutput
      await f.sql(`UPDATE ${t} SET id = 4 WHERE id = 3`); // key changed: #delete of 3, #update of 4
      await f.sql(`DELETE FROM ${t} WHERE id = 9007199254740993`);
    }
    assert.equal(await drainOutbox(f.ledger.store), 7 + 7, 'the queued and the wal changes (7 each)');
    const sync = await history(f, 'x_sync');
    assert.equal(sync.length, 8, "3 inserts, 2 updates, a key change (delete + update), a delete");
    assert.deepEqual(await history(f, 'x_queued'), sync);
    assert.deepEqual(await history(f, 'x_wal'), sync);
    assert.equal(await drainOutbox(f.ledger.store), 0, 'nothing is chained twice');
    assert.equal((await f.ledger.verify()).ok, true);
    const scan = await scanCapture(f.ledger.store);
    assert.equal(scan.ok, true, JSON.stringify(scan.findings));
  } finally {
    await f.close();
  }
});

test('wal mode: transactions chained in commit order, not in the order they began', async () => {
  const f = await fixture();
  const late = new pg.Client({ connectionString: f.url });
  await late.connect();
  try {
    await f.sql('CREATE TABLE ev (id int PRIMARY KEY, note text)');
    await watchTable(f.ledger.store, 'ev', { mode: 'wal' });
    await late.query('BEGIN');
    await late.query(`INSERT INTO ev VALUES (1, 'began first, commits last')`);
    await f.sql(`INSERT INTO ev VALUES (2, 'b'), (3, 'c')`);
    await late.query('COMMIT');
    await drainOutbox(f.ledger.store);
    const order = (await f.sql(`SELECT event_pk FROM audit_chain WHERE event_kind = 'ev' ORDER BY seq`)).rows.map((r) => r.event_pk);
    assert.deepEqual(order, ['2', '3', '1']);
  } finally {
    await late.end();
    await f.close();
  }
});

test('wal mode: a slot left behind the recorded position (a crash after the commit, before the slot advanced) replays without chaining anything twice', async () => {
  const f = await fixture();
  try {
    await f.sql('CREATE TABLE ev (id int PRIMARY KEY, note text)');
    await watchTable(f.ledger.store, 'ev', { mode: 'wal' });
    const slot = await slotName(f);
    await f.sql(`INSERT INTO ev SELECT g, 'n' || g FROM generate_series(1, 200) g`);
    await f.sql(`INSERT INTO ev VALUES (201, 'single')`);
    // A copy of the slot as it is before the sequencer runs: what a crash before the advance leaves.
    await f.sql(`SELECT pg_copy_logical_replication_slot($1, $2)`, [slot, `${slot}_bk`]);
    assert.equal(await drainOutbox(f.ledger.store), 201);
    await f.sql(`SELECT pg_drop_replication_slot($1)`, [slot]);
    await f.sql(`SELECT pg_copy_logical_replication_slot($1, $2)`, [`${slot}_bk`, slot]);
    await f.sql(`SELECT pg_drop_replication_slot($1)`, [`${slot}_bk`]);
    await f.sql(`INSERT INTO ev VALUES (202, 'after the crash')`);
    assert.equal(await drainOutbox(f.ledger.store), 1, 'only the row the replayed slot holds beyond the recorded LSN');
    const dup = await f.sql(`SELECT count(*)::int AS n, count(DISTINCT event_pk)::int AS d FROM audit_chain WHERE event_kind = 'ev'`);
    assert.deepEqual(dup.rows[0], { n: 202, d: 202 });
    const behind = await f.sql(`SELECT confirmed_flush_lsn >= (SELECT lsn FROM capture_wal) AS ok FROM pg_replication_slots WHERE slot_name = $1`, [slot]);
    assert.equal(behind.rows[0].ok, true, 'the replayed slot was advanced to the recorded position');
    assert.equal((await scanCapture(f.ledger.store)).ok, true);
  } finally {
    await f.close();
  }
});

test('wal sequencer killed with SIGKILL mid-stream, twice, while writers insert: every row chained exactly once, verify and scan pass', async () => {
  const f = await fixture();
  const children: Array<ReturnType<typeof spawn>> = [];
  try {
    await f.sql('CREATE TABLE ev (id bigserial PRIMARY KEY, writer int NOT NULL, body jsonb NOT NULL)');
    await watchTable(f.ledger.store, 'ev', { mode: 'wal' });
    const chained = async () => Number((await f.sql(`SELECT count(*) AS n FROM audit_chain WHERE event_kind = 'ev'`)).rows[0].n);
    const WRITERS = 4;
    const PER_WRITER = 1_500;
    let written = 0;
    const writing = Promise.all(
      Array.from({ length: WRITERS }, async (_, w) => {
        for (let i = 0; i < PER_WRITER; i++) {
          // mostly single-row transactions, some multi-row ones
          if (i % 100 === 0) await f.sql(`INSERT INTO ev (writer, body) SELECT $1, jsonb_build_object('i', g) FROM generate_series(1, 20) g`, [w]);
          else await f.sql(`INSERT INTO ev (writer, body) VALUES ($1, $2)`, [w, { i }]);
          written++;
        }
      }),
    );
    for (const threshold of [300, 1_500]) {
      const child = spawn(process.execPath, ['--import', 'tsx', CHILD, f.url], { stdio: 'ignore' });
      children.push(child);
      const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
      const start = Date.now();
      while ((await chained()) < threshold) {
        if (Date.now() - start > 60_000) throw new Error('the child sequencer made no progress');
        await new Promise((r) => setTimeout(r, 5));
      }
      child.kill('SIGKILL');
      assert.equal(await exited, 'SIGKILL');
    }
    const atKill = await chained();
    await writing;
    const rows = Number((await f.sql('SELECT count(*) AS n FROM ev')).rows[0].n);
    assert.equal(rows, WRITERS * (PER_WRITER - PER_WRITER / 100) + WRITERS * (PER_WRITER / 100) * 20);
    assert.ok(atKill < rows, `killed mid-stream (${atKill} of ${rows} chained, ${written} statements)`);
    assert.equal((await f.ledger.verify()).ok, true, 'the chain is consistent after the kills');
    // The restarted sequencer (here: a drain) chains the rest, and nothing twice.
    assert.equal(await drainOutbox(f.ledger.store), rows - atKill);
    const dup = await f.sql(`SELECT count(*)::int AS n, count(DISTINCT event_pk)::int AS d FROM audit_chain WHERE event_kind = 'ev'`);
    assert.deepEqual(dup.rows[0], { n: rows, d: rows });
    assert.equal((await f.ledger.verify()).ok, true);
    const scan = await scanCapture(f.ledger.store);
    assert.equal(scan.ok, true, JSON.stringify(scan.findings.slice(0, 5)));
  } finally {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await f.close();
  }
});

test('scan reports a dropped slot, a table removed from the publication and a dropped publication as capture_disabled; rows written meanwhile are unchained', async () => {
  const f = await fixture();
  try {
    await f.sql('CREATE TABLE ev (id int PRIMARY KEY)');
    await f.sql('CREATE TABLE other (id int PRIMARY KEY)');
    await watchTable(f.ledger.store, 'ev', { mode: 'wal' });
    await watchTable(f.ledger.store, 'other', { mode: 'wal', deletes: true });
    await f.sql('INSERT INTO ev VALUES (1)');
    await drainOutbox(f.ledger.store);
    assert.equal((await scanCapture(f.ledger.store)).ok, true);
    const slot = await slotName(f);
    const reasons = async () => (await scanCapture(f.ledger.store)).findings.map((x) => `${x.type} ${x.event_kind} ${x.event_pk} ${x.reason ?? ''}`.trim());

    await f.sql(`ALTER PUBLICATION ${slot} DROP TABLE other`);
    await f.sql('ALTER TABLE ev REPLICA IDENTITY DEFAULT'); // inserts only: still captured whole
    assert.deepEqual(await reasons(), ['capture_disabled other other publication_altered']);
    await f.sql(`ALTER PUBLICATION ${slot} ADD TABLE other`);
    await f.sql('ALTER TABLE other REPLICA IDENTITY DEFAULT'); // deletes would carry only the key
    assert.deepEqual(await reasons(), ['capture_disabled other other publication_altered']);
    await f.sql('ALTER TABLE other REPLICA IDENTITY FULL');

    await f.sql(`SELECT pg_drop_replication_slot($1)`, [slot]);
    await f.sql('INSERT INTO ev VALUES (2)');
    assert.equal(await drainOutbox(f.ledger.store), 0, 'nothing to read without the slot');
    assert.deepEqual(await reasons(), ['capture_disabled ev ev slot_missing', 'capture_disabled other other slot_missing', 'unchained ev 2']);

    await f.sql(`DROP PUBLICATION ${slot}`);
    assert.deepEqual(await reasons(), [
      'capture_disabled ev ev publication_missing',
      'capture_disabled ev ev slot_missing',
      'capture_disabled other other publication_missing',
      'capture_disabled other other slot_missing',
      'unchained ev 2',
    ]);
    // Watching again recreates both; the row written meanwhile is left to backfill, as in the other modes.
    await watchTable(f.ledger.store, 'ev', { mode: 'wal', kind: 'ev' });
    await watchTable(f.ledger.store, 'other', { mode: 'wal', deletes: true });
    assert.deepEqual(await reasons(), ['unchained ev 2']);
  } finally {
    await f.close();
  }
});

test('wal mode switched to sync and back, and unwatched: the publication follows, nothing is chained twice', async () => {
  const f = await fixture();
  try {
    await f.sql('CREATE TABLE ev (id int PRIMARY KEY)');
    await watchTable(f.ledger.store, 'ev', { mode: 'wal' });
    const slot = await slotName(f);
    const published = async () => (await f.sql(`SELECT count(*)::int AS n FROM pg_publication_tables WHERE pubname = $1 AND tablename = 'ev'`, [slot])).rows[0].n;
    assert.equal(await published(), 1);
    await f.sql('INSERT INTO ev VALUES (1)');
    await watchTable(f.ledger.store, 'ev', { mode: 'sync' });
    assert.equal(await published(), 0);
    await f.sql('INSERT INTO ev VALUES (2)');
    // Row 1 was committed while the table was wal-watched: the slot still delivers it.
    assert.equal(await drainOutbox(f.ledger.store), 1);
    await watchTable(f.ledger.store, 'ev', { mode: 'wal' });
    await f.sql('INSERT INTO ev VALUES (3)');
    assert.equal(await drainOutbox(f.ledger.store), 1);
    assert.deepEqual((await f.sql(`SELECT event_pk FROM audit_chain WHERE event_kind = 'ev' ORDER BY seq`)).rows.map((r) => r.event_pk), ['2', '1', '3']);
    const scan = await scanCapture(f.ledger.store);
    assert.equal(scan.ok, true, JSON.stringify(scan));
    await unwatchTable(f.ledger.store, 'ev');
    assert.equal(await published(), 0);
  } finally {
    await f.close();
  }
});
