/**
 * Makes randomised tests replayable. Every property test imports this module: it fixes
 * fast-check's seed to SEALTRAIL_TEST_SEED (which `npm test` picks per run and prints), so a
 * failure reproduces with `SEALTRAIL_TEST_SEED=<seed> npm test -- <file>`; fast-check also prints
 * the seed and shrink path of a failing case. Randomness outside properties (fault-injection
 * timing) comes from seededRandom(), never Math.random.
 */
import fc from 'fast-check';
import { createHash, randomInt } from 'node:crypto';

function parseSeed(text: string | undefined): number | undefined {
  if (text === undefined || text === '') return undefined;
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw new Error(`SEALTRAIL_TEST_SEED must be an integer, got ${JSON.stringify(text)}`);
  return n | 0;
}

export const TEST_SEED: number = parseSeed(process.env.SEALTRAIL_TEST_SEED) ?? randomInt(-(2 ** 31), 2 ** 31);

fc.configureGlobal({ ...fc.readConfigureGlobal(), seed: TEST_SEED });

/** A deterministic generator in [0, 1) for one named use, derived from TEST_SEED (mulberry32). */
export function seededRandom(label: string): () => number {
  let state = (TEST_SEED ^ createHash('sha256').update(label).digest().readInt32BE(0)) | 0;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Said in a failure message, so a reader knows how to replay the run. */
export function replayHint(): string {
  return `replay with SEALTRAIL_TEST_SEED=${TEST_SEED}`;
}
