/**
 * C2SP tlog-tiles: path vectors from the spec, bundle encoding, and the incremental builder, whose
 * tiles must give the same roots and inclusion proofs as src/core/merkle.ts for random sizes and
 * random split points (a publish at one size, then at a larger one from the first's edge tiles).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import '../helpers/replay.js';
import { inclusionProof, leafHash, merkleRoot, verifyInclusion } from '../../src/core/merkle.js';
import { isSealtrailError } from '../../src/core/errors.js';
import {
  TILE_WIDTH,
  TileBuilder,
  allTiles,
  changedTiles,
  decodeEntryBundle,
  decodeTile,
  edgeTiles,
  encodeEntryBundle,
  encodeTile,
  encodeTileIndex,
  entriesPath,
  inclusionProofFromTiles,
  parseTilePath,
  rootFromTiles,
  tilePath,
  tilesForProof,
  type Tile,
  type TileId,
} from '../../src/core/tlog-tiles.js';

const leafCache: Buffer[] = [];
function leaves(n: number): Buffer[] {
  while (leafCache.length < n) leafCache.push(leafHash(Buffer.from(`entry ${leafCache.length}`)));
  return leafCache.slice(0, n);
}

/** Builds a tree of `size` through the builder, optionally stopping at `split` and resuming from its edge tiles. */
function build(size: number, split?: number): { tiles: Map<string, Tile>; root: Buffer; changed: Set<string> } {
  const tiles = new Map<string, Tile>();
  const all = leaves(size);
  const keep = (list: Tile[]) => {
    for (const t of list) {
      const path = tilePath(t);
      const before = tiles.get(path);
      // Content-fixed paths: writing one twice must give the same hashes.
      if (before) assert.deepEqual(encodeTile(before.hashes), encodeTile(t.hashes), `${path} rewritten with other bytes`);
      tiles.set(path, t);
    }
  };
  let builder = new TileBuilder();
  const changed = new Set<string>();
  const stop = split ?? size;
  for (let i = 0; i < stop; i++) {
    builder.append(all[i]!);
    if (i % 97 === 0) keep(builder.take());
  }
  keep(builder.take());
  keep(builder.partials());
  if (split !== undefined) {
    // Resume the way a sink does: from the level ≥ 1 edge tiles of the last multiple of 256.
    const start = split - (split % TILE_WIDTH);
    const edges = edgeTiles(start).map((id) => tiles.get(tilePath(id))!);
    builder = new TileBuilder(start, edges);
    for (let i = start; i < size; i++) builder.append(all[i]!);
    const fresh = [...builder.take(), ...builder.partials()];
    const wanted = new Set(changedTiles(split, size).map((t) => tilePath(t)));
    for (const t of fresh) if (wanted.has(tilePath(t))) changed.add(tilePath(t));
    keep(fresh);
  }
  return { tiles, root: builder.root(), changed };
}

function reader(tiles: Map<string, Tile>) {
  return (id: TileId) => {
    const t = tiles.get(tilePath(id));
    assert.ok(t, `tile ${tilePath(id)} was never built`);
    return t.hashes;
  };
}

test('path encoding follows the spec vectors', () => {
  assert.equal(encodeTileIndex(0), '000');
  assert.equal(encodeTileIndex(1234067), 'x001/x234/067');
  assert.equal(encodeTileIndex(999), '999');
  assert.equal(encodeTileIndex(1000), 'x001/000');
  assert.equal(tilePath({ level: 0, index: 1234067, width: 256 }), 'tile/0/x001/x234/067');
  assert.equal(tilePath({ level: 0, index: 1234067, width: 8 }), 'tile/0/x001/x234/067.p/8');
  assert.equal(tilePath({ level: 3, index: 0, width: 1 }), 'tile/3/000.p/1');
  assert.equal(entriesPath(1234067, 8), 'tile/entries/x001/x234/067.p/8');
  assert.equal(entriesPath(5, 256), 'tile/entries/005');
  assert.deepEqual(parseTilePath('tile/0/x001/x234/067.p/8'), { level: 0, index: 1234067, width: 8, entries: false });
  assert.deepEqual(parseTilePath('tile/entries/005'), { level: 0, index: 5, width: 256, entries: true });
  for (const bad of ['tile/0/1', 'tile/0/x000/001', 'tile/0/001.p/0', 'tile/0/001.p/256', 'tile/01/001', 'tile/0/001/', 'tiles/0/001']) {
    assert.equal(parseTilePath(bad), null, bad);
  }
  for (const bad of [{ level: 0, index: 0, width: 0 }, { level: 0, index: -1, width: 1 }, { level: 64, index: 0, width: 1 }, { level: 0, index: 0, width: 257 }]) {
    assert.throws(() => tilePath(bad), (err) => isSealtrailError(err, 'invalid_argument'));
  }
});

test('paths round-trip through parseTilePath', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 6 }), fc.maxSafeNat(), fc.integer({ min: 1, max: 256 }), (level, index, width) => {
      assert.deepEqual(parseTilePath(tilePath({ level, index, width })), { level, index, width, entries: false });
      assert.deepEqual(parseTilePath(entriesPath(index, width)), { level: 0, index, width, entries: true });
    }),
  );
});

