/**
 * Merkle storage as C2SP tlog-tiles, on both backends: the stored tiles are exactly the ones the
 * definition gives for the leaves, whatever the batching; readTile serves full and partial tiles;
 * proofs and roots come from them; and a ledger made by the release before tiles (per-node
 * merkle_nodes rows) is converted from its leaves on first open, proofs and roots unchanged.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { openLedger } from '../../src/ledger/ledger.js';
import { ledgerMigrations } from '../../src/ledger/ledger.js';
import { migrate } from '../../src/store/migrate.js';
import { openStore } from '../../src/store/open-store.js';
import { isSealtrailError } from '../../src/core/errors.js';
import { chainHash, GENESIS_HASH } from '../../src/core/chain.js';
import { canonicalHash, canonicalize } from '../../src/core/canonical-json.js';
import { CompactRange } from '../../src/core/compact-range.js';
import { ledgerLeafHash } from '../../src/core/ledger-leaf.js';
import { consistencyProof, inclusionProof, merkleRoot, verifyConsistency, verifyInclusion } from '../../src/core/merkle.js';
import { BACKENDS, postgresUrl, tempDir } from '../helpers/databases.js';
import { expectedTiles, leavesOf, storedTiles, tileString } from '../helpers/tiles.js';

const events = (from: number, n: number) => Array.from({ length: n }, (_, i) => ({ kind: 'tile', pk: `t${from + i}`, payload: { i: from + i } }));

for (const backend of BACKENDS) {
  describe(`Merkle tiles on ${backend.name}`, () => {
    it('stores exactly the tiles the definition gives, for single appends, batches and batches crossing tile boundaries', async () => {
      const ledger = await openLedger({ url: await backend.freshUrl() });
      try {
        let n = 0;
        for (const size of [1, 1, 3, 250, 1, 1, 300, 1, 200, 256, 10]) {
          if (size === 1) await ledger.append('tile', `t${n}`, { i: n });
          else await ledger.appendBatch(events(n, size));
          n += size;
          const leaves = await leavesOf(ledger);
          assert.deepEqual(await storedTiles(ledger.store), expectedTiles(leaves), `after ${n} entries`);
          assert.deepEqual((await ledger.head()).root, merkleRoot(leaves));
        }
        // Concurrent appends share group commits; the tiles stay exact.
        await Promise.all(Array.from({ length: 40 }, (_, i) => ledger.append('tile', `c${i}`, { c: i })));
        const leaves = await leavesOf(ledger);
        assert.deepEqual(await storedTiles(ledger.store), expectedTiles(leaves));
        assert.equal((await ledger.verify()).ok, true);
      } finally {
        await ledger.close();
      }
    });

    it('a batch writes each tile it touches once, and a single append only the partial tiles it changes', async () => {
      const ledger = await openLedger({ url: await backend.freshUrl() });
      try {
        // Records what the appender hands the real store, per write transaction.
        const written: string[][] = [];
        const store = ledger.store;
        const writeTransaction = store.writeTransaction.bind(store);
        store.writeTransaction = (fn) =>
          writeTransaction((tx) => {
            const calls: string[] = [];
            written.push(calls);
            const writeTiles = tx.ledger.writeTiles.bind(tx.ledger);
            return fn({ ...tx, savepoint: tx.savepoint.bind(tx), ledger: { ...tx.ledger, writeTiles: (tiles) => (calls.push(...tiles.map((t) => `${t.level}/${t.index}/${t.width}`)), writeTiles(tiles)) } });
          });
        await ledger.appendBatch(events(0, 1000));
        assert.deepEqual(written.pop(), ['0/0/256', '0/1/256', '0/2/256', '0/3/232', '1/0/3']);
        await ledger.append('tile', 'one', {});
        assert.deepEqual(written.pop(), ['0/3/233']);
        await ledger.appendBatch(events(2000, 23));
        // Tile 0/3 fills (written once, full) and its root lands in the level-1 tile; tile 0/4 is still empty.
        assert.deepEqual(written.pop(), ['0/3/256', '1/0/4']);
        assert.deepEqual(await storedTiles(ledger.store), expectedTiles(await leavesOf(ledger)));
      } finally {
        await ledger.close();
      }
    });

    it('readTile serves a full tile, a partial one at any width it has, and refuses bad arguments', async () => {
      const ledger = await openLedger({ url: await backend.freshUrl() });
      try {
        await ledger.appendBatch(events(0, 300));
        const leaves = await leavesOf(ledger);
        const full = await ledger.store.readTile(0, 0);
        assert.deepEqual(full && tileString(full), expectedTiles(leaves)[0]);
        assert.equal((await ledger.store.readTile(0, 0, 256))?.width, 256);
        assert.deepEqual((await ledger.store.readTile(0, 0, 10))?.hashes, Buffer.concat(leaves.slice(0, 10)), 'a prefix of a full tile');
        assert.deepEqual((await ledger.store.readTile(0, 1))?.hashes, Buffer.concat(leaves.slice(256)));
        assert.equal((await ledger.store.readTile(0, 1, 44))?.width, 44);
        assert.equal(await ledger.store.readTile(0, 1, 45), null, 'wider than stored');
        assert.deepEqual((await ledger.store.readTile(1, 0))?.hashes, merkleRoot(leaves.slice(0, 256)));
        assert.equal(await ledger.store.readTile(1, 1), null);
        assert.equal(await ledger.store.readTile(2, 0), null);
        for (const [level, index, width] of [[-1, 0, undefined], [0, -1, undefined], [0, 1.5, undefined], [0, 0, 0], [0, 0, 257], [64, 0, undefined]] as const) {
          await assert.rejects(ledger.store.readTile(level, index, width), (e) => isSealtrailError(e, 'invalid_argument'), `${level}/${index}/${String(width)}`);
        }
        const snapshotTile = await ledger.store.readSnapshot((s) => s.readTile(0, 1, 44));
        assert.equal(snapshotTile?.width, 44);
      } finally {
        await ledger.close();
      }
    });

    it('proofs and roots at every size come from the tiles and match the definition', async () => {
      const ledger = await openLedger({ url: await backend.freshUrl() });
      try {
        await ledger.appendBatch(events(0, 530));
        const leaves = await leavesOf(ledger);
        for (const size of [1, 2, 255, 256, 257, 511, 512, 513, 530]) {
          assert.deepEqual(await ledger.rootAt(size), merkleRoot(leaves.slice(0, size)), `root at ${size}`);
          for (const seq of [1, Math.ceil(size / 2), size]) {
            const p = await ledger.proveInclusion(seq, size);
            assert.deepEqual(p.proof, inclusionProof(seq - 1, leaves.slice(0, size)));
            assert.ok(verifyInclusion(seq - 1, size, p.leafHash, p.proof, p.root));
          }
          for (const oldSize of [1, 200, 256, size]) {
            if (oldSize > size) continue;
            const c = await ledger.proveConsistency(oldSize, size);
            assert.deepEqual(c.proof, oldSize === size ? [] : consistencyProof(oldSize, leaves.slice(0, size)));
            assert.ok(verifyConsistency(oldSize, size, c.oldRoot, c.newRoot, c.proof));
          }
        }
      } finally {
        await ledger.close();
      }
    });

    it('a full tile edited past the partial one is tree_mismatch at the seq that completes the bad hash, a level-1 tile too', async () => {
      const { tamper } = await import('../../src/ledger/tamper-simulator.js');
      for (const [t, seq] of [
        [{ type: 'edit_tile', level: 0, index: 0, position: 100 }, 101],
        [{ type: 'delete_tile', level: 0, index: 1 }, 257],
        [{ type: 'edit_tile', level: 1, index: 0, position: 1 }, 512],
        [{ type: 'truncate_tile', level: 1, index: 0, width: 1 }, 512],
      ] as const) {
        const ledger = await openLedger({ url: await backend.freshUrl() });
        try {
          await ledger.appendBatch(events(0, 600));
          await tamper(ledger.store, t);
          const report = await ledger.verify();
          assert.deepEqual({ seq: report.divergence?.seq, reason: report.divergence?.reason }, { seq, reason: 'tree_mismatch' }, JSON.stringify(t));
        } finally {
          await ledger.close();
        }
      }
    });
  });
}

describe('converting a ledger made before tiles (merkle_nodes)', () => {
  // 600 entries appended in batches of 50 by the release before tiles; its head root then:
  const FIXTURE_ROOT = 'c030811d61de5866c0a0778c62ec85b27e84ed839c9d391cfb9708ab24ca0bce';

  async function checkConverted(url: string, expectedRoot: string): Promise<void> {
    const ledger = await openLedger({ url });
    try {
      const tables = await ledger.store.query<{ n: string }>(
        ledger.store.dialect === 'sqlite'
          ? "SELECT name AS n FROM sqlite_master WHERE type = 'table' AND name LIKE 'merkle%' ORDER BY name"
          : "SELECT relname AS n FROM pg_class WHERE relkind = 'r' AND relname LIKE 'merkle%' AND relnamespace = current_schema()::regnamespace ORDER BY relname",
      );
      if (ledger.store.dialect === 'sqlite') assert.deepEqual(tables.map((t) => t.n), ['merkle_tiles'], 'merkle_nodes and the marker are gone');
      else {
        assert.deepEqual(tables.map((t) => t.n), ['merkle_nodes', 'merkle_tiles'], 'PostgreSQL keeps merkle_nodes (empty) until capture 005');
        assert.equal((await ledger.store.query('SELECT 1 FROM merkle_nodes')).length, 0);
      }
      const head = await ledger.head();
      assert.equal(head.root.toString('hex'), expectedRoot);
      const leaves = await leavesOf(ledger);
      assert.deepEqual(await storedTiles(ledger.store), expectedTiles(leaves));
      assert.equal((await ledger.verify()).ok, true);
      for (const size of [1, 256, 257, 512, leaves.length]) {
        assert.deepEqual(await ledger.rootAt(size), merkleRoot(leaves.slice(0, size)));
        const p = await ledger.proveInclusion(size, leaves.length);
        assert.deepEqual(p.proof, inclusionProof(size - 1, leaves));
        if (size < leaves.length) assert.deepEqual((await ledger.proveConsistency(size, leaves.length)).proof, consistencyProof(size, leaves));
      }
      // And it keeps growing from the converted tiles.
      await ledger.appendBatch(events(10_000, 300));
      assert.deepEqual(await storedTiles(ledger.store), expectedTiles(await leavesOf(ledger)));
      assert.equal((await ledger.verify()).ok, true);
    } finally {
      await ledger.close();
    }
    // A second open has nothing left to convert.
    const again = await openLedger({ url });
    await again.close();
  }

  it('SQLite: the checked-in ledger is converted from its leaves; roots, proofs and verification are unchanged', async () => {
    const url = join(tempDir(), 'old.db');
    copyFileSync(new URL('./fixtures/nodes-ledger.db', import.meta.url), url);
    await checkConverted(url, FIXTURE_ROOT);
  });

  it('SQLite: merkle_nodes is never trusted: a forged node leaves no trace in the tiles', async () => {
    const url = join(tempDir(), 'forged.db');
    copyFileSync(new URL('./fixtures/nodes-ledger.db', import.meta.url), url);
    const store = openStore(url);
    await store.run("UPDATE merkle_nodes SET hash = zeroblob(32) WHERE level = 0 AND idx = 5");
    await store.run('DELETE FROM merkle_nodes WHERE level = 8');
    await store.close();
    await checkConverted(url, FIXTURE_ROOT);
  });

  it('a read-only open before any writer converted is refused with schema_missing', async () => {
    const url = join(tempDir(), 'ro.db');
    copyFileSync(new URL('./fixtures/nodes-ledger.db', import.meta.url), url);
    const store = openStore(url);
    await migrate(store, 'ledger', ledgerMigrations(store));
    await store.close();
    await assert.rejects(openLedger({ url, migrate: false }), (e) => isSealtrailError(e, 'schema_missing'));
    await checkConverted(url, FIXTURE_ROOT);
  });

  it('PostgreSQL: a ledger written in the old format (migration 1, merkle_nodes rows) is converted the same way', async () => {
    const url = await postgresUrl();
    const store = openStore(url);
    let root: string;
    try {
      await migrate(store, 'ledger', ledgerMigrations(store).slice(0, 1));
      root = await writeOldFormat(store, 600);
    } finally {
      await store.close();
    }
    await checkConverted(url, root);
  });
});

/** What the release before tiles wrote for `n` appends: chain rows, every completed subtree in merkle_nodes, the head. */
async function writeOldFormat(store: ReturnType<typeof openStore>, n: number): Promise<string> {
  const range = new CompactRange();
  let prev = GENESIS_HASH;
  await store.writeTransaction(async (tx) => {
    for (let seq = 1; seq <= n; seq++) {
      const payload = canonicalize({ i: seq, old: true });
      const eventHash = canonicalHash(payload);
      const at = `2026-11-30T12:00:00.${String(seq).padStart(6, '0')}Z`;
      const micros = BigInt(Date.parse('2026-11-30T12:00:00Z')) * 1000n + BigInt(seq);
      const h = chainHash(prev, eventHash, seq);
      await tx.run('INSERT INTO audit_chain (seq, event_kind, event_pk, event_hash, prev_hash, chain_hash, appended_at, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?)', [
        seq, 'old', `o${seq}`, eventHash, prev, h, at, payload,
      ]);
      for (const node of range.append(ledgerLeafHash({ kind: 'old', pk: `o${seq}`, eventHash, appendedAtMicros: micros }))) {
        await tx.run('INSERT INTO merkle_nodes (level, idx, hash) VALUES (?, ?, ?)', [node.level, node.index, node.hash]);
      }
      prev = h;
    }
    await tx.run('UPDATE ledger_head SET size = ?, chain_hash = ?, root = ? WHERE id = 1', [n, prev, range.root()]);
  });
  return range.root().toString('hex');
}
