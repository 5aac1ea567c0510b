/**
 * Reading a tiles storage back (verifyAgainstSinks, the monitor): its checkpoint and every tile
 * and entry bundle of the tree at that size, checked against each other.
 */
import { parseCheckpoint } from '../../core/checkpoint.js';
import { isSealtrailError } from '../../core/errors.js';
import { equalBytes } from '../../core/hash.js';
import { merkleRoot } from '../../core/merkle.js';
import { parseNote } from '../../core/note.js';
import { TILE_WIDTH, allTiles, decodeEntryBundle, decodeTile, entriesPath, entryLeafHash, levelCount, rootFromTiles, tilePath, type TileId } from '../../core/tlog-tiles.js';
import type { SinkContents } from '../sinks/sink.js';
import { CHECKPOINT_PATH } from './publish-tiles.js';
import type { TileStorage } from './tile-storage.js';

/**
 * Reads a tiles storage back for verifyAgainstSinks: its checkpoint as the one record, and a
 * `sink_edited` problem (naming the first entry it affects) when any tile or entry bundle of the
 * tree at that size is missing or does not follow from the ones below it: every entry bundle must
 * hash to its level-0 tile, every level-(L+1) hash must be the root of its full level-L tile, and
 * the edge tiles must give the checkpoint's root. verifyAgainstSinks then checks the note's
 * signature and that root against the ledger, so published tiles that pass match the ledger's
 * leaves. Reads every tile: O(size / 256) objects.
 */
export async function readTiles(storage: TileStorage): Promise<SinkContents> {
  let bytes: Buffer | null;
  try {
    bytes = await storage.get(CHECKPOINT_PATH);
  } catch (err) {
    return unreadable(storage, err);
  }
  if (bytes === null) return { records: [], problems: [], readable: true, absent: true };
  const note = bytes.toString('utf8');
  let size: number;
  let root: Buffer;
  try {
    const checkpoint = parseCheckpoint(parseNote(note).text);
    size = checkpoint.size;
    root = checkpoint.rootHash;
  } catch (err) {
    if (!isSealtrailError(err)) throw err;
    return { records: [], readable: true, problems: [{ seq: null, reason: 'sink_edited', message: `${CHECKPOINT_PATH} in ${storage.where} is not a checkpoint note: ${err.message}` }] };
  }
  const contents: SinkContents = { records: [{ seq: size, chainHash: null, appendedAt: null, note, position: 1 }], problems: [], readable: true };
  try {
    const problem = await checkTree(storage, size, root);
    if (problem) contents.problems.push({ seq: problem.seq, reason: 'sink_edited', message: problem.message });
  } catch (err) {
    return { ...unreadable(storage, err), records: contents.records };
  }
  return contents;
}

function unreadable(storage: TileStorage, err: unknown): SinkContents {
  const reason = err instanceof Error ? err.message : String(err);
  return { records: [], readable: false, problems: [{ seq: null, reason: 'sink_unreadable', message: `cannot read ${storage.where}: ${reason}` }] };
}

/** The first tile or bundle that is missing or inconsistent, by the first entry (seq) it covers. */
async function checkTree(storage: TileStorage, size: number, root: Buffer): Promise<{ seq: number; message: string } | null> {
  // Expected hashes of the level being read, from the level below (level 0: the entry bundles).
  let expected: Buffer[] = [];
  let level = -1;
  const edges = new Map<number, Buffer[]>();
  const seqOf = (id: TileId, offset: number): number => (id.index * TILE_WIDTH + offset) * TILE_WIDTH ** id.level + 1;
  let above: Buffer[] = [];
  for (const id of allTiles(size)) {
    if (id.level !== level) {
      expected = id.level === 0 ? [] : above;
      above = [];
      level = id.level;
    }
    const path = tilePath(id);
    const tileBytes = await storage.get(path);
    if (tileBytes === null || tileBytes.length !== id.width * 32) {
      return { seq: seqOf(id, 0), message: `${path} is ${tileBytes === null ? 'missing' : `${tileBytes.length} bytes, not ${id.width * 32}`}` };
    }
    const hashes = decodeTile(tileBytes, id.width);
    let want: Buffer[];
    if (id.level === 0) {
      const bundlePath = entriesPath(id.index, id.width);
      const bundle = await storage.get(bundlePath);
      let decoded: Buffer[] | null = null;
      try {
        decoded = bundle === null ? null : decodeEntryBundle(bundle);
      } catch (err) {
        if (!isSealtrailError(err)) throw err;
      }
      if (decoded === null || decoded.length !== id.width) {
        return { seq: seqOf(id, 0), message: `${bundlePath} is ${bundle === null ? 'missing' : `not a bundle of ${id.width} entries`}` };
      }
      want = decoded.map((e) => entryLeafHash(e));
    } else {
      want = expected.slice(id.index * TILE_WIDTH, id.index * TILE_WIDTH + id.width);
    }
    const bad = hashes.findIndex((h, i) => !equalBytes(h, want[i]!));
    if (bad !== -1) {
      const what = id.level === 0 ? `the hash of entry ${seqOf(id, bad)} in ${entriesPath(id.index, id.width)}` : `the root of the level-${id.level - 1} tile below it`;
      return { seq: seqOf(id, bad), message: `hash ${bad} of ${path} is not ${what}: a tile or entry bundle was edited` };
    }
    if (id.width === TILE_WIDTH) above.push(merkleRoot(hashes));
    else edges.set(id.level, hashes);
  }
  const fromTiles = rootFromTiles(size, (id) => {
    const hashes = edges.get(id.level);
    if (hashes === undefined || hashes.length !== id.width || levelCount(size, id.level) % TILE_WIDTH !== id.width) throw new Error(`no edge tile at level ${id.level}`);
    return hashes;
  });
  if (!equalBytes(fromTiles, root)) return { seq: size, message: `the tiles give another root than ${CHECKPOINT_PATH} (size ${size}): a tile or the checkpoint was replaced` };
  return null;
}
