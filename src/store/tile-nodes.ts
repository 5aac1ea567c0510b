/**
 * Subtree reads on top of tile reads, shared by the backends: a stored subtree of any height is
 * one run of hashes inside one tile (tileSpanOf), hashed up when its height is not a multiple of 8.
 * A tile whose byte length disagrees with its width reads as absent, like a missing row.
 */
import { SealtrailError } from '../core/errors.js';
import { isWellFormedTile, subtreeInTile, tileKeyString, tileSpanOf, TILE_WIDTH, type Tile, type TileKey } from '../core/tile-edge.js';
import { nodeKeyString, type NodeKey, type NodeRange, type TileRange } from './store.js';

export type TileReader = (keys: readonly TileKey[]) => Promise<Map<string, Tile>>;
export type TileRangeReader = (ranges: readonly TileRange[]) => Promise<Tile[][]>;

export async function nodesFromTiles(keys: readonly NodeKey[], readTiles: TileReader): Promise<Map<string, Buffer>> {
  const spans = keys.map((k) => ({ key: k, ...tileSpanOf(k.level, k.index) }));
  const wanted = new Map<string, TileKey>();
  for (const s of spans) wanted.set(tileKeyString(s.tile.level, s.tile.index), s.tile);
  const tiles = wanted.size === 0 ? new Map<string, Tile>() : await readTiles([...wanted.values()]);
  const out = new Map<string, Buffer>();
  for (const s of spans) {
    const tile = tiles.get(tileKeyString(s.tile.level, s.tile.index));
    if (!tile || !isWellFormedTile(tile)) continue;
    const hash = subtreeInTile(tile, s.offset, s.count);
    if (hash) out.set(nodeKeyString(s.key.level, s.key.index), hash);
  }
  return out;
}

/** The stored hashes at idx in [from, to] of each level; a node whose tile is missing or too short is undefined. */
export async function nodeRangesFromTiles(ranges: readonly NodeRange[], readRanges: TileRangeReader): Promise<Array<Array<Buffer | undefined>>> {
  const asked = ranges.map((r) => {
    if (r.to < r.from) return null;
    const first = tileSpanOf(r.level, r.from);
    const last = tileSpanOf(r.level, r.to);
    return { level: first.tile.level, from: first.tile.index, to: last.tile.index };
  });
  const present = asked.filter((a): a is TileRange => a !== null);
  const found = present.length === 0 ? [] : await readRanges(present);
  let k = 0;
  return ranges.map((r, i) => {
    const out = Array.from<Buffer | undefined>({ length: Math.max(0, r.to - r.from + 1) });
    const a = asked[i];
    if (!a) return out;
    const byIndex = new Map<number, Tile>();
    for (const t of found[k++]!) if (isWellFormedTile(t)) byIndex.set(t.index, t);
    for (let idx = r.from; idx <= r.to; idx++) {
      const span = tileSpanOf(r.level, idx);
      const tile = byIndex.get(span.tile.index);
      if (tile) out[idx - r.from] = span.count === 1 ? tileHashCopy(tile, span.offset) : subtreeInTile(tile, span.offset, span.count);
    }
    return out;
  });
}

function tileHashCopy(tile: Tile, i: number): Buffer | undefined {
  return i < tile.width ? tile.hashes.subarray(i * 32, (i + 1) * 32) : undefined;
}

/** A tile as C2SP serves it: the full tile, or the first `width` hashes of a wider one; null when absent or shorter. */
export function tileOfWidth(tile: Tile | undefined, width?: number): Tile | null {
  if (!tile || !isWellFormedTile(tile)) return null;
  if (width === undefined || width === tile.width) return tile;
  if (!Number.isInteger(width) || width < 1 || width > TILE_WIDTH || width > tile.width) return null;
  return { level: tile.level, index: tile.index, width, hashes: tile.hashes.subarray(0, width * 32) };
}

/** Store.readTile on top of a tile reader: arguments checked, then tileOfWidth. */
export async function readOneTile(readTiles: TileReader, level: number, index: number, width?: number): Promise<Tile | null> {
  if (!Number.isSafeInteger(level) || level < 0 || level > 63) throw new SealtrailError('invalid_argument', `a tile level is an integer in 0..63, got ${String(level)}`);
  if (!Number.isSafeInteger(index) || index < 0) throw new SealtrailError('invalid_argument', `a tile index is a non-negative integer, got ${String(index)}`);
  if (width !== undefined && (!Number.isInteger(width) || width < 1 || width > TILE_WIDTH)) {
    throw new SealtrailError('invalid_argument', `a tile width is an integer in 1..${TILE_WIDTH}, got ${String(width)}`);
  }
  const found = await readTiles([{ level, index }]);
  return tileOfWidth(found.get(tileKeyString(level, index)), width);
}
