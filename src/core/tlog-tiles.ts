/**
 * C2SP tlog-tiles (https://c2sp.org/tlog-tiles): the Merkle tree as static files. Pure, no I/O.
 *
 * - A tile at level L holds up to 256 consecutive hashes of level 8·L of the tree (level 0: leaf
 *   hashes; level 1: roots of full level-0 tiles; …). Tile N of level L is at `tile/<L>/<N>`; a
 *   partial right-edge tile of W (1…255) hashes is at `tile/<L>/<N>.p/<W>`. A tile's bytes are its
 *   hashes concatenated.
 * - The entry bundle `tile/entries/<N>[.p/<W>]` holds the entries of level-0 tile N, each as a
 *   big-endian uint16 length and the bytes. A sealtrail entry is the ledger's leaf_data
 *   (docs/spec.md), so SHA-256(0x00 ‖ entry) is its leaf hash.
 * - <N> is written in 3-digit groups, every group but the last prefixed with `x`:
 *   1234067 → `x001/x234/067`.
 *
 * Every path names content fixed by the log (a partial tile's width is in its path), so a
 * publisher never needs to change a file it wrote: only the `checkpoint` file moves.
 */
import { SealtrailError } from './errors.js';
import { foldSubtrees, leafHash, merkleRoot, perfectSubtrees, inclusionProofRanges, type LeafRange } from './merkle.js';

export const TILE_HEIGHT = 8;
export const TILE_WIDTH = 256;
/** C2SP allows tile levels 0…63; a tree of 2^53 leaves uses 7 of them. */
const MAX_LEVEL = 63;
const HASH_SIZE = 32;
const MAX_ENTRY_BYTES = 0xffff;

/** A tile: `width` hashes (1…256; 256 is a full tile) of tile level `level`, tile number `index`. */
export interface TileId {
  level: number;
  index: number;
  width: number;
}

export interface Tile extends TileId {
  hashes: Buffer[];
}

function invalid(message: string, details?: Record<string, unknown>): SealtrailError {
  return new SealtrailError('invalid_argument', message, details ? { details } : undefined);
}

function requireIndex(n: number, what: string): void {
  if (!Number.isSafeInteger(n) || n < 0) throw invalid(`${what} must be a non-negative safe integer`, { [what]: n });
}

function checkId({ level, index, width }: TileId): void {
  if (!Number.isSafeInteger(level) || level < 0 || level > MAX_LEVEL) throw invalid('tile level must be in 0..63', { level });
  requireIndex(index, 'index');
  if (!Number.isSafeInteger(width) || width < 1 || width > TILE_WIDTH) throw invalid('tile width must be in 1..256', { width });
}

/** `1234067` → `x001/x234/067`. */
export function encodeTileIndex(index: number): string {
  requireIndex(index, 'index');
  const groups: string[] = [];
  let n = index;
  do {
    groups.unshift(String(n % 1000).padStart(3, '0'));
    n = Math.floor(n / 1000);
  } while (n > 0);
  return groups.map((g, i) => (i < groups.length - 1 ? `x${g}` : g)).join('/');
}

function widthSuffix(width: number): string {
  return width === TILE_WIDTH ? '' : `.p/${width}`;
}

/** `tile/<L>/<N>[.p/<W>]`. */
export function tilePath(tile: TileId): string {
  checkId(tile);
  return `tile/${tile.level}/${encodeTileIndex(tile.index)}${widthSuffix(tile.width)}`;
}

/** `tile/entries/<N>[.p/<W>]`: the entry bundle of level-0 tile N. */
export function entriesPath(index: number, width: number): string {
  checkId({ level: 0, index, width });
  return `tile/entries/${encodeTileIndex(index)}${widthSuffix(width)}`;
}

const PATH = /^tile\/(entries|0|[1-9]\d?)\/((?:x\d{3}\/)*\d{3})(?:\.p\/([1-9]\d{0,2}))?$/;

/** The inverse of tilePath / entriesPath; null for anything else (including non-canonical forms). */
export function parseTilePath(path: string): (TileId & { entries: boolean }) | null {
  const m = PATH.exec(path);
  if (!m) return null;
  const groups = m[2]!.split('/').map((g) => g.replace(/^x/, ''));
  if (groups.length > 1 && groups[0] === '000') return null;
  const index = Number(groups.join(''));
  const width = m[3] === undefined ? TILE_WIDTH : Number(m[3]);
  const entries = m[1] === 'entries';
  const level = entries ? 0 : Number(m[1]);
  if (!Number.isSafeInteger(index) || (m[3] !== undefined && width >= TILE_WIDTH) || level > MAX_LEVEL) return null;
  return { level, index, width, entries };
}

/** A tile's bytes: its hashes concatenated. */
export function encodeTile(hashes: readonly Uint8Array[]): Buffer {
  if (hashes.length < 1 || hashes.length > TILE_WIDTH || hashes.some((h) => h.length !== HASH_SIZE)) {
    throw invalid('a tile holds 1..256 hashes of 32 bytes', { hashes: hashes.length });
  }
  return Buffer.concat(hashes);
}