test('entry bundles: big-endian uint16 length, then the bytes', () => {
  const bundle = encodeEntryBundle([Buffer.from('ab'), Buffer.alloc(0), Buffer.alloc(300, 7)]);
  assert.equal(bundle.subarray(0, 4).toString('hex'), '00026162');
  assert.equal(bundle.subarray(4, 8).toString('hex'), '0000012c');
  assert.deepEqual(decodeEntryBundle(bundle), [Buffer.from('ab'), Buffer.alloc(0), Buffer.alloc(300, 7)]);
  assert.throws(() => decodeEntryBundle(bundle.subarray(0, bundle.length - 1)), (err) => isSealtrailError(err, 'invalid_argument'));
  assert.throws(() => encodeEntryBundle([Buffer.alloc(65536)]), (err) => isSealtrailError(err, 'invalid_argument'));
  assert.throws(() => decodeTile(Buffer.alloc(33), 1), (err) => isSealtrailError(err, 'invalid_argument'));
});

test('a tree of 256^2 + 1 leaves has three levels and the expected edge', () => {
  const size = TILE_WIDTH * TILE_WIDTH + 1;
  assert.deepEqual(edgeTiles(size), [
    { level: 0, index: 256, width: 1 },
    { level: 2, index: 0, width: 1 },
  ]);
  const ids = [...allTiles(size)];
  assert.equal(ids.length, 257 + 1 + 1);
  const { tiles, root } = build(size);
  assert.deepEqual(root, merkleRoot(leaves(size)));
  assert.deepEqual(rootFromTiles(size, reader(tiles)), root);
});

test('roots and inclusion proofs from the tiles equal merkle.ts, built in one go or resumed from edge tiles', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 1400 }).chain((size) => fc.tuple(fc.constant(size), fc.integer({ min: 0, max: size }), fc.integer({ min: 0, max: size - 1 }))),
      ([size, split, index]) => {
        const all = leaves(size);
        const expectedRoot = merkleRoot(all);
        for (const run of [build(size), build(size, split)]) {
          assert.deepEqual(run.root, expectedRoot);
          const read = reader(run.tiles);
          assert.deepEqual(rootFromTiles(size, read), expectedRoot);
          // Every tile of the tree was built, and each full one is the one a fresh build gives.
          for (const id of allTiles(size)) read(id);
          const proof = inclusionProofFromTiles(index, size, read);
          assert.deepEqual(proof, inclusionProof(index, all));
          assert.ok(verifyInclusion(index, size, all[index]!, proof, expectedRoot));
          // tilesForProof names every tile the proof needs.
          const needed = new Map(tilesForProof(index, size).map((t) => [tilePath(t), t]));
          const only = (id: TileId) => {
            assert.ok(needed.has(tilePath(id)), `${tilePath(id)} not listed by tilesForProof`);
            return read(id);
          };
          assert.deepEqual(inclusionProofFromTiles(index, size, only), proof);
          assert.deepEqual(rootFromTiles(size, only), expectedRoot);
        }
        // The resumed build produced exactly the tiles that differ between the two sizes.
        const resumed = build(size, split);
        assert.deepEqual([...resumed.changed].sort(), changedTiles(split, size).map((t) => tilePath(t)).sort());
      },
    ),
    { numRuns: 60 },
  );
});

test('resuming past 256² leaves adds a level-2 tile and rewrites only the changed edge', () => {
  const size = TILE_WIDTH * TILE_WIDTH + 300;
  const resumed = build(size, TILE_WIDTH * TILE_WIDTH - 7);
  assert.deepEqual(resumed.root, merkleRoot(leaves(size)));
  assert.deepEqual([...resumed.changed].sort(), ['tile/0/x000/255', 'tile/0/x000/256', 'tile/0/x000/257.p/44', 'tile/1/000', 'tile/1/001.p/1', 'tile/2/000.p/1'].map((p) => p.replace(/x000\//g, '')).sort());
  const proof = inclusionProofFromTiles(size - 1, size, reader(resumed.tiles));
  assert.deepEqual(proof, inclusionProof(size - 1, leaves(size)));
});

test('changedTiles lists only tiles holding new hashes', () => {
  assert.deepEqual(changedTiles(5, 5), []);
  assert.deepEqual(changedTiles(0, 3), [{ level: 0, index: 0, width: 3 }]);
  assert.deepEqual(changedTiles(255, 257), [
    { level: 0, index: 0, width: 256 },
    { level: 0, index: 1, width: 1 },
    { level: 1, index: 0, width: 1 },
  ]);
  assert.deepEqual(changedTiles(257, 300), [{ level: 0, index: 1, width: 44 }]);
});

test('the builder refuses edge tiles that do not fit its start size', () => {
  const { tiles } = build(600);
  const edge = tiles.get('tile/1/000.p/2')!;
  assert.doesNotThrow(() => new TileBuilder(512, [edge]));
  assert.throws(() => new TileBuilder(512, []), (err) => isSealtrailError(err, 'invalid_argument'));
  assert.throws(() => new TileBuilder(768, [edge]), (err) => isSealtrailError(err, 'invalid_argument'));
});
