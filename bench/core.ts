/**
 * Core hot paths against a bare createHash('sha256') loop doing the same number of hashes of the
 * same size in the same run: ratio = entries/s of the path ÷ hashes/s of the baseline, scaled by
 * hashes per entry (goal ≥ 0.8: the path adds little beyond the hashing it must do).
 */
import { createHash } from 'node:crypto';
import type { Report } from './run.js';
import { median, round, timeSync } from './util.js';
import { CompactRange } from '../src/core/compact-range.js';
import { GENESIS_HASH, chainHash } from '../src/core/chain.js';
import { leafHash } from '../src/core/merkle.js';

const N = 1_000_000;
const RUNS = 3;
const leaves = Array.from({ length: 1024 }, (_, i) => leafHash(Buffer.from(`leaf ${i}`)));

function baselineHashesPerSecond(inputBytes: number, hashes: number): number {
  const input = Buffer.alloc(inputBytes, 7);
  return hashes / timeSync(() => {
    for (let i = 0; i < hashes; i++) createHash('sha256').update(input).digest();
  });
}

function popCount(n: number): number {
  let c = 0;
  for (let x = n; x > 0; x = Math.floor(x / 2)) c += x % 2;
  return c;
}

export default async function (report: Report): Promise<void> {
  // Each append hashes one node per completed merge: N - popcount(N) node hashes of 65 bytes.
  const appendHashes = N - popCount(N);
  const append: number[] = [];
  const appendBase: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    const range = new CompactRange();
    append.push(N / timeSync(() => {
      for (let i = 0; i < N; i++) range.append(leaves[i & 1023]!);
    }));
    appendBase.push(baselineHashesPerSecond(65, appendHashes));
  }
  const appendRate = median(append);
  const appendBaseline = median(appendBase);
  report({
    name: 'compact_range_append',
    entries: N,
    entries_per_s: Math.round(appendRate),
    baseline_hashes_per_s: Math.round(appendBaseline),
    ratio: round(appendRate / (appendBaseline * (N / appendHashes)), 2),
  });

  const chain: number[] = [];
  const chainBase: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    chain.push(N / timeSync(() => {
      let prev: Buffer = GENESIS_HASH;
      for (let seq = 1; seq <= N; seq++) prev = chainHash(prev, leaves[seq & 1023]!, seq);
    }));
    chainBase.push(baselineHashesPerSecond(72, N));
  }
  const chainRate = median(chain);
  const chainBaseline = median(chainBase);
  report({
    name: 'chain_step',
    entries: N,
    entries_per_s: Math.round(chainRate),
    baseline_hashes_per_s: Math.round(chainBaseline),
    ratio: round(chainRate / chainBaseline, 2),
  });
}
