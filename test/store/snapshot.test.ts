/**
 * Snapshot reads see one committed state, whatever commits meanwhile; on PostgreSQL another
 * connection can adopt the same snapshot (how parallel verification workers read).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { openLedger } from '../../src/ledger/ledger.js';
import { BACKENDS } from '../helpers/databases.js';

for (const backend of BACKENDS) {
  describe(`snapshots on ${backend.name}`, () => {
    it('keep showing the state at their start while appends commit, and end when released', async () => {
      const url = await backend.freshUrl();
      const ledger = await openLedger({ url });
      const other = await openLedger({ url });
      try {
        await ledger.appendBatch([{ kind: 'k', pk: 'a', payload: 1 }]);
        const snap = await ledger.store.openSnapshot();
        const headThen = await snap.readHead();
        await ledger.appendBatch([{ kind: 'k', pk: 'b', payload: 2 }]);
        assert.equal((await ledger.head()).size, 2);
        assert.deepEqual(await snap.readHead(), headThen);
        assert.deepEqual(await snap.query('SELECT count(*) AS n FROM audit_chain'), [{ n: 1 }]);
        const batches = [];
        for await (const b of snap.entryBatches(1, 10)) batches.push(...b.map((e) => e.pk));
        assert.deepEqual(batches, ['a']);
        assert.deepEqual((await snap.readNodeRanges([{ level: 0, from: 0, to: 1 }]))[0]!.map((h) => h !== undefined), [true, false]);

        const id = await snap.exportSnapshot();
        if (backend.name === 'postgres') {
          assert.equal(typeof id, 'string');
          const adopted = await other.store.openSnapshot({ snapshotId: id! });
          try {
            assert.deepEqual(await adopted.readHead(), headThen, 'a second connection reads the exported snapshot');
          } finally {
            await adopted.release();
          }
        } else {
          assert.equal(id, null);
        }
        await snap.release();
        assert.equal((await other.store.readSnapshot((s) => s.readHead())).size, 2);
      } finally {
        await other.close();
        await ledger.close();
      }
    });
  });
}
