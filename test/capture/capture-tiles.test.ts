/**
 * Sync capture (PL/pgSQL sealtrail_chain) and TypeScript appends write the same tiles: a mixed
 * workload, interleaved and concurrent, leaves exactly the tiles the definition gives for the
 * leaves. And a ledger with capture installed by the release before tiles is upgraded in place.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { openLedger } from '../../src/ledger/ledger.js';
import { ledgerMigrations } from '../../src/ledger/ledger.js';
import { installCapture, scanCapture, watchTable } from '../../src/capture/capture.js';
import { loadMigrations, migrate } from '../../src/store/migrate.js';
import { openStore } from '../../src/store/open-store.js';
import { merkleRoot } from '../../src/core/merkle.js';
import { postgresUrl } from '../helpers/databases.js';
import { expectedTiles, leavesOf, storedTiles } from '../helpers/tiles.js';

const CAPTURE_MIGRATIONS = new URL('../../src/capture/migrations/', import.meta.url);

test('TypeScript appends and sync-captured inserts, interleaved and concurrent, leave the tiles TypeScript computes', async () => {
  const url = await postgresUrl();
  const ledger = await openLedger({ url });
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  try {
    await installCapture(ledger.store);
    await pool.query('CREATE TABLE ev (id bigserial PRIMARY KEY, body text NOT NULL)');
    await watchTable(ledger.store, 'ev');
    const check = async (what: string) => {
      const leaves = await leavesOf(ledger);
      assert.deepEqual(await storedTiles(ledger.store), expectedTiles(leaves), what);
      assert.deepEqual((await ledger.head()).root, merkleRoot(leaves), what);
    };
    let n = 0;
    const batch = (k: number) => Array.from({ length: k }, () => ({ kind: 'ts', pk: `t${n++}`, payload: { n } }));
    // Each step crosses or lands on a tile boundary from a different writer.
    await ledger.appendBatch(batch(200));
    await pool.query(`INSERT INTO ev (body) SELECT 'row ' || g FROM generate_series(1, 100) g`);
    await check('sync statement across the first tile boundary');
    await ledger.append('ts', `t${n++}`, { one: true });
    for (let i = 0; i < 5; i++) await pool.query(`INSERT INTO ev (body) VALUES ('single ${i}')`);
    await ledger.appendBatch(batch(300));
    await check('TypeScript batch across a boundary after single-row inserts');
    // A domain write that fires the capture trigger inside the appender's own transaction.
    await ledger.appendWith(batch(50), async (tx) => {
      await tx.run(`INSERT INTO ev (body) SELECT 'in tx ' || g FROM generate_series(1, 60) g`);
    });
    await ledger.appendBatch(batch(3));
    await check('trigger chaining inside an append transaction');
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await client.query(`INSERT INTO ev (body) SELECT 'tx a ' || g FROM generate_series(1, 150) g`);
      await client.query(`INSERT INTO ev (body) SELECT 'tx b ' || g FROM generate_series(1, 150) g`);
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    await check('two statements in one transaction');
    await Promise.all([
      ...Array.from({ length: 20 }, () => ledger.append('ts', `t${n++}`, { c: n })),
      ...Array.from({ length: 20 }, (_, i) => pool.query(`INSERT INTO ev (body) SELECT 'c${i} ' || g FROM generate_series(1, 7) g`)),
      ledger.appendBatch(batch(120)),
    ]);
    await check('concurrent writers of both kinds');
    const verified = await ledger.verify();
    assert.equal(verified.ok, true, JSON.stringify(verified.divergence));
    assert.ok(verified.size > 1200);
    assert.equal((await scanCapture(ledger.store)).ok, true);
  } finally {
    await pool.end();
    await ledger.close();
  }
});

test('a ledger and capture installed by the release before tiles are upgraded: first open converts, capture 005 catches up, merkle_nodes goes', async () => {
  const url = await postgresUrl();
  const store = openStore(url);
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  try {
    // The previous release: ledger schema 1, capture schema 1-4 with its event triggers, a sync watch.
    await migrate(store, 'ledger', ledgerMigrations(store).slice(0, 1));
    await migrate(store, 'capture', loadMigrations(CAPTURE_MIGRATIONS, 'postgres').slice(0, 4));
    for (const [name, event] of [['sealtrail_ddl_end', 'ddl_command_end'], ['sealtrail_ddl_drop', 'sql_drop']]) {
      await pool.query(`CREATE EVENT TRIGGER ${name} ON ${event} EXECUTE FUNCTION sealtrail_ddl_evidence()`);
      await pool.query(`ALTER EVENT TRIGGER ${name} ENABLE ALWAYS`);
    }
    await pool.query('CREATE TABLE old_t (id int PRIMARY KEY)');
    await pool.query(`INSERT INTO capture_tables (relid, table_name, event_kind, mode, pk_columns) VALUES ('old_t'::regclass, 'old_t', 'old_t', 'sync', '{id}')`);
    await pool.query(`CREATE TRIGGER sealtrail_capture AFTER INSERT ON old_t FOR EACH ROW EXECUTE FUNCTION audit_chain_append('old_t', 'sync', 'id')`);
    await pool.query('ALTER TABLE old_t ENABLE ALWAYS TRIGGER sealtrail_capture');
    await pool.query(`CREATE TRIGGER sealtrail_truncate_guard BEFORE TRUNCATE ON old_t FOR EACH STATEMENT EXECUTE FUNCTION sealtrail_guard()`);
    await pool.query('ALTER TABLE old_t ENABLE ALWAYS TRIGGER sealtrail_truncate_guard');
    await pool.query('INSERT INTO old_t SELECT g FROM generate_series(1, 300) g');
    const oldNodes = Number((await pool.query('SELECT count(*) AS n FROM merkle_nodes')).rows[0].n);
    assert.ok(oldNodes > 300, 'the old release wrote merkle_nodes');
  } finally {
    await store.close();
  }
  const ledger = await openLedger({ url });
  try {
    const before = await ledger.head();
    assert.deepEqual(await storedTiles(ledger.store), expectedTiles(await leavesOf(ledger)), 'converted from the leaves');
    // The old sealtrail_chain still writes merkle_nodes, so it is kept and the tiles fall behind ...
    await pool.query('INSERT INTO old_t SELECT g FROM generate_series(301, 310) g');
    assert.ok((await ledger.head()).size > 300);
    // ... until `sealtrail init` applies capture 005: tiles caught up from the leaves, merkle_nodes dropped.
    const report = await installCapture(ledger.store);
    assert.equal(report.applied, loadMigrations(CAPTURE_MIGRATIONS, 'postgres').length - 4, 'capture 005 and every later step');
    assert.equal((await pool.query("SELECT to_regclass('merkle_nodes') AS t")).rows[0].t, null);
    await pool.query('INSERT INTO old_t SELECT g FROM generate_series(311, 600) g');
    await ledger.appendBatch([{ kind: 'ts', pk: 'after-upgrade', payload: {} }]);
    const leaves = await leavesOf(ledger);
    assert.deepEqual(await storedTiles(ledger.store), expectedTiles(leaves));
    assert.deepEqual(merkleRoot(leaves.slice(0, before.size)), before.root, 'the converted ledger kept its root');
    const verified = await ledger.verify();
    assert.equal(verified.ok, true, JSON.stringify(verified.divergence));
    const scan = await scanCapture(ledger.store, undefined, { since: before.size });
    assert.equal(scan.ok, true, JSON.stringify(scan.findings));
  } finally {
    await pool.end();
    await ledger.close();
  }
});

test('the write guards let a partial tile only grow: edits, shrinking and deletes are refused, or chained as maintenance', async () => {
  const url = await postgresUrl();
  const ledger = await openLedger({ url });
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await installCapture(ledger.store);
    await ledger.appendBatch(Array.from({ length: 300 }, (_, i) => ({ kind: 'g', pk: `g${i}`, payload: { i } })));
    for (const stmt of [
      `UPDATE merkle_tiles SET hashes = hashes WHERE level = 0 AND idx = 1`,
      `UPDATE merkle_tiles SET width = 10, hashes = substring(hashes FROM 1 FOR 320) WHERE level = 0 AND idx = 1`,
      `UPDATE merkle_tiles SET hashes = set_byte(hashes, 0, 7) WHERE level = 0 AND idx = 0`,
      `UPDATE merkle_tiles SET idx = 9 WHERE level = 1`,
      `DELETE FROM merkle_tiles WHERE level = 0 AND idx = 0`,
      `TRUNCATE merkle_tiles`,
    ]) {
      await assert.rejects(client.query(stmt), /append-only/, stmt);
    }
    assert.equal((await ledger.verify()).ok, true);
    const size = (await ledger.head()).size;
    await client.query(`SET sealtrail.maintenance = 'on'`);
    await client.query(`UPDATE merkle_tiles SET hashes = set_byte(hashes, 3 * 32, get_byte(hashes, 3 * 32) # 1) WHERE level = 0 AND idx = 0`);
    const after = await ledger.head();
    assert.equal(after.size, size + 1, 'the maintenance statement was chained');
    assert.equal((await ledger.entry(after.size))?.kind, 'sealtrail.maintenance');
    const report = await ledger.verify();
    assert.deepEqual({ seq: report.divergence?.seq, reason: report.divergence?.reason }, { seq: 4, reason: 'tree_mismatch' });
  } finally {
    await client.end();
    await ledger.close();
  }
});
