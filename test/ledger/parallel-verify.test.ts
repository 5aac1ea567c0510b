/**
 * Verification cut into segments (and spread over worker threads) must report exactly what one
 * sequential pass reports: same first divergence, same checked count, for every tampering and at
 * every position, including right at segment boundaries.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import '../helpers/replay.js';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { openLedger, headToJson } from '../../src/ledger/ledger.js';
import { tamper, type Tampering } from '../../src/ledger/tamper-simulator.js';
import { parseTrustedState } from '../../src/ledger/trusted-state.js';
import { tempDir } from '../helpers/databases.js';

const SIZE = 70;

describe('segmented and parallel verification', () => {
  it('agrees with a single sequential pass on intact and tampered ledgers', async () => {
    const dir = tempDir();
    const base = join(dir, 'base.db');
    const seed = await openLedger({ url: base });
    await seed.appendBatch(Array.from({ length: SIZE }, (_, i) => ({ kind: 'k', pk: `p${i + 1}`, payload: { i } })));
    const trusted = parseTrustedState(JSON.stringify(headToJson(await seed.head())));
    await seed.close();

    const tampering: fc.Arbitrary<Tampering | null> = fc.oneof(
      fc.constant(null),
      fc.integer({ min: 1, max: SIZE }).map((seq): Tampering => ({ type: 'edit_payload', seq, payload: { forged: seq } })),
      fc.integer({ min: 1, max: SIZE }).map((seq): Tampering => ({ type: 'edit_prev_hash', seq })),
      fc.integer({ min: 1, max: SIZE }).map((seq): Tampering => ({ type: 'edit_chain_hash', seq })),
      fc.integer({ min: 1, max: SIZE }).map((seq): Tampering => ({ type: 'delete_row', seq })),
      fc.integer({ min: 1, max: SIZE - 1 }).map((keep): Tampering => ({ type: 'truncate_tail', keep, rewindHead: keep % 2 === 0 })),
      fc.integer({ min: 1, max: SIZE }).map((seq): Tampering => ({ type: 'rechain', seq, payload: { forged: seq } })),
      fc.constant<Tampering>({ type: 'phantom_row', kind: 'k', pk: 'ghost', payload: {} }),
    );
    let run = 0;
    await fc.assert(
      fc.asyncProperty(tampering, fc.integer({ min: 1, max: 4 }), fc.boolean(), fc.integer({ min: 1, max: 40 }), async (t, segmentLog2, useTrusted, from) => {
        const url = join(dir, `copy-${run++}.db`);
        copyFileSync(base, url);
        const ledger = await openLedger({ url });
        try {
          if (t) await tamper(ledger.store, t);
          for (const opts of [{}, { from }, ...(useTrusted ? [{ trusted }, { trusted, from: 1 }] : [])]) {
            const sequential = await ledger.verify({ ...opts, workers: 1, segmentLog2: 30 });
            const segmented = await ledger.verify({ ...opts, workers: 1, segmentLog2 });
            const parallel = await ledger.verify({ ...opts, workers: 2, segmentLog2 });
            assert.deepEqual(segmented, sequential, `segments of 2^${segmentLog2}, ${JSON.stringify(t)} ${JSON.stringify(opts)}`);
            assert.deepEqual(parallel, sequential, `2 workers, segments of 2^${segmentLog2}, ${JSON.stringify(t)}`);
          }
        } finally {
          await ledger.close();
        }
      }),
      { numRuns: 25 },
    );
  });
});
