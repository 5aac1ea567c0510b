/**
 * Verification cut into segments and spread over worker threads must report exactly what one
 * sequential pass reports (the whole report, not just the verdict), on both backends, for intact
 * and tampered ledgers crossing many segment boundaries, for any worker count.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import '../helpers/replay.js';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { isSealtrailError } from '../../src/core/errors.js';
import { openLedger, headToJson, type Ledger } from '../../src/ledger/ledger.js';
import { tamper, type Tampering } from '../../src/ledger/tamper-simulator.js';
import { parseTrustedState, type TrustedState } from '../../src/ledger/trusted-state.js';
import { verifyLedger, type VerifyOptions } from '../../src/ledger/verifier.js';
import { BACKENDS, postgresUrl, tempDir, type Backend } from '../helpers/databases.js';
import { redactForTest } from '../helpers/redaction.js';

const SIZE = 150;

/** A fresh ledger of SIZE entries (one redacted), and the trusted head taken at 100 entries. */
async function fixture(backend: Backend): Promise<() => Promise<{ ledger: Ledger; trusted: TrustedState }>> {
  const events = Array.from({ length: SIZE }, (_, i) => ({ kind: 'k', pk: `p${i + 1}`, payload: { i } }));
  const build = async (url: string) => {
    const ledger = await openLedger({ url });
    await ledger.appendBatch(events.slice(0, 100));
    const trusted = parseTrustedState(JSON.stringify(headToJson(await ledger.head())));
    await ledger.appendBatch(events.slice(100));
    await redactForTest(ledger, 40);
    return { ledger, trusted };
  };
  if (backend.name === 'postgres') return async () => build(await postgresUrl());
  const dir = tempDir();
  const base = join(dir, 'base.db');
  const { ledger, trusted } = await build(base);
  await ledger.close();
  let run = 0;
  return async () => {
    const url = join(dir, `copy-${run++}.db`);
    copyFileSync(base, url);
    return { ledger: await openLedger({ url }), trusted };
  };
}

const tampering: fc.Arbitrary<Tampering | null> = fc.oneof(
  fc.constant(null),
  fc.integer({ min: 1, max: SIZE }).map((seq): Tampering => ({ type: 'edit_payload', seq, payload: { forged: seq } })),
  fc.integer({ min: 2, max: SIZE }).map((seq): Tampering => ({ type: 'edit_prev_hash', seq })),
  fc.integer({ min: 1, max: SIZE }).map((seq): Tampering => ({ type: 'delete_row', seq })),
  fc.integer({ min: 1, max: SIZE }).map((seq): Tampering => ({ type: 'blank_payload', seq })),
  fc.integer({ min: 1, max: SIZE - 1 }).map((keep): Tampering => ({ type: 'truncate_tail', keep, rewindHead: keep % 2 === 0 })),
  fc.integer({ min: 1, max: SIZE }).map((seq): Tampering => ({ type: 'lazy_rechain', seq, payload: { forged: seq } })),
  fc.integer({ min: 1, max: SIZE }).map((seq): Tampering => ({ type: 'rechain', seq, payload: { forged: seq } })),
  fc.nat().map((n): Tampering => ({ type: 'edit_tile', level: 0, index: Math.floor((n % SIZE) / 256), position: n % SIZE % 256 })),
  fc.nat().map((n): Tampering => ({ type: 'delete_tile', level: 0, index: n % Math.ceil(SIZE / 256) })),
  fc.nat().map((n): Tampering => ({ type: 'truncate_tile', level: 0, index: Math.floor(SIZE / 256), width: 1 + (n % (SIZE % 256 - 1)) })),
  fc.constant<Tampering>({ type: 'phantom_row', kind: 'k', pk: 'ghost', payload: {} }),
);

for (const backend of BACKENDS) {
  describe(`segmented and parallel verification on ${backend.name}`, () => {
    it('gives exactly the sequential report for intact and tampered ledgers, any segment size and worker count', async () => {
      const fresh = await fixture(backend);
      await fc.assert(
        fc.asyncProperty(
          tampering,
          fc.integer({ min: 3, max: 6 }),
          fc.integer({ min: 1, max: 4 }),
          fc.constantFrom<'plain' | 'trusted' | 'skip' | 'from'>('plain', 'trusted', 'skip', 'from'),
          async (t, segmentLog2, workers, mode) => {
            const { ledger, trusted } = await fresh();
            try {
              if (t) await tamper(ledger.store, t);
              const opts: VerifyOptions = {
                plain: {},
                trusted: { trusted },
                skip: { trusted, skipPrefix: true },
                from: { from: 37 },
              }[mode];
              const sizes = { statesAt: [0, 16, 64, 99, 100, 129, SIZE] };
              // A tampering can make `from` a usage error; then both must refuse alike.
              const outcome = (o: VerifyOptions) => ledger.verify(o).catch((err: unknown) => ({ refused: isSealtrailError(err) ? err.code : String(err) }));
              const sequential = await outcome({ ...opts, ...sizes, workers: 1, segmentLog2: 30 });
              const parallel = await outcome({ ...opts, ...sizes, workers, segmentLog2 });
              assert.deepEqual(parallel, sequential, `${workers} workers, segments of 2^${segmentLog2}, ${JSON.stringify(t)} ${mode}`);
            } finally {
              await ledger.close();
            }
          },
        ),
        // Replayable through SEALTRAIL_TEST_SEED (helpers/replay); each run spawns worker threads, so keep the count modest.
        { numRuns: 12 },
      );
    });

    it('never flags an intact ledger past the parallel threshold', async () => {
      const ledger = await openLedger({ url: await backend.freshUrl() });
      try {
        await ledger.appendBatch(Array.from({ length: 300 }, (_, i) => ({ kind: 'k', pk: `p${i + 1}`, payload: { i, pad: 'x'.repeat(i % 7) } })));
        for (const workers of [2, 4]) {
          const report = await ledger.verify({ workers, segmentLog2: 4 });
          assert.equal(report.divergence, null);
          assert.equal(report.checked, 300);
          assert.deepEqual(report.root, (await ledger.head()).root);
        }
      } finally {
        await ledger.close();
      }
    });

    it('fails with the coded error of a worker that cannot read, instead of hanging or answering', async () => {
      const ledger = await openLedger({ url: await backend.freshUrl() });
      try {
        await ledger.appendBatch(Array.from({ length: 64 }, (_, i) => ({ kind: 'k', pk: `p${i + 1}`, payload: { i } })));
        // Workers pointed at a database without a ledger: every segment they are sent fails.
        let empty: string;
        if (backend.name === 'postgres') empty = await postgresUrl();
        else {
          empty = join(tempDir(), 'empty.db');
          new Database(empty).close();
        }
        await assert.rejects(
          verifyLedger(ledger.store, { workers: 2, segmentLog2: 3 }, empty),
          (err) => isSealtrailError(err) && ['schema_missing', 'database_error'].includes(err.code),
        );
        // The ledger itself is still fine.
        assert.equal((await ledger.verify({ workers: 2, segmentLog2: 3 })).ok, true);
      } finally {
        await ledger.close();
      }
    });
  });
}
