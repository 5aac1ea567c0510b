/**
 * Merkle storage as C2SP tlog-tiles (https://c2sp.org/tlog-tiles): the tree's hashes at heights
 * 0, 8, 16, … grouped 256 to a tile. A level-L tile with index i holds the subtree hashes of height
 * 8·L and indices 256·i … 256·i + width − 1 (level 0: the leaf hashes); every other node is
 * recomputed from one tile. Only the right edge of each level is a partial tile (width < 256);
 * full tiles never change. TileEdge is that right edge: it turns the subtrees a CompactRange append
 * completes into tile writes, and yields the frontier (compact range) the edge implies.
 */
import { SealtrailError } from './errors.js';
import { nodeHash } from './merkle.js';

/** Hashes per full tile, and the tree height one tile level spans. */
export const TILE_WIDTH = 256;
export const TILE_HEIGHT = 8;
const HASH = 32;

export interface TileKey {
  level: number;
  index: number;
}

export interface Tile extends TileKey {
  /** Number of hashes, 1..256. */
  width: number;
  /** width × 32 bytes, the hashes back to back. */
  hashes: Buffer;
}

export function tileKeyString(level: number, index: number): string {
  return `${level}/${index}`;
}

/** Where the subtree of height `level` and index `index` lives: one tile and a run of its hashes. */
export function tileSpanOf(level: number, index: number): { tile: TileKey; offset: number; count: number } {
  const tileLevel = Math.floor(level / TILE_HEIGHT);
  const count = 2 ** (level - tileLevel * TILE_HEIGHT);
  const first = index * count;
  return { tile: { level: tileLevel, index: Math.floor(first / TILE_WIDTH) }, offset: first % TILE_WIDTH, count };
}

/** The i-th hash of a tile (a view, not a copy). */
export function tileHash(tile: Tile, i: number): Buffer {
  return tile.hashes.subarray(i * HASH, (i + 1) * HASH);
}

/** A stored tile is usable only when its byte length matches its width; anything else reads as absent. */
export function isWellFormedTile(tile: Tile): boolean {
  return Number.isInteger(tile.width) && tile.width >= 1 && tile.width <= TILE_WIDTH && tile.hashes.length === tile.width * HASH;
}

/**
 * The hash of the perfect subtree over hashes [offset, offset + count) of a tile (count a power of
 * two, offset a multiple of it), or undefined when the tile is too short.
 */
export function subtreeInTile(tile: Tile, offset: number, count: number): Buffer | undefined {
  if (offset + count > tile.width) return undefined;
  if (count === 1) return Buffer.from(tileHash(tile, offset));
  let level: Buffer[] = [];
  for (let i = 0; i < count; i += 2) level.push(nodeHash(tileHash(tile, offset + i), tileHash(tile, offset + i + 1)));
  while (level.length > 1) {
    const next: Buffer[] = [];
    for (let i = 0; i < level.length; i += 2) next.push(nodeHash(level[i]!, level[i + 1]!));
    level = next;
  }
  return level[0]!;
}

/** The tiles on the right edge of a tree of `size` leaves, one per tile level that has any hash, lowest level first. */
export function edgeTiles(size: number): Array<TileKey & { width: number }> {
  const out: Array<TileKey & { width: number }> = [];
  for (let level = 0, span = 1; span <= size; level++, span *= TILE_WIDTH) {
    const width = Math.floor(size / span) % TILE_WIDTH;
    if (width > 0) out.push({ level, index: Math.floor(size / (span * TILE_WIDTH)), width });
  }
  return out;
}

/** A subtree an append completed (CompactRange.append's output). */
export interface CompletedSubtree {
  level: number;
  index: number;
  hash: Buffer;
}

interface EdgeTile {
  index: number;
  hashes: Buffer[];
  dirty: boolean;
}

export class TileEdge {
  #size = 0;
  /** Per tile level, the partial tile at the right edge (possibly empty). */
  #levels: EdgeTile[] = [];

