/**
 * Tiles as C2SP tlog-tiles defines them, computed straight from the definition (MTH of leaf
 * ranges), independently of src/core/tile-edge.ts: the reference the stored tiles are held to.
 */
import { merkleRoot } from '../../src/core/merkle.js';
import type { Store, Tile } from '../../src/store/store.js';
import type { Ledger } from '../../src/ledger/ledger.js';

export function expectedTiles(leaves: readonly Buffer[]): string[] {
  const out: string[] = [];
  for (let level = 0; 256 ** level <= leaves.length; level++) {
    const span = 256 ** level;
    const hashes: Buffer[] = [];
    for (let k = 0; (k + 1) * span <= leaves.length; k++) hashes.push(merkleRoot(leaves.slice(k * span, (k + 1) * span)));
    for (let i = 0; i * 256 < hashes.length; i++) {
      const part = hashes.slice(i * 256, (i + 1) * 256);
      out.push(tileString({ level, index: i, width: part.length, hashes: Buffer.concat(part) }));
    }
  }
  return out;
}

export function tileString(t: Tile): string {
  return `${t.level}/${t.index}/${t.width}/${t.hashes.toString('hex')}`;
}

export async function storedTiles(store: Store): Promise<string[]> {
  const rows = await store.query<{ level: number; idx: number | string; width: number; hashes: Buffer }>('SELECT level, idx, width, hashes FROM merkle_tiles ORDER BY level, idx');
  return rows.map((r) => tileString({ level: Number(r.level), index: Number(r.idx), width: Number(r.width), hashes: r.hashes }));
}

export async function leavesOf(ledger: Ledger): Promise<Buffer[]> {
  const leaves: Buffer[] = [];
  for await (const e of ledger.entries()) leaves.push(e.leafHash);
  return leaves;
}
