/**
 * Verification from a trusted state with skipPrefix costs O(new entries): it reads the entries
 * after the trusted size and the tiles on the edge, nothing of the prefix. Shown by removing the
 * prefix (its rows, and every tile that lies wholly before the trusted size): the incremental
 * pass still succeeds, in-process and in workers, while the new entries are still fully checked.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { openLedger } from '../../src/ledger/ledger.js';
import { tamper } from '../../src/ledger/tamper-simulator.js';
import type { TrustedState } from '../../src/ledger/trusted-state.js';
import { BACKENDS } from '../helpers/databases.js';

const SIZE = 3000;
const TRUSTED = 2990;

for (const backend of BACKENDS) {
  describe(`incremental verification on ${backend.name}`, () => {
    it('reads nothing before the trusted size and still checks every new entry', async () => {
      const ledger = await openLedger({ url: await backend.freshUrl() });
      try {
        await ledger.appendBatch(Array.from({ length: SIZE }, (_, i) => ({ kind: 'k', pk: `p${i + 1}`, payload: { i } })));
        // The trusted state a monitor keeps: what an earlier pass recomputed, frontier included.
        const earlier = await ledger.verify({ to: TRUSTED });
        assert.equal(earlier.ok, true);
        const trusted: TrustedState = { size: earlier.size, chainHash: earlier.chainHash, root: earlier.root!, frontier: earlier.frontier! };

        // Remove the prefix: rows 1..TRUSTED − 1 (the last trusted row stays: it anchors the chain
        // hash) and the leaf tiles that end before the trusted size (256 leaves each).
        await ledger.store.run('DELETE FROM audit_chain WHERE seq < ?', [TRUSTED]);
        await ledger.store.run('DELETE FROM merkle_tiles WHERE level = 0 AND (idx + 1) * 256 <= ?', [TRUSTED]);
        const full = await ledger.verify();
        assert.deepEqual({ ok: full.ok, seq: full.divergence?.seq, reason: full.divergence?.reason }, { ok: false, seq: 1, reason: 'seq_gap' });

        for (const options of [{ workers: 1 }, { workers: 2, segmentLog2: 1 }]) {
          const report = await ledger.verify({ trusted, skipPrefix: true, ...options });
          assert.deepEqual(
            { ok: report.ok, from: report.from, checked: report.checked, size: report.size, skippedPrefix: report.skippedPrefix, divergence: report.divergence },
            { ok: true, from: TRUSTED + 1, checked: SIZE - TRUSTED, size: SIZE, skippedPrefix: true, divergence: null },
            JSON.stringify(options),
          );
          assert.deepEqual(report.root, (await ledger.head()).root);
        }

        await tamper(ledger.store, { type: 'edit_payload', seq: TRUSTED + 5, payload: { forged: true } });
        for (const options of [{ workers: 1 }, { workers: 2, segmentLog2: 1 }]) {
          const report = await ledger.verify({ trusted, skipPrefix: true, ...options });
          assert.deepEqual({ ok: report.ok, seq: report.divergence?.seq, reason: report.divergence?.reason }, { ok: false, seq: TRUSTED + 5, reason: 'event_hash_mismatch' });
        }
      } finally {
        await ledger.close();
      }
    });
  });
}