  /** The edge of a tree of `size` leaves from its stored edge tiles (see edgeTiles); throws integrity_failure when one is missing or the wrong width. */
  static fromTiles(size: number, tiles: ReadonlyMap<string, Tile>): TileEdge {
    if (!Number.isSafeInteger(size) || size < 0) throw new SealtrailError('invalid_argument', 'size must be a non-negative safe integer', { details: { size } });
    const edge = new TileEdge();
    edge.#size = size;
    for (let level = 0, span = 1; span <= size; level++, span *= TILE_WIDTH) {
      const index = Math.floor(size / (span * TILE_WIDTH));
      const width = Math.floor(size / span) % TILE_WIDTH;
      const hashes: Buffer[] = [];
      if (width > 0) {
        const tile = tiles.get(tileKeyString(level, index));
        // Appends extend exactly this edge: a shorter tile lost hashes, a wider one holds hashes past the head.
        if (!tile || !isWellFormedTile(tile) || tile.width !== width) {
          throw new SealtrailError('integrity_failure', `Merkle tile level ${level} index ${index} is missing or not ${width} hashes wide (ledger size ${size})`, {
            details: { level, index, width, stored: tile?.width ?? null },
          });
        }
        for (let i = 0; i < width; i++) hashes.push(Buffer.from(tileHash(tile, i)));
      }
      edge.#levels.push({ index, hashes, dirty: false });
    }
    return edge;
  }

  get size(): number {
    return this.#size;
  }

  /**
   * Takes the subtrees that appends of leaves size, size + 1, … completed (in order) and returns the
   * tiles to write: each tile that filled up, then the partial tile of every level that changed.
   */
  apply(completed: readonly CompletedSubtree[]): Tile[] {
    const full: Tile[] = [];
    for (const node of completed) {
      if (node.level % TILE_HEIGHT !== 0) continue;
      const level = node.level / TILE_HEIGHT;
      if (level === 0) this.#size++;
      let edge = this.#levels[level];
      if (!edge) {
        edge = { index: 0, hashes: [], dirty: false };
        this.#levels[level] = edge;
      }
      if (Math.floor(node.index / TILE_WIDTH) !== edge.index || node.index % TILE_WIDTH !== edge.hashes.length) {
        throw new SealtrailError('internal', `subtree ${node.level}/${node.index} does not extend the tile edge`, { details: { level: node.level, index: node.index } });
      }
      edge.hashes.push(node.hash);
      edge.dirty = true;
      if (edge.hashes.length === TILE_WIDTH) {
        full.push({ level, index: edge.index, width: TILE_WIDTH, hashes: Buffer.concat(edge.hashes) });
        this.#levels[level] = { index: edge.index + 1, hashes: [], dirty: false };
      }
    }
    const partial: Tile[] = [];
    this.#levels.forEach((edge, level) => {
      if (edge.dirty && edge.hashes.length > 0) partial.push({ level, index: edge.index, width: edge.hashes.length, hashes: Buffer.concat(edge.hashes) });
      edge.dirty = false;
    });
    return [...full, ...partial];
  }

  /** The compact range the edge implies: perfect subtrees for the set bits of size, highest first. */
  frontier(): Buffer[] {
    const out: Buffer[] = [];
    for (let level = this.#levels.length - 1; level >= 0; level--) {
      const hashes = this.#levels[level]!.hashes;
      if (hashes.length === 0) continue;
      const tile: Tile = { level, index: 0, width: hashes.length, hashes: Buffer.concat(hashes) };
      let offset = 0;
      for (let bit = TILE_HEIGHT - 1; bit >= 0; bit--) {
        const count = 2 ** bit;
        if ((hashes.length & count) === 0) continue;
        out.push(subtreeInTile(tile, offset, count)!);
        offset += count;
      }
    }
    return out;
  }

  /** Same size and the same hashes in every edge tile. */
  equals(other: TileEdge): boolean {
    if (other.#size !== this.#size) return false;
    const levels = Math.max(this.#levels.length, other.#levels.length);
    for (let l = 0; l < levels; l++) {
      const a = this.#levels[l]?.hashes ?? [];
      const b = other.#levels[l]?.hashes ?? [];
      if (a.length !== b.length || a.some((h, i) => !h.equals(b[i]!))) return false;
    }
    return true;
  }

  clone(): TileEdge {
    const copy = new TileEdge();
    copy.#size = this.#size;
    copy.#levels = this.#levels.map((e) => ({ index: e.index, hashes: [...e.hashes], dirty: e.dirty }));
    return copy;
  }
}
