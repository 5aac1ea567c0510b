/**
 * Publishing a ledger as C2SP tlog-tiles (core/tlog-tiles.ts): `checkpoint`, `tile/<L>/…` and
 * `tile/entries/…` in a TileStorage, for the tree at a signed checkpoint's size.
 *
 * Incremental: the storage's own `checkpoint` says what it already holds (size N), its right-edge
 * partial tiles above level 0 are the builder's state, and only entries from the last full
 * level-0 tile before N are read from the ledger; only the tiles that differ between N and the
 * new size are written. When that state is missing or unusable (first publish, a deleted edge
 * tile, an edge tile that does not lead to the checkpoint's root) everything is rebuilt from the
 * ledger instead.
 *
 * Nothing is written until the root the tiles give equals the checkpoint's root (one pass over the
 * entries to check, a second to write), and the checkpoint is written last, so a reader never sees
 * a checkpoint whose tiles are not there. Every tile path names fixed content: a path that already
 * holds different bytes is never overwritten but a tile_conflict (the storage or the ledger was
 * tampered with). The checkpoint never moves to a smaller tree.
 */
import { parseCheckpoint } from '../../core/checkpoint.js';
import { SealtrailError, isSealtrailError } from '../../core/errors.js';
import { equalBytes } from '../../core/hash.js';
import { parseNote } from '../../core/note.js';
import {
  TILE_WIDTH,
  TileBuilder,
  changedTiles,
  decodeTile,
  edgeTiles,
  encodeEntryBundle,
  encodeTile,
  entriesPath,
  tilePath,
  type Tile,
} from '../../core/tlog-tiles.js';
import type { PublishRecord, PublishedLeaf } from '../sinks/sink.js';
import type { TileStorage } from './tile-storage.js';

export const CHECKPOINT_PATH = 'checkpoint';

export type LeafSource = (from: number, to: number) => AsyncIterable<PublishedLeaf>;

export interface TilesPublishResult {
  /** The size the storage held before (0 when rebuilt from nothing). */
  fromSize: number;
  size: number;
  /** 'incremental' from the storage's edge tiles, 'full' from the whole ledger, 'none' when already there or ahead. */
  mode: 'incremental' | 'full' | 'none';
  /** Paths written, in write order (the checkpoint last). */
  written: string[];
}

/** Publishes the tree at `record` (a checked, signed checkpoint) to `storage`. */
export async function publishTiles(storage: TileStorage, record: PublishRecord, leaves: LeafSource): Promise<TilesPublishResult> {
  return storage.exclusive(async () => {
    const size = record.seq;
    const held = await heldCheckpoint(storage, record.origin);
    if (held !== null && (held.size > size || (held.size === size && held.note === record.note))) {
      return { fromSize: held.size, size, mode: 'none', written: [] };
    }
    let plan: Plan | null = held !== null && held.size > 0 ? await incrementalPlan(storage, held.size, size) : null;
    let built = plan === null ? null : await buildTiles(plan, leaves, size, BUFFER_ENTRIES);
    // An edge tile that does not lead to the signed root (edited, or left by another ledger): rebuild.
    if (built !== null && !equalBytes(built.root, record.root)) plan = null;
    const mode = plan === null ? 'full' : 'incremental';
    if (plan === null) {
      plan = { fromSize: 0, startSize: 0, edges: [] };
      built = await buildTiles(plan, leaves, size, BUFFER_ENTRIES);
      if (!equalBytes(built.root, record.root)) {
        throw new SealtrailError(
          'integrity_failure',
          `the ledger's entries 1..${size} do not give the root of the checkpoint of size ${size}: an entry was edited; nothing was published to ${storage.where}`,
          { details: { size } },
        );
      }
    }
    const written: string[] = [];
    const wanted = new Set(changedTiles(plan.fromSize, size).map((t) => tilePath(t)));
    const unchangedBundle = plan.fromSize === size ? entriesPath(Math.floor(size / TILE_WIDTH), Math.max(1, size % TILE_WIDTH)) : null;
    const write: Output = async (tiles, bundles) => {
      for (const t of tiles) {
        const path = tilePath(t);
        if (wanted.has(path) && (await writeFixed(storage, path, encodeTile(t.hashes)))) written.push(path);
      }
      for (const b of bundles) {
        const path = entriesPath(b.index, b.width);
        if (path !== unchangedBundle && (await writeFixed(storage, path, encodeEntryBundle(b.entries)))) written.push(path);
      }
    };
    if (built!.buffered) {
      await write(built!.buffered.tiles, built!.buffered.bundles);
    } else {
      // Too large to hold: the same entries again, written as they are tiled.
      const again = await buildTiles(plan, leaves, size, 0, write);
      if (!equalBytes(again.root, record.root)) {
        throw new SealtrailError('integrity_failure', `the ledger's entries changed while they were published to ${storage.where}; the checkpoint was not written`, { details: { size } });
      }
    }
    await storage.put(CHECKPOINT_PATH, Buffer.from(record.note, 'utf8'), 'mutable');
    written.push(CHECKPOINT_PATH);
    return { fromSize: plan.fromSize, size, mode, written };
  });
}

