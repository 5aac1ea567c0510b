/**
 * Store.trySessionLock, the leader-election capability (capabilities.sessionLocks): on PostgreSQL
 * a session advisory lock held on a connection of its own, seen from a second store's connections;
 * on SQLite refused with unsupported_backend, as the capability flag says.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { isSealtrailError } from '../../src/core/errors.js';
import { openStore } from '../../src/store/open-store.js';
import type { Store } from '../../src/store/store.js';
import { BACKENDS } from '../helpers/databases.js';

const randomKey = () => randomBytes(8).readBigInt64BE(0);

async function withStores<T>(url: string, fn: (a: Store, b: Store) => Promise<T>): Promise<T> {
  const a = openStore(url);
  const b = openStore(url);
  try {
    return await fn(a, b);
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
}

for (const backend of BACKENDS) {
  describe(`session locks on ${backend.name}`, () => {
    it('refuses a key outside the signed 64-bit range with invalid_argument', async () => {
      await withStores(await backend.freshUrl(), async (a) => {
        for (const key of [2n ** 63n, -(2n ** 63n) - 1n, 7 as unknown as bigint]) {
          await assert.rejects(a.trySessionLock(key), (e) => isSealtrailError(e, 'invalid_argument'), String(key));
        }
      });
    });

    if (backend.name === 'sqlite') {
      it('is unsupported, as capabilities.sessionLocks says', async () => {
        await withStores(await backend.freshUrl(), async (a) => {
          assert.equal(a.capabilities.sessionLocks, false);
          await assert.rejects(a.trySessionLock(1n), (e) => isSealtrailError(e, 'unsupported_backend'));
        });
      });
      return;
    }

    it('lets one session hold a key at a time, and the next take it once released', async () => {
      await withStores(await backend.freshUrl(), async (a, b) => {
        assert.equal(a.capabilities.sessionLocks, true);
        const key = randomKey();
        const held = await a.trySessionLock(key);
        assert.ok(held);
        assert.equal(held.key, key);
        // Another session (b's pool) and another connection of the holder's own pool are both refused.
        assert.equal(await b.trySessionLock(key), null);
        assert.equal(await a.trySessionLock(key), null);
        // Other keys are independent.
        const other = await b.trySessionLock(key ^ 1n);
        assert.ok(other);
        await other.release();
        await held.release();
        await held.release(); // a second release is harmless and does not free someone else's lock
        const next = await b.trySessionLock(key);
        assert.ok(next);
        assert.equal(await a.trySessionLock(key), null);
        await next.release();
        // pg_locks spans the cluster; only this (fresh) database's advisory locks are ours.
        const granted = await a.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        );
        assert.equal(granted[0]!.n, 0);
      });
    });

    it('frees the lock when the holder\'s session ends, and release still resolves', async () => {
      await withStores(await backend.freshUrl(), async (a, b) => {
        const key = randomKey();
        const held = await a.trySessionLock(key);
        assert.ok(held);
        assert.equal(await b.trySessionLock(key), null);
        // The holder's backend dies (a crashed or cut-off leader).
        const killed = await b.query<{ n: number }>(
          `SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_locks
           WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) AND classid = ?::int8::oid AND objid = ?::int8::oid AND objsubid = 1`,
          [(BigInt.asUintN(64, key) >> 32n).toString(), (BigInt.asUintN(64, key) & 0xffff_ffffn).toString()],
        );
        assert.equal(killed[0]!.n, 1);
        let next = await b.trySessionLock(key);
        for (let i = 0; next === null && i < 100; i++) {
          await new Promise((r) => setTimeout(r, 20));
          next = await b.trySessionLock(key);
        }
        assert.ok(next, 'the lock of a terminated session is free');
        await held.release();
        // The dead connection was discarded, not returned to the pool: a's queries still work.
        assert.deepEqual(await a.query('SELECT 1 AS one'), [{ one: 1 }]);
        await next.release();
      });
    });
  });
}
