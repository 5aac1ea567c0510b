/**
 * Inclusion and consistency proofs from the stored complete subtrees. Every proof hash is the
 * root of a leaf range; each range splits into O(log n) stored perfect subtrees, all fetched in
 * one read, so a proof costs O(log n) rows whatever the ledger's size.
 */
import { consistencyProofRanges, foldSubtrees, inclusionProofRanges, perfectSubtrees, type LeafRange } from '../core/merkle.js';
import type { NodeKey } from '../store/store.js';
import { requireNode, type NodeReader } from './frontier.js';

export async function hashesOfRanges(read: NodeReader, ranges: readonly LeafRange[]): Promise<Buffer[]> {
  const parts = ranges.map(([start, end]) => perfectSubtrees(start, end));
  const keys = new Map<string, NodeKey>();
  for (const list of parts) for (const k of list) keys.set(`${k.level}/${k.index}`, k);
  const found = await read([...keys.values()]);
  return parts.map((list) => foldSubtrees(list.map((k) => requireNode(found, k))));
}

export function inclusionPath(read: NodeReader, index: number, size: number): Promise<Buffer[]> {
  return hashesOfRanges(read, inclusionProofRanges(index, size));
}

export function consistencyPath(read: NodeReader, oldSize: number, newSize: number): Promise<Buffer[]> {
  return hashesOfRanges(read, consistencyProofRanges(oldSize, newSize));
}

export async function rootAt(read: NodeReader, size: number): Promise<Buffer> {
  const [root] = await hashesOfRanges(read, [[0, size]]);
  return root!;
}
