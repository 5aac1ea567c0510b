/**
 * A live ledger never looks tampered: verification reads one snapshot, so 32 appenders committing
 * all the while (in this process and in two others) cannot produce a phantom tail, a short head
 * or a mismatched root. Every report of a verify loop running during the load is ok.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { openLedger, type Ledger } from '../../src/ledger/ledger.js';
import type { VerifyOptions } from '../../src/ledger/verifier.js';
import { BACKENDS } from '../helpers/databases.js';

const WORKER = fileURLToPath(new URL('./fixtures/append-worker.ts', import.meta.url));

function appendInChild(url: string, prefix: string, count: number, parallel: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', WORKER, url, prefix, String(count), String(parallel)], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`appender process failed (${code}): ${err}`))));
  });
}

for (const backend of BACKENDS) {
  describe(`verification under load on ${backend.name}`, () => {
    it('raises no false alarm while 32 appenders in three processes write', async () => {
      const url = await backend.freshUrl();
      const seed = await openLedger({ url });
      // Enough entries that the parallel verifications below cut the ledger into many segments.
      await seed.appendBatch(Array.from({ length: 200 }, (_, i) => ({ kind: 'seed', pk: `s${i}`, payload: { i } })));
      const writers: Ledger[] = await Promise.all([openLedger({ url, poolSize: 8 }), openLedger({ url, poolSize: 8 })]);
      const verifier = await openLedger({ url });
      let writing = true;
      const reports: Array<{ ok: boolean; headSize: number; divergence: unknown; options: VerifyOptions }> = [];
      try {
        const load = Promise.all([
          appendInChild(url, 'childA', 120, 8),
          appendInChild(url, 'childB', 120, 8),
          // 16 in-process lanes over two ledgers (their own pools and group commits).
          ...Array.from({ length: 16 }, async (_, lane) => {
            for (let i = 0; i < 25; i++) await writers[lane % 2]!.append('lane', `l${lane}-${i}`, { lane, i });
          }),
        ]).finally(() => {
          writing = false;
        });
        const loop = (async () => {
          const variants: VerifyOptions[] = [{}, { workers: 2, segmentLog2: 5 }, { to: 150 }, { statesAt: [100, 200] }];
          for (let i = 0; writing || i < variants.length; i++) {
            const options = variants[i % variants.length]!;
            const r = await verifier.verify(options);
            reports.push({ ok: r.ok, headSize: r.headSize, divergence: r.divergence, options });
          }
        })();
        await Promise.all([load, loop]);
      } finally {
        await Promise.all([...writers.map((w) => w.close()), verifier.close(), seed.close()]);
      }
      const alarms = reports.filter((r) => !r.ok);
      assert.deepEqual(alarms, [], 'every verification during the load is ok');
      const sizes = new Set(reports.map((r) => r.headSize));
      assert.ok(sizes.size >= 2, `verifications saw the ledger grow (head sizes ${[...sizes].join(', ')})`);
      const final = await openLedger({ url });
      try {
        const report = await final.verify();
        assert.equal(report.ok, true);
        assert.equal(report.size, 200 + 240 + 400);
      } finally {
        await final.close();
      }
    });
  });
}
