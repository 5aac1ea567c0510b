/**
 * Rebuilds the Merkle frontier (compact range) at a given size from the stored tiles: one subtree
 * per set bit of size, all inside the right-edge tiles, so one read of at most one tile per level.
 */
import { CompactRange } from '../core/compact-range.js';
import { SealtrailError } from '../core/errors.js';
import { perfectSubtrees } from '../core/merkle.js';
import { edgeTiles, TileEdge } from '../core/tile-edge.js';
import { nodeKeyString, type NodeKey, type Tx } from '../store/store.js';

export type NodeReader = (keys: readonly NodeKey[]) => Promise<Map<string, Buffer>>;

export async function loadFrontier(read: NodeReader, size: number): Promise<CompactRange> {
  if (size === 0) return new CompactRange();
  const keys = perfectSubtrees(0, size);
  const found = await read(keys);
  return CompactRange.fromFrontier(size, keys.map((k) => requireNode(found, k)));
}

export function requireNode(found: Map<string, Buffer>, key: NodeKey): Buffer {
  const hash = found.get(nodeKeyString(key.level, key.index));
  if (!hash) {
    throw new SealtrailError('integrity_failure', `Merkle node level ${key.level} index ${key.index} is missing from merkle_tiles`, {
      details: { level: key.level, index: key.index },
    });
  }
  return hash;
}

/** The right edge of the stored tiles at `size` (the ledger's size under the write lock), for appending. */
export async function loadTileEdge(tx: Tx, size: number): Promise<TileEdge> {
  return TileEdge.fromTiles(size, await tx.ledger.readTiles(edgeTiles(size)));
}