/** The hashes of a tile of `width`; bad length is invalid_argument. */
export function decodeTile(bytes: Uint8Array, width: number): Buffer[] {
  if (bytes.length !== width * HASH_SIZE) throw invalid(`a tile of width ${width} is ${width * HASH_SIZE} bytes, got ${bytes.length}`, { width, length: bytes.length });
  const out: Buffer[] = [];
  for (let i = 0; i < width; i++) out.push(Buffer.from(bytes.subarray(i * HASH_SIZE, (i + 1) * HASH_SIZE)));
  return out;
}

/** Each entry as a big-endian uint16 length and its bytes. */
export function encodeEntryBundle(entries: readonly Uint8Array[]): Buffer {
  if (entries.length < 1 || entries.length > TILE_WIDTH) throw invalid('an entry bundle holds 1..256 entries', { entries: entries.length });
  const parts: Uint8Array[] = [];
  for (const e of entries) {
    if (e.length > MAX_ENTRY_BYTES) throw invalid('an entry in a bundle is at most 65535 bytes', { length: e.length });
    const len = Buffer.alloc(2);
    len.writeUInt16BE(e.length);
    parts.push(len, e);
  }
  return Buffer.concat(parts);
}

export function decodeEntryBundle(bytes: Uint8Array): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  while (at < bytes.length) {
    if (at + 2 > bytes.length) throw invalid('entry bundle ends inside a length prefix', { offset: at });
    const len = (bytes[at]! << 8) | bytes[at + 1]!;
    at += 2;
    if (at + len > bytes.length) throw invalid('entry bundle ends inside an entry', { offset: at, length: len });
    out.push(Buffer.from(bytes.subarray(at, at + len)));
    at += len;
  }
  if (out.length > TILE_WIDTH) throw invalid('an entry bundle holds at most 256 entries', { entries: out.length });
  return out;
}

/** How many hashes tile level `level` has in a tree of `size` leaves (floor(size / 256^level)). */
export function levelCount(size: number, level: number): number {
  return Math.floor(size / TILE_WIDTH ** level);
}

/** The tile of `level` holding hash `hashIndex` of that level, as it is in a tree of `size`. */
export function tileFor(level: number, hashIndex: number, size: number): TileId {
  const count = levelCount(size, level);
  if (hashIndex >= count) throw invalid('hash index outside the tree', { level, hashIndex, size });
  const index = Math.floor(hashIndex / TILE_WIDTH);
  const full = Math.floor(count / TILE_WIDTH);
  return { level, index, width: index < full ? TILE_WIDTH : count % TILE_WIDTH };
}

/** Every tile of a tree of `size`, level by level, left to right. */
export function* allTiles(size: number): Generator<TileId> {
  requireIndex(size, 'size');
  for (let level = 0; levelCount(size, level) > 0; level++) {
    const count = levelCount(size, level);
    const full = Math.floor(count / TILE_WIDTH);
    for (let index = 0; index < full; index++) yield { level, index, width: TILE_WIDTH };
    if (count % TILE_WIDTH > 0) yield { level, index: full, width: count % TILE_WIDTH };
  }
}

/**
 * The tiles that differ between trees of `oldSize` and `newSize`: the ones holding a hash
 * index in [levelCount(old), levelCount(new)) of their level. With oldSize 0, every tile.
 */
export function changedTiles(oldSize: number, newSize: number): TileId[] {
  requireIndex(oldSize, 'oldSize');
  requireIndex(newSize, 'newSize');
  if (oldSize > newSize) throw invalid('oldSize must not exceed newSize', { oldSize, newSize });
  const out: TileId[] = [];
  for (let level = 0; levelCount(newSize, level) > 0; level++) {
    const from = levelCount(oldSize, level);
    const to = levelCount(newSize, level);
    if (from === to) continue;
    for (let index = Math.floor(from / TILE_WIDTH); index * TILE_WIDTH < to; index++) out.push(tileFor(level, index * TILE_WIDTH, newSize));
  }
  return out;
}

/**
 * The right-edge partial tiles of a tree of `size` (one per level whose count is not a multiple
 * of 256), which is all the state an incremental builder needs above level 0.
 */
export function edgeTiles(size: number): TileId[] {
  requireIndex(size, 'size');
  const out: TileId[] = [];
  for (let level = 0; levelCount(size, level) > 0; level++) {
    const count = levelCount(size, level);
    if (count % TILE_WIDTH > 0) out.push({ level, index: Math.floor(count / TILE_WIDTH), width: count % TILE_WIDTH });
  }
  return out;
}

/**
 * Grows a tiled tree from `startSize`, given the hashes of its right-edge partial tiles at every
 * level (edgeTiles(startSize); nothing when startSize is 0). Leaf hashes are appended one by one;
 * take() hands out, and forgets, the full tiles completed so far, so a builder over millions of
 * leaves holds only the edge; finish() returns the partial right-edge tiles and the root.
 */
export class TileBuilder {
  #size: number;
  // Hashes of each level's current (not yet full) tile.
  readonly #edge: Buffer[][] = [];
  #completed: Tile[] = [];

