import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { openStore } from '../../src/store/open-store.js';
import { BACKENDS } from '../helpers/databases.js';

for (const backend of BACKENDS) {
  describe(`store on ${backend.name}`, () => {
    it('creates a table, writes and reads back rows in a transaction', async () => {
      const store = openStore(await backend.freshUrl());
      try {
        await store.exec('CREATE TABLE smoke (id INTEGER PRIMARY KEY, note TEXT NOT NULL, data BYTEA)'.replace('BYTEA', store.dialect === 'sqlite' ? 'BLOB' : 'BYTEA'));
        await store.transaction(async (tx) => {
          await tx.run('INSERT INTO smoke (id, note, data) VALUES (?, ?, ?)', [1, "it's ?", Buffer.from([1, 2, 3])]);
          await tx.run('INSERT INTO smoke (id, note, data) VALUES (?, ?, ?)', [2, 'two', null]);
        });
        const rows = await store.query<{ id: number; note: string; data: Buffer | null }>('SELECT id, note, data FROM smoke ORDER BY id');
        assert.equal(rows.length, 2);
        assert.equal(Number(rows[0]!.id), 1);
        assert.equal(rows[0]!.note, "it's ?");
        assert.deepEqual([...rows[0]!.data!], [1, 2, 3]);
        assert.equal(rows[1]!.data, null);
      } finally {
        await store.close();
      }
    });

    it('rolls back everything a failed transaction wrote', async () => {
      const store = openStore(await backend.freshUrl());
      try {
        await store.exec('CREATE TABLE smoke (id INTEGER PRIMARY KEY)');
        await assert.rejects(
          store.transaction(async (tx) => {
            await tx.run('INSERT INTO smoke (id) VALUES (?)', [1]);
            throw new Error('boom');
          }),
          /boom/,
        );
        assert.deepEqual(await store.query('SELECT * FROM smoke'), []);
      } finally {
        await store.close();
      }
    });
  });
}
