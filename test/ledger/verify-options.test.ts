/**
 * What verify is asked to do: ranges outside the ledger are usage errors (library and CLI, exit 2),
 * never an integrity failure or a silent clamp; skipping the prefix states its blind spot; the
 * states it reports at requested sizes are the ones the ledger really had at those sizes.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeBase64 } from '../../src/core/base64.js';
import { isSealtrailError } from '../../src/core/errors.js';
import { openLedger, headToJson, type Head } from '../../src/ledger/ledger.js';
import type { VerifyOptions } from '../../src/ledger/verifier.js';
import { BACKENDS, tempDir } from '../helpers/databases.js';
import { cli } from '../helpers/cli.js';

for (const backend of BACKENDS) {
  describe(`verify options on ${backend.name}`, () => {
    it('refuses ranges outside the ledger with out_of_range, in the library and as exit 2 in the CLI', async () => {
      const url = await backend.freshUrl();
      const ledger = await openLedger({ url });
      try {
        await ledger.appendBatch(Array.from({ length: 10 }, (_, i) => ({ kind: 'k', pk: `p${i}`, payload: { i } })));
        const bad: Array<[VerifyOptions, string[]]> = [
          [{ from: 0 }, ['--from', '0']],
          [{ from: 11 }, ['--from', '11']],
          [{ from: 6, to: 5 }, ['--from', '6', '--to', '5']],
          [{ to: 11 }, ['--to', '11']],
          [{ to: 0 }, ['--to', '0']],
        ];
        for (const [options, args] of bad) {
          await assert.rejects(ledger.verify(options), (err) => isSealtrailError(err, 'out_of_range'), JSON.stringify(options));
          const run = await cli(['verify', '--db', url, ...args]);
          assert.equal(run.status, 2, `${args.join(' ')}: ${run.stderr}`);
          assert.match(run.stderr, /out_of_range/);
          assert.doesNotMatch(run.stdout + run.stderr, /INTEGRITY FAILURE/);
        }
        await assert.rejects(ledger.verify({ skipPrefix: true }), (err) => isSealtrailError(err, 'invalid_argument'));
        const edge = await ledger.verify({ from: 10, to: 10 });
        assert.deepEqual({ ok: edge.ok, checked: edge.checked, size: edge.size }, { ok: true, checked: 1, size: 10 });
      } finally {
        await ledger.close();
      }
    });

    it('verifies an empty ledger, from 1 spelled out or not, and refuses any other start', async () => {
      const ledger = await openLedger({ url: await backend.freshUrl() });
      try {
        for (const options of [{}, { from: 1 }]) {
          const report = await ledger.verify(options);
          assert.deepEqual({ ok: report.ok, checked: report.checked, size: report.size, headSize: report.headSize }, { ok: true, checked: 0, size: 0, headSize: 0 });
        }
        await assert.rejects(ledger.verify({ from: 2 }), (err) => isSealtrailError(err, 'out_of_range'));
        await assert.rejects(ledger.verify({ to: 1 }), (err) => isSealtrailError(err, 'out_of_range'));
      } finally {
        await ledger.close();
      }
    });

    it('states the blind spot of --skip-prefix and prints the recomputed state as JSON', async () => {
      const url = await backend.freshUrl();
      const ledger = await openLedger({ url });
      const dir = tempDir();
      try {
        await ledger.appendBatch(Array.from({ length: 6 }, (_, i) => ({ kind: 'k', pk: `p${i}`, payload: { i } })));
        const trustedFile = join(dir, 'head.json');
        writeFileSync(trustedFile, JSON.stringify(headToJson(await ledger.head())));
        await ledger.append('k', 'later', {});
        const head = await ledger.head();

        const skipped = await cli(['verify', '--db', url, '--trusted', trustedFile, '--skip-prefix']);
        assert.equal(skipped.status, 0, skipped.stderr);
        assert.match(skipped.stdout, /ok: 1 entries verified/);
        assert.match(skipped.stdout, /not re-read: entries 1\.\.6/);
        const full = await cli(['verify', '--db', url, '--trusted', trustedFile]);
        assert.doesNotMatch(full.stdout, /not re-read/);

        const json = JSON.parse((await cli(['verify', '--db', url, '--trusted', trustedFile, '--json'])).stdout) as Record<string, unknown>;
        assert.deepEqual(json, {
          ok: true,
          checked: 7,
          from: 1,
          to: 7,
          size: 7,
          chain_hash: head.chainHash.toString('hex'),
          root: encodeBase64(head.root),
          frontier: (await ledger.verify()).frontier!.map(encodeBase64),
          head_size: 7,
          states: [],
          redacted: [],
          skipped_prefix: false,
          divergence: null,
        });
      } finally {
        await ledger.close();
      }
    });

    it('reports the state at each requested size as the ledger had it then', async () => {
      const ledger = await openLedger({ url: await backend.freshUrl() });
      try {
        const heads: Head[] = [];
        heads.push(await ledger.head());
        for (let n = 1; n <= 9; n++) {
          await ledger.append('k', `p${n}`, { n });
          heads.push(await ledger.head());
        }
        const report = await ledger.verify({ statesAt: [9, 0, 4, 4, 5, 1, 12] });
        assert.deepEqual(
          report.states,
          [0, 1, 4, 5, 9].map((n) => ({ size: n, chainHash: heads[n]!.chainHash, root: heads[n]!.root })),
          'ascending, deduplicated, sizes past the end left out',
        );
        const partial = await ledger.verify({ from: 5, statesAt: [2, 4, 7] });
        assert.deepEqual(
          partial.states.map((s) => s.size),
          [4, 7],
          'sizes before from − 1 were not read',
        );
      } finally {
        await ledger.close();
      }
    });
  });
}
