/**
 * Converts a ledger made before Merkle tiles (per-node merkle_nodes rows) to merkle_tiles. The
 * tiles are recomputed from the leaves (audit_chain); merkle_nodes is never read, so whatever it
 * held, tampered or not, cannot leak into the tiles: a ledger tampered before the conversion
 * still fails verification after it. Runs once, under the ledger's write lock, in one transaction.
 */
import { CompactRange } from '../core/compact-range.js';
import { ledgerLeafHash } from '../core/ledger-leaf.js';
import { edgeTiles, TileEdge, TILE_WIDTH } from '../core/tile-edge.js';
import { microsFromIso } from '../core/timestamps.js';
import type { Store, Tx } from '../store/store.js';

const BATCH = 10_000;

/** True while migration ledger 002 has created merkle_tiles but the tiles are not built yet. */
export async function tileConversionPending(q: Pick<Store, 'query' | 'dialect'>): Promise<boolean> {
  const rows =
    q.dialect === 'sqlite'
      ? await q.query("SELECT 1 AS x FROM sqlite_master WHERE type = 'table' AND name = 'merkle_tiles_conversion'")
      : await q.query("SELECT 1 AS x FROM pg_class WHERE oid = to_regclass('merkle_tiles_conversion')");
  return rows.length > 0;
}

/** Builds the tiles from the leaves, drops the conversion marker and retires merkle_nodes. Returns whether it ran. */
export async function convertToTiles(store: Store): Promise<boolean> {
  return store.writeTransaction(async (tx) => {
    // Another process may have converted while this one waited for the lock.
    if (!(await tileConversionPending({ query: (sql, params) => tx.query(sql, params), dialect: store.dialect }))) return false;
    // Tiles already present (capture migration 005 may have built them from the leaves first) are extended, not redone.
    const last = await tx.query<{ idx: number | string; width: number }>('SELECT idx, width FROM merkle_tiles WHERE level = 0 ORDER BY idx DESC LIMIT 1');
    const covered = last[0] ? Number(last[0].idx) * TILE_WIDTH + Number(last[0].width) : 0;
    const edge = TileEdge.fromTiles(covered, await tx.ledger.readTiles(edgeTiles(covered)));
    const range = CompactRange.fromFrontier(covered, edge.frontier());
    for (let next = covered + 1; ; ) {
      const rows = await readLeafRows(tx, store.dialect, next);
      if (rows.length === 0) break;
      const nodes = [];
      for (const r of rows) {
        if (r.seq !== range.size + 1) {
          // A gap in audit_chain: tiles stop here, and verification reports the gap (seq_gap).
          break;
        }
        nodes.push(...range.append(ledgerLeafHash(r)));
      }
      await tx.ledger.writeTiles(edge.apply(nodes));
      if (range.size !== rows[rows.length - 1]!.seq) break;
      next = range.size + 1;
    }
    await tx.exec('DROP TABLE merkle_tiles_conversion');
    if (store.dialect === 'sqlite') await tx.exec('DROP TABLE IF EXISTS merkle_nodes');
    else await emptyPgNodes(tx);
    return true;
  });
}

/**
 * PostgreSQL keeps the table itself until capture migration 005 drops it: capture migrations 001
 * to 004 (a fresh install applies them all first) name it in guards and functions. Its rows go now
 * unless capture installed before 005 still chains through a sealtrail_chain that writes them
 * (then the guards refuse the TRUNCATE, and `sealtrail init` applying 005 finishes the job).
 */
async function emptyPgNodes(tx: Tx): Promise<void> {
  if ((await tx.query("SELECT 1 AS x FROM pg_class WHERE oid = to_regclass('merkle_nodes')")).length === 0) return;
  const rows = await tx.query<{ src: string }>("SELECT prosrc AS src FROM pg_proc WHERE proname = 'sealtrail_chain' AND pronamespace = current_schema()::regnamespace");
  if (rows.some((r) => r.src.includes('merkle_nodes'))) return;
  await tx.exec('TRUNCATE merkle_nodes');
}

interface LeafRow {
  seq: number;
  kind: string;
  pk: string;
  eventHash: Buffer;
  appendedAtMicros: bigint;
}

async function readLeafRows(tx: Tx, dialect: Store['dialect'], from: number): Promise<LeafRow[]> {
  const rows = await tx.query<{ seq: number | string; event_kind: string; event_pk: string; event_hash: Buffer; at: string }>(
    dialect === 'sqlite'
      ? 'SELECT seq, event_kind, event_pk, event_hash, appended_at AS at FROM audit_chain WHERE seq >= ? ORDER BY seq LIMIT ?'
      : 'SELECT seq, event_kind, event_pk, event_hash, (extract(epoch from appended_at) * 1000000)::int8::text AS at FROM audit_chain WHERE seq >= ? ORDER BY seq LIMIT ?',
    [from, BATCH],
  );
  return rows.map((r) => ({
    seq: Number(r.seq),
    kind: r.event_kind,
    pk: r.event_pk,
    eventHash: r.event_hash,
    appendedAtMicros: dialect === 'sqlite' ? microsFromIso(r.at) : BigInt(r.at),
  }));
}
