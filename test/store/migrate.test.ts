/** Versioned migrations on both backends: applied once, recorded with their SHA-256, never run backwards. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isSealtrailError } from '../../src/core/errors.js';
import { openLedger } from '../../src/ledger/ledger.js';
import { loadMigrations, migrate } from '../../src/store/migrate.js';
import { openStore } from '../../src/store/open-store.js';
import { BACKENDS, tempDir } from '../helpers/databases.js';

function migrationDir(steps: string[]): string {
  const dir = tempDir();
  for (const dialect of ['sqlite', 'postgres']) {
    mkdirSync(join(dir, dialect));
    steps.forEach((sql, i) => writeFileSync(join(dir, dialect, `${String(i + 1).padStart(3, '0')}-step.sql`), sql));
  }
  return dir;
}

for (const backend of BACKENDS) {
  describe(`migrations on ${backend.name}`, () => {
    it('applies each step once, in its own transaction, and a second run is a no-op', async () => {
      const store = openStore(await backend.freshUrl());
      try {
        const dir = migrationDir(['CREATE TABLE m1 (id INTEGER PRIMARY KEY);', 'CREATE TABLE m2 (id INTEGER PRIMARY KEY);']);
        assert.equal(await migrate(store, 'demo', loadMigrations(dir, store.dialect)), 2);
        assert.equal(await migrate(store, 'demo', loadMigrations(dir, store.dialect)), 0);
        const rows = await store.query<{ version: number; sha256: string }>("SELECT version, sha256 FROM sealtrail_migrations WHERE component = 'demo' ORDER BY version");
        assert.deepEqual(rows.map((r) => Number(r.version)), [1, 2]);
        assert.ok(rows.every((r) => /^[0-9a-f]{64}$/.test(r.sha256)));
      } finally {
        await store.close();
      }
    });

    it('rolls back a failing step whole and records nothing for it', async () => {
      const store = openStore(await backend.freshUrl());
      try {
        const dir = migrationDir(['CREATE TABLE ok1 (id INTEGER PRIMARY KEY);', 'CREATE TABLE half (id INTEGER PRIMARY KEY); THIS IS NOT SQL;']);
        await assert.rejects(migrate(store, 'demo', loadMigrations(dir, store.dialect)));
        const rows = await store.query("SELECT version FROM sealtrail_migrations WHERE component = 'demo'");
        assert.equal(rows.length, 1);
        await assert.rejects(store.query('SELECT * FROM half'));
      } finally {
        await store.close();
      }
    });

    it('refuses a database that is ahead of the code, or whose applied step changed', async () => {
      const store = openStore(await backend.freshUrl());
      try {
        const two = migrationDir(['CREATE TABLE a1 (id INTEGER PRIMARY KEY);', 'CREATE TABLE a2 (id INTEGER PRIMARY KEY);']);
        await migrate(store, 'demo', loadMigrations(two, store.dialect));
        const one = migrationDir(['CREATE TABLE a1 (id INTEGER PRIMARY KEY);']);
        await assert.rejects(migrate(store, 'demo', loadMigrations(one, store.dialect)), (e) => isSealtrailError(e, 'schema_ahead'));
        const edited = migrationDir(['CREATE TABLE a1 (id INTEGER PRIMARY KEY, extra TEXT);', 'CREATE TABLE a2 (id INTEGER PRIMARY KEY);']);
        await assert.rejects(migrate(store, 'demo', loadMigrations(edited, store.dialect)), (e) => isSealtrailError(e, 'migration_changed'));
      } finally {
        await store.close();
      }
    });

    it('a read-only opener reports a missing schema instead of creating it', async () => {
      const url = await backend.freshUrl();
      await assert.rejects(openLedger({ url, migrate: false }), (e) => isSealtrailError(e, 'schema_missing'));
      await (await openLedger({ url })).close();
      const ledger = await openLedger({ url, migrate: false });
      assert.equal((await ledger.head()).size, 0);
      await ledger.close();
    });
  });
}
