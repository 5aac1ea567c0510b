import { test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { openLedger, type Ledger } from '../../src/ledger/ledger.js';
import { isSealtrailError } from '../../src/core/errors.js';
import { canonicalize } from '../../src/core/canonical-json.js';
import {
  backfill,
  drainOutbox,
  installCapture,
  listWatched,
  runSequencer,
  scanCapture,
  unwatchTable,
  watchTable,
  watchTables,
  READ_ONLY_ROLE,
} from '../../src/capture/capture.js';
import { canonicalRow, canonicalNumber } from '../../src/capture/canonical-row.js';
import { postgresUrl } from '../helpers/databases.js';

async function fixture(): Promise<{ url: string; ledger: Ledger; sql: (text: string, params?: unknown[]) => Promise<pg.QueryResult> ; close: () => Promise<void> }> {
  const url = await postgresUrl();
  const ledger = await openLedger({ url });
  await installCapture(ledger.store);
  const pool = new pg.Pool({ connectionString: url, max: 4 });
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

const ALL_TYPES = `CREATE TABLE all_types (
  action_id bigint PRIMARY KEY, small smallint, i int, big bigint, n numeric, n2 numeric(12,4), f float8,
  t text, vc varchar(20), ok boolean, ts timestamptz, lt timestamp, d date, u uuid, j jsonb, js json,
  ia int[], ta text[][], b bytea, ba bytea[], "Ünï ""quoted"" col" text, "😀" int, "\uE000" int)`;

test('SQL and TypeScript agree on the canonical row form for every supported type', async () => {
  const f = await fixture();
  try {
    await f.sql(ALL_TYPES);
    await watchTable(f.ledger.store, 'all_types');
    await f.sql(`INSERT INTO all_types VALUES
      (1, 7, -2147483648, 9007199254740991, 1.50, 12345678.1234, 0.1,
       E'quote " backslash \\\\ newline \\n tab \\t bell \\x07 é 中文 😀', 'x', true,
       '2024-02-29 23:59:59.999999+05:30', '1999-12-31 01:02:03.5', '2024-02-29', 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11',
       '{"z":1,"a":[1.0,2.50,-0,1e30,123456789012345678,0.0000001,3.14159,{"é":null,"e":true}],"\uE000":"pua","😀":"astral","":""}',
       '{"b": 1, "a": 2}',
       '{{1,2},{3,NULL}}', '{{"a","b"},{"c\\"d",NULL}}', '\\x00ff10', '{"\\\\x01",NULL}', 'col', 1, 2),
      (9007199254740993, NULL, NULL, -9223372036854775808, 'NaN', NULL, 'Infinity', '', NULL, false,
       'infinity', '-infinity', '0001-01-01', NULL, '[]', 'null', '{}', '{}', '\\x', '{}', NULL, NULL, NULL),
      (3, NULL, NULL, NULL, 100000000000000000000000.000001, NULL, 1e-7, NULL, NULL, NULL,
       '1970-01-01 00:00:00+00', NULL, NULL, NULL, '{"n":-12.3400}', '"s"', NULL, NULL, NULL, NULL, NULL, NULL, NULL)`);
    const chained = await f.sql(`SELECT event_pk, payload FROM audit_chain WHERE event_kind = 'all_types' ORDER BY seq`);
    assert.equal(chained.rows.length, 3);
    const columns = (await f.sql(`SELECT name, tag FROM sealtrail_column_tags('all_types'::regclass) ORDER BY num`)).rows as Array<{ name: string; tag: string }>;
    // Another session setting must not change anything: the TypeScript side reads rows in a different time zone.
    const client = new pg.Client({ connectionString: f.url });
    await client.connect();
    await client.query(`SET TIME ZONE 'America/St_Johns'`);
    const rows = (await client.query(`SELECT action_id::text AS id, to_jsonb(t.*)::text AS j FROM all_types t ORDER BY action_id`)).rows as Array<{ id: string; j: string }>;
    await client.end();
    const byPk = new Map(chained.rows.map((r: { event_pk: string; payload: string }) => [r.event_pk, r.payload]));
    for (const row of rows) { assert.equal(canonicalRow(columns, row.j), byPk.get(row.id), `row ${row.id}`); }

    const first = JSON.parse(byPk.get('1')!) as Record<string, unknown>;
    assert.equal(first.big, 9007199254740991);
    assert.equal(first.n, '1.50');
    assert.equal(first.ts, '2024-02-29T18:29:59.999999Z');
    assert.equal(first.lt, '1999-12-31T01:02:03.500000');
    assert.equal(first.u, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11');
    assert.deepEqual(first.b, { __bytes__: 'AP8Q' });
    assert.deepEqual(first.ia, [[1, 2], [3, null]]);
    // The payload is RFC 8785 canonical JSON: re-canonicalising the parsed text changes nothing
    // (every number in it is exact, so JSON.parse loses nothing).
    assert.equal(canonicalize(first), byPk.get('1'));
    const second = JSON.parse(byPk.get('9007199254740993')!) as Record<string, unknown>;
    assert.equal(second.action_id, '9007199254740993', 'bigints beyond 2^53 are strings, never rounded');
    assert.equal(second.big, '-9223372036854775808');
    assert.match(byPk.get('3')!, /"n":"100000000000000000000000.000001"/);
    assert.match(byPk.get('3')!, /"j":\{"n":-12.34\}/);
  } finally {
    await f.close();
  }
});

test('numbers inside JSON are exact or wrapped, never rounded', () => {
  assert.equal(canonicalNumber('1.50'), '1.5');
  assert.equal(canonicalNumber('-0'), '0');
  assert.equal(canonicalNumber('9007199254740991'), '9007199254740991');
  assert.equal(canonicalNumber('9007199254740992'), '{"__numeric__":"9007199254740992"}');
  assert.equal(canonicalNumber('0.0000001'), '{"__numeric__":"0.0000001"}');
  assert.equal(canonicalNumber('0.1234567890123456'), '{"__numeric__":"0.1234567890123456"}');
});

test('sync capture chains every inserted row; verify and scan are clean', async () => {
  const f = await fixture();
  try {
    await f.sql('CREATE TABLE task_events (action_id bigserial PRIMARY KEY, body text NOT NULL, at timestamptz DEFAULT now())');
    const w = await watchTable(f.ledger.store, 'task_events');
    assert.deepEqual(w.pkColumns, ['action_id']);
    await f.sql(`INSERT INTO task_events (body) SELECT 'event ' || g FROM generate_series(1, 50) g`);
    const rows = await f.sql(`SELECT count(*)::int AS n FROM audit_chain WHERE event_kind = 'task_events'`);
    assert.equal(rows.rows[0].n, 50);
    assert.equal((await f.ledger.verify()).ok, true);
    const report = await scanCapture(f.ledger.store);
    assert.equal(report.ok, true, JSON.stringify(report.findings));
    assert.deepEqual(report.tables.find((t) => t.kind === 'task_events'), { kind: 'task_events', rows: 50, chained: 50 });
    // Mixed with TypeScript appends, the chain stays one chain.
    await f.ledger.append('note', 'n1', { hello: 'world' });
    await f.sql(`INSERT INTO task_events (body) VALUES ('after')`);
    assert.equal((await f.ledger.verify()).ok, true);
  } finally {
    await f.close();
  }
});

test('tampering with the chain is found at exactly that seq; deleted and edited source rows are found by scan', async () => {
  const f = await fixture();
  try {
    await f.sql('CREATE TABLE alerts (id int PRIMARY KEY, msg text)');
    await watchTable(f.ledger.store, 'alerts');
    await f.sql(`INSERT INTO alerts SELECT g, 'alert ' || g FROM generate_series(1, 10) g`);
    const seqOf = async (pk: string) => Number((await f.sql(`SELECT seq FROM audit_chain WHERE event_kind = 'alerts' AND event_pk = $1`, [pk])).rows[0].seq);

    // The guard refuses even the owner.
    await assert.rejects(f.sql(`UPDATE audit_chain SET payload = NULL WHERE seq = 1`), /append-only/);
    await assert.rejects(f.sql(`TRUNCATE alerts`), /append-only/);

    await f.sql(`DELETE FROM alerts WHERE id = 3`);
    await f.sql(`UPDATE alerts SET msg = 'rewritten' WHERE id = 5`);
    const report = await scanCapture(f.ledger.store);
    assert.equal(report.ok, false);
    assert.deepEqual(
      report.findings.map((x) => [x.type, x.event_pk, x.seq]),
      [
        ['deleted', '3', await seqOf('3')],
        ['edited', '5', await seqOf('5')],
      ],
    );

    const target = await seqOf('7');
    const client = new pg.Client({ connectionString: f.url });
    await client.connect();
    await client.query(`SET sealtrail.maintenance = 'on'`); // past the guard (the statement is chained as maintenance)
    await client.query(`UPDATE audit_chain SET event_hash = sha256('forged') WHERE seq = $1`, [target]);
    let v = await f.ledger.verify();
    assert.equal(v.ok, false);
    assert.equal(v.divergence?.seq, target);
    await client.query(`UPDATE audit_chain SET event_hash = sha256(convert_to(payload, 'UTF8')) WHERE seq = $1`, [target]);
    assert.equal((await f.ledger.verify()).ok, true);
    const victim = await seqOf('8');
    await client.query(`DELETE FROM audit_chain WHERE seq = $1`, [victim]);
    await client.end();
    v = await f.ledger.verify();
    assert.equal(v.ok, false);
    assert.equal(v.divergence?.seq, victim);
  } finally {
    await f.close();
  }
});

test('maintenance with the session flag is allowed and chained', async () => {
  const f = await fixture();
  try {
    const client = new pg.Client({ connectionString: f.url });
    await client.connect();
    await client.query(`SET sealtrail.maintenance = 'on'`);
    await client.query(`UPDATE checkpoints SET cosignatures = '[]' WHERE false`);
    await client.end();
    const ev = await f.sql(`SELECT payload FROM audit_chain WHERE event_kind = 'sealtrail.maintenance'`);
    assert.equal(ev.rows.length, 1);
    assert.match(ev.rows[0].payload, /"operation":"UPDATE","query":"UPDATE checkpoints/);
    assert.equal((await f.ledger.verify()).ok, true);
  } finally {
    await f.close();
  }
});

test('switching capture off leaves evidence and scan catches the rows written meanwhile', async () => {
  const f = await fixture();
  try {
    await f.sql('CREATE TABLE provenance (id int PRIMARY KEY, v text)');
    await watchTable(f.ledger.store, 'provenance');
    await f.sql(`INSERT INTO provenance VALUES (1, 'a')`);
    await f.sql(`ALTER TABLE provenance DISABLE TRIGGER sealtrail_capture`);
    await f.sql(`INSERT INTO provenance VALUES (2, 'sneaky')`);
    await f.sql(`ALTER TABLE provenance ENABLE ALWAYS TRIGGER sealtrail_capture`);
    await f.sql(`INSERT INTO provenance VALUES (3, 'c')`);
    const report = await scanCapture(f.ledger.store);
    assert.deepEqual(report.findings, [{ type: 'unchained', event_kind: 'provenance', event_pk: '2', seq: null }]);
    const ddl = await f.sql(`SELECT payload FROM audit_chain WHERE event_kind = 'sealtrail.ddl' ORDER BY seq`);
    assert.ok(ddl.rows.some((r: { payload: string }) => /DISABLE TRIGGER sealtrail_capture/.test(r.payload)), 'the DISABLE is chained');
    assert.ok(ddl.rows.some((r: { payload: string }) => /ENABLE ALWAYS TRIGGER/.test(r.payload)), 'the re-enable is chained');
    await f.sql(`DROP TRIGGER sealtrail_capture ON provenance`);
    const dropped = await f.sql(`SELECT count(*)::int AS n FROM audit_chain WHERE event_kind = 'sealtrail.ddl' AND payload LIKE '%DROP TRIGGER%'`);
    assert.equal(dropped.rows[0].n, 1);
    assert.equal((await f.ledger.verify()).ok, true);
  } finally {
    await f.close();
  }
});

test('watch finds non-standard and composite keys, needs --pk without one, reports missing tables and is idempotent', async () => {
  const f = await fixture();
  try {
    await f.sql('CREATE TABLE a (action_id uuid PRIMARY KEY DEFAULT gen_random_uuid(), x int)');
    await f.sql('CREATE TABLE b (tenant text, n int, PRIMARY KEY (tenant, n))');
    await f.sql('CREATE TABLE c (k text, v text)');
    const { watched, failed } = await watchTables(f.ledger.store, ['a', 'missing_table', 'b', 'c'], { mode: 'queued' });
    assert.deepEqual(watched.map((w) => [w.table, w.pkColumns]), [['a', ['action_id']], ['b', ['tenant', 'n']]]);
    assert.deepEqual(failed.map((x) => [x.table, x.error.code]), [['missing_table', 'table_not_found'], ['c', 'primary_key_missing']]);
    await watchTable(f.ledger.store, 'c', { pk: ['k'] });
    const size = (await f.ledger.head()).size;
    await watchTable(f.ledger.store, 'b', { mode: 'queued' });
    assert.equal((await f.ledger.head()).size, size, 'watching again changes nothing');
    await f.sql(`INSERT INTO b VALUES ('acme', 1), ('o''hare "x"', 2)`);
    await f.sql(`INSERT INTO c VALUES ('key', 'v')`);
    assert.equal(await drainOutbox(f.ledger.store), 2);
    const pks = (await f.sql(`SELECT event_pk FROM audit_chain WHERE event_kind IN ('b', 'c') ORDER BY seq`)).rows.map((r: { event_pk: string }) => r.event_pk);
    assert.deepEqual(pks, ['key', '["acme",1]', '["o\'hare \\"x\\"",2]']);
    assert.equal((await scanCapture(f.ledger.store)).ok, true);
    assert.equal(await unwatchTable(f.ledger.store, 'c'), true);
    assert.deepEqual((await listWatched(f.ledger.store)).map((w) => w.table), ['a', 'b']);
    await assert.rejects(watchTable(f.ledger.store, 'nope'), (e) => isSealtrailError(e, 'table_not_found'));
  } finally {
    await f.close();
  }
});

test('queued mode loses nothing when transactions commit out of id order', async () => {
  const f = await fixture();
  try {
    await f.sql('CREATE TABLE q (id int PRIMARY KEY)');
    await watchTable(f.ledger.store, 'q', { mode: 'queued' });
    const early = new pg.Client({ connectionString: f.url });
    await early.connect();
    await early.query('BEGIN');
    await early.query('INSERT INTO q VALUES (1)'); // takes the lower outbox id, commits last
    await f.sql('INSERT INTO q VALUES (2)');
    assert.equal(await drainOutbox(f.ledger.store), 1);
    await early.query('COMMIT');
    await early.end();
    assert.equal(await drainOutbox(f.ledger.store), 1);
    const pks = (await f.sql(`SELECT event_pk FROM audit_chain WHERE event_kind = 'q' ORDER BY seq`)).rows.map((r: { event_pk: string }) => r.event_pk);
    assert.deepEqual(pks, ['2', '1']);
    assert.equal((await scanCapture(f.ledger.store)).ok, true);
    assert.equal((await f.ledger.verify()).ok, true);
  } finally {
    await f.close();
  }
});

test('two sequencers draining the same outbox at once chain every entry exactly once', async () => {
  const f = await fixture();
  try {
    await f.sql('CREATE TABLE d (id int PRIMARY KEY, note text)');
    await watchTable(f.ledger.store, 'd', { mode: 'queued' });
    await f.sql(`INSERT INTO d SELECT g, 'n' || g FROM generate_series(1, 3000) g`);
    // Both calling forms: the Ledger (its own group commit) and, as before, its Store.
    const [a, b] = await Promise.all([drainOutbox(f.ledger, { batchSize: 250 }), drainOutbox(f.ledger.store, { batchSize: 250 })]);
    assert.equal(a + b, 3000);
    const counts = await f.sql(`SELECT count(*)::int AS n, count(DISTINCT event_pk)::int AS pks FROM audit_chain WHERE event_kind = 'd'`);
    assert.deepEqual(counts.rows[0], { n: 3000, pks: 3000 });
    assert.equal(Number((await f.sql('SELECT count(*) AS n FROM capture_outbox')).rows[0].n), 0);
    assert.equal((await scanCapture(f.ledger.store)).ok, true);
    assert.equal((await f.ledger.verify()).ok, true);
  } finally {
    await f.close();
  }
});

test('one sequencer leads; a standby takes over when it stops', async () => {
  const f = await fixture();
  const a = new AbortController();
  const b = new AbortController();
  const running: Promise<unknown>[] = [];
  try {
    await f.sql('CREATE TABLE s (id int PRIMARY KEY)');
    await watchTable(f.ledger.store, 's', { mode: 'queued' });
    const roles: string[] = [];
    const runA = runSequencer(f.ledger, { signal: a.signal, pollMs: 10, onRole: (r) => roles.push(`a:${r}`) });
    running.push(runA);
    // B starts once A holds the lead (the event itself, not a guess at how long A takes).
    await waitFor(async () => roles.includes('a:leader'));
    const runB = runSequencer(f.ledger.store, { signal: b.signal, pollMs: 10, standbyMs: 50, onRole: (r) => roles.push(`b:${r}`) });
    running.push(runB);
    await waitFor(async () => roles.includes('b:standby'));
    await f.sql('INSERT INTO s SELECT g FROM generate_series(1, 100) g');
    await waitFor(async () => Number((await f.sql('SELECT count(*) AS n FROM capture_outbox')).rows[0].n) === 0);
    assert.ok(roles.includes('a:leader') && roles.includes('b:standby') && !roles.includes('b:leader'));
    a.abort();
    const chainedByA = await runA;
    assert.equal(chainedByA, 100);
    await waitFor(async () => roles.includes('b:leader'));
    await f.sql('INSERT INTO s SELECT g FROM generate_series(101, 150) g');
    await waitFor(async () => Number((await f.sql('SELECT count(*) AS n FROM capture_outbox')).rows[0].n) === 0);
    b.abort();
    assert.equal(await runB, 50);
    assert.equal((await scanCapture(f.ledger.store)).ok, true);
  } finally {
    // Whatever failed above, no sequencer may outlive the database it polls.
    a.abort();
    b.abort();
    await Promise.allSettled(running);
    await f.close();
  }
});

test('backfill chains pre-existing rows in key order, and a re-run adds nothing', async () => {
  const f = await fixture();
  try {
    await f.sql('CREATE TABLE old_rows (k text, n int, payload jsonb, PRIMARY KEY (k, n))');
    await f.sql(`INSERT INTO old_rows SELECT 'k' || (g % 7), g, jsonb_build_object('g', g) FROM generate_series(1, 500) g`);
    await watchTable(f.ledger.store, 'old_rows');
    await f.sql(`INSERT INTO old_rows VALUES ('new', 1, '{}')`);
    assert.equal((await scanCapture(f.ledger.store)).findings.length, 500);
    const [first] = await backfill(f.ledger.store, ['old_rows'], { batchSize: 64 });
    assert.deepEqual(first, { table: 'old_rows', kind: 'old_rows', rows: 501, chained: 500 });
    const [again] = await backfill(f.ledger.store, undefined, { batchSize: 64 });
    assert.equal(again!.chained, 0);
    const order = (await f.sql(`SELECT event_pk FROM audit_chain WHERE event_kind = 'old_rows' ORDER BY seq LIMIT 3 OFFSET 1`)).rows.map((r: { event_pk: string }) => r.event_pk);
    assert.deepEqual(order, ['["k0",7]', '["k0",14]', '["k0",21]']);
    assert.equal((await scanCapture(f.ledger.store)).ok, true);
    assert.equal((await f.ledger.verify()).ok, true);
  } finally {
    await f.close();
  }
});

test('the read-only role can verify and scan but cannot write', async () => {
  const f = await fixture();
  try {
    await f.sql('CREATE TABLE ro_t (id int PRIMARY KEY)');
    await watchTable(f.ledger.store, 'ro_t');
    await f.sql('INSERT INTO ro_t VALUES (1), (2)');
    await f.sql(`ALTER ROLE ${READ_ONLY_ROLE} PASSWORD 'ro-test'`);
    const u = new URL(f.url);
    u.username = READ_ONLY_ROLE;
    u.password = 'ro-test';
    const ro = await openLedger({ url: u.toString(), migrate: false });
    try {
      assert.equal((await ro.verify()).ok, true);
      assert.equal((await scanCapture(ro.store)).ok, true);
      for (const stmt of [
        `INSERT INTO ro_t VALUES (3)`,
        `INSERT INTO audit_chain VALUES (99, 'x', 'y', sha256(''), sha256(''), sha256(''), now(), NULL)`,
        `UPDATE ledger_head SET size = 0`,
        `DELETE FROM merkle_tiles`,
        `SELECT sealtrail_chain(ARRAY['x'], ARRAY['y'], ARRAY['{}'])`,
        `CREATE TABLE ro_new (x int)`,
      ]) {
        await assert.rejects(ro.store.query(stmt), (e) => isSealtrailError(e, 'permission_denied'), stmt);
      }
      await assert.rejects(ro.append('x', 'y', {}), (e) => isSealtrailError(e, 'permission_denied'));
    } finally {
      await ro.close();
    }
  } finally {
    await f.close();
  }
});

test('capture refuses SQLite with unsupported_backend', async () => {
  const { sqliteUrl } = await import('../helpers/databases.js');
  const ledger = await openLedger({ url: sqliteUrl() });
  try {
    await assert.rejects(installCapture(ledger.store), (e) => isSealtrailError(e, 'unsupported_backend'));
    await assert.rejects(watchTable(ledger.store, 't'), (e) => isSealtrailError(e, 'unsupported_backend'));
    await assert.rejects(drainOutbox(ledger), (e) => isSealtrailError(e, 'unsupported_backend'));
    await assert.rejects(runSequencer(ledger), (e) => isSealtrailError(e, 'unsupported_backend'));
    await assert.rejects(backfill(ledger.store), (e) => isSealtrailError(e, 'unsupported_backend'));
  } finally {
    await ledger.close();
  }
});

async function waitFor(check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > timeoutMs) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}