interface Plan {
  /** What the storage holds. */
  fromSize: number;
  /** Where the builder starts: the last multiple of 256 at or before fromSize. */
  startSize: number;
  /** Edge tiles of startSize (levels ≥ 1), read from the storage. */
  edges: Tile[];
}

/** The builder state for continuing from `fromSize`, from the storage's own edge tiles; null when one is missing or malformed. */
async function incrementalPlan(storage: TileStorage, fromSize: number, size: number): Promise<Plan | null> {
  if (fromSize > size) return null;
  const startSize = fromSize - (fromSize % TILE_WIDTH);
  const edges: Tile[] = [];
  for (const id of edgeTiles(startSize)) {
    const bytes = await storage.get(tilePath(id));
    if (bytes === null || bytes.length !== id.width * 32) return null;
    edges.push({ ...id, hashes: decodeTile(bytes, id.width) });
  }
  return { fromSize, startSize, edges };
}

interface Bundle {
  index: number;
  width: number;
  entries: Buffer[];
}

type Output = (tiles: Tile[], bundles: Bundle[]) => Promise<void>;

/** Up to this many entries the checking pass keeps its tiles, so publishing reads the ledger once. */
const BUFFER_ENTRIES = 1 << 16;
/** How many full entry bundles are handed to the writer at once on the writing pass. */
const FLUSH_BUNDLES = 16;

/**
 * Runs the builder over entries startSize+1 … size. Keeps every tile and bundle when there are at
 * most `bufferLimit` entries (`buffered`); with `output`, hands them over as they complete instead.
 */
async function buildTiles(
  plan: Plan,
  leaves: LeafSource,
  size: number,
  bufferLimit: number,
  output?: Output,
): Promise<{ root: Buffer; buffered: { tiles: Tile[]; bundles: Bundle[] } | null }> {
  const builder = new TileBuilder(plan.startSize, plan.edges);
  let buffered: { tiles: Tile[]; bundles: Bundle[] } | null = output === undefined && size - plan.startSize <= bufferLimit ? { tiles: [], bundles: [] } : null;
  const keep = output !== undefined || buffered !== null;
  let index = plan.startSize / TILE_WIDTH;
  let entries: Buffer[] = [];
  let full: Bundle[] = [];
  if (size > plan.startSize) {
    for await (const leaf of leaves(plan.startSize + 1, size)) {
      builder.append(leaf.hash);
      if (!keep) {
        builder.take();
        continue;
      }
      entries.push(leaf.data);
      if (entries.length === TILE_WIDTH) {
        full.push({ index: index++, width: TILE_WIDTH, entries });
        entries = [];
        if (output !== undefined && full.length >= FLUSH_BUNDLES) {
          await output(builder.take(), full);
          full = [];
        }
      }
    }
  }
  if (builder.size !== size) {
    throw new SealtrailError('integrity_failure', `entry ${builder.size + 1} is missing from the ledger, which a checkpoint of size ${size} covers`, { details: { seq: builder.size + 1, size } });
  }
  const last = entries.length > 0 ? [{ index, width: entries.length, entries }] : [];
  const tiles = keep ? [...builder.take(), ...builder.partials()] : [];
  if (output !== undefined) await output(tiles, [...full, ...last]);
  if (buffered !== null) buffered = { tiles, bundles: [...full, ...last] };
  return { root: builder.root(), buffered };
}

/** Writes content-fixed `bytes` at `path` unless it is already there; different bytes there are a tile_conflict. */
async function writeFixed(storage: TileStorage, path: string, bytes: Buffer): Promise<boolean> {
  const existing = await storage.get(path);
  if (existing !== null) {
    if (existing.equals(bytes)) return false;
    throw new SealtrailError('tile_conflict', `${path} in ${storage.where} holds other bytes than the ledger gives it: the published tiles or the ledger were tampered with; nothing there was overwritten`, {
      details: { path },
    });
  }
  await storage.put(path, bytes, 'immutable');
  return true;
}

/** The storage's checkpoint, when it parses and is of `origin`; null otherwise (rebuild). */
async function heldCheckpoint(storage: TileStorage, origin: string): Promise<{ size: number; note: string } | null> {
  const bytes = await storage.get(CHECKPOINT_PATH);
  if (bytes === null) return null;
  const note = bytes.toString('utf8');
  try {
    const checkpoint = parseCheckpoint(parseNote(note).text);
    return checkpoint.origin === origin ? { size: checkpoint.size, note } : null;
  } catch (err) {
    if (isSealtrailError(err)) return null;
    throw err;
  }
}