  constructor(startSize = 0, edges: readonly Tile[] = []) {
    requireIndex(startSize, 'startSize');
    this.#size = startSize;
    const wanted = edgeTiles(startSize);
    if (edges.length !== wanted.length) throw invalid(`a tree of size ${startSize} has ${wanted.length} edge tiles, got ${edges.length}`);
    for (const id of wanted) {
      const given = edges.find((t) => t.level === id.level);
      if (!given || given.index !== id.index || given.width !== id.width || given.hashes.length !== id.width || given.hashes.some((h) => h.length !== HASH_SIZE)) {
        throw invalid(`edge tile at level ${id.level} must be ${tilePath(id)}`, { level: id.level });
      }
      this.#edge[id.level] = given.hashes.map((h) => Buffer.from(h));
    }
    for (let level = 0; levelCount(startSize, level) > 0; level++) this.#edge[level] ??= [];
  }

  get size(): number {
    return this.#size;
  }

  append(hash: Uint8Array): void {
    if (hash.length !== HASH_SIZE) throw invalid('a leaf hash is 32 bytes', { length: hash.length });
    let carry: Buffer = Buffer.from(hash);
    let count = this.#size;
    for (let level = 0; ; level++) {
      const row = (this.#edge[level] ??= []);
      row.push(carry);
      if (row.length < TILE_WIDTH) break;
      // The tile is full: it is immutable from now on, and its root is the next level's hash.
      const index = Math.floor(count / TILE_WIDTH);
      this.#completed.push({ level, index, width: TILE_WIDTH, hashes: row });
      carry = merkleRoot(row);
      this.#edge[level] = [];
      count = index;
    }
    this.#size++;
  }

  /** Full tiles completed since the last take(), bottom level first within each append. */
  take(): Tile[] {
    const out = this.#completed;
    this.#completed = [];
    return out;
  }

  /** The partial right-edge tiles at the current size. */
  partials(): Tile[] {
    return edgeTiles(this.#size).map((id) => ({ ...id, hashes: [...this.#edge[id.level]!] }));
  }

  root(): Buffer {
    const partials = this.partials();
    return rootFromTiles(this.#size, (id) => {
      const t = partials.find((p) => p.level === id.level);
      if (!t || t.index !== id.index || t.width !== id.width) throw invalid('the root needs only the edge tiles');
      return t.hashes;
    });
  }
}

/** Reads one tile's hashes (exactly `width` of them) for the computations below. */
export type TileReader = (tile: TileId) => readonly Uint8Array[];

/** The hash of the perfect subtree of 2^height leaves starting at leaf index·2^height, from tiles. */
function subtreeFromTiles(height: number, index: number, size: number, read: TileReader): Buffer {
  const level = Math.floor(height / TILE_HEIGHT);
  const span = 2 ** (height - level * TILE_HEIGHT);
  const first = index * span;
  const tile = tileFor(level, first + span - 1, size);
  const hashes = read(tile);
  if (hashes.length !== tile.width) throw invalid(`tile ${tilePath(tile)} must hold ${tile.width} hashes, got ${hashes.length}`);
  const offset = first - tile.index * TILE_WIDTH;
  return merkleRoot(hashes.slice(offset, offset + span));
}

/** MTH of leaves [start, end) (an RFC 6962 proof range or [0, size)) from the tiles of a tree of `size`. */
export function rangeHashFromTiles([start, end]: LeafRange, size: number, read: TileReader): Buffer {
  return foldSubtrees(perfectSubtrees(start, end).map(({ level, index }) => subtreeFromTiles(level, index, size, read)));
}

/** The tree head of `size` from its tiles (only the right-edge tiles are read). */
export function rootFromTiles(size: number, read: TileReader): Buffer {
  requireIndex(size, 'size');
  return rangeHashFromTiles([0, size], size, read);
}

/** RFC 9162 inclusion proof of leaf `index` in the tree of `size`, from its tiles. */
export function inclusionProofFromTiles(index: number, size: number, read: TileReader): Buffer[] {
  return inclusionProofRanges(index, size).map((r) => rangeHashFromTiles(r, size, read));
}

/** The tiles rootFromTiles / inclusionProofFromTiles read, so a client can fetch them first. */
export function tilesForProof(index: number | null, size: number): TileId[] {
  const ranges: LeafRange[] = index === null ? (size > 0 ? [[0, size]] : []) : [[index, index + 1], ...inclusionProofRanges(index, size), [0, size]];
  const seen = new Map<string, TileId>();
  for (const [s, e] of ranges) {
    for (const { level: height, index: i } of perfectSubtrees(s, e)) {
      const level = Math.floor(height / TILE_HEIGHT);
      const span = 2 ** (height - level * TILE_HEIGHT);
      const tile = tileFor(level, i * span + span - 1, size);
      seen.set(tilePath(tile), tile);
    }
  }
  return [...seen.values()];
}

/** SHA-256(0x00 ‖ entry): an entry bundle's entry as a level-0 hash. */
export function entryLeafHash(entry: Uint8Array): Buffer {
  return leafHash(entry);
}
