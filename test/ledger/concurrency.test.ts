/**
 * Many appenders at once — in one process over several connections, and in separate processes —
 * never fork the chain, never leave a gap, never reuse a seq. Appenders killed with SIGKILL at
 * random moments lose no acknowledged entry and leave a ledger that verifies.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { openLedger } from '../../src/ledger/ledger.js';
import { BACKENDS } from '../helpers/databases.js';
import { replayHint, seededRandom } from '../helpers/replay.js';

const WORKER = fileURLToPath(new URL('./fixtures/append-worker.ts', import.meta.url));
// Where the kills land is random, but replayable from the run's seed.
const random = seededRandom('concurrency kills');

/** Runs a worker; with killAfterAcks, SIGKILLs it at a random moment once it has acknowledged that many. */
function runWorker(url: string, prefix: string, count: number, killAfterAcks?: number): Promise<{ acked: string[]; killed: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', WORKER, url, prefix, String(count), '4'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let killed = false;
    let timer: NodeJS.Timeout | undefined;
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (killAfterAcks !== undefined && !timer && out.split('\n').length > killAfterAcks) {
        // Mid-append, at a random point within the next few group commits.
        timer = setTimeout(() => {
          killed = true;
          child.kill('SIGKILL');
        }, Math.floor(random() * 50));
      }
    });
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (timer) clearTimeout(timer);
      // Only whole lines were acknowledged; a line cut by the kill was not.
      const acked = out.split('\n').slice(0, -1);
      if (!killed && code !== 0) reject(new Error(`worker failed (${code}): ${err}`));
      else resolve({ acked, killed });
    });
  });
}

async function checkLedger(url: string, expectedKeys: string[]): Promise<void> {
  const ledger = await openLedger({ url });
  try {
    const report = await ledger.verify();
    assert.equal(report.divergence, null);
    const seqs: number[] = [];
    const keys = new Set<string>();
    for await (const e of ledger.entries()) {
      seqs.push(e.seq);
      keys.add(e.pk);
    }
    assert.deepEqual(seqs, Array.from({ length: seqs.length }, (_, i) => i + 1), 'gap-free, no seq reused');
    assert.equal((await ledger.head()).size, seqs.length);
    for (const key of expectedKeys) assert.ok(keys.has(key), `acknowledged ${key} is in the ledger (${replayHint()})`);
  } finally {
    await ledger.close();
  }
}

for (const backend of BACKENDS) {
  describe(`concurrent appenders on ${backend.name}`, () => {
    it('32 concurrent appenders over 4 connections produce one gap-free, fork-free chain', async () => {
      const url = await backend.freshUrl();
      await (await openLedger({ url })).close();
      const ledgers = await Promise.all(Array.from({ length: 4 }, () => openLedger({ url, poolSize: 8 })));
      const keys: string[] = [];
      try {
        await Promise.all(
          Array.from({ length: 32 }, async (_, lane) => {
            const ledger = ledgers[lane % 4]!;
            for (let i = 0; i < 25; i++) {
              const pk = `lane${lane}-${i}`;
              await ledger.append('concurrent', pk, { lane, i });
              keys.push(pk);
            }
          }),
        );
      } finally {
        await Promise.all(ledgers.map((l) => l.close()));
      }
      assert.equal(keys.length, 800);
      await checkLedger(url, keys);
    });

    it('4 separate processes appending at once leave one verified chain', async () => {
      const url = await backend.freshUrl();
      await (await openLedger({ url })).close();
      const results = await Promise.all(['p1', 'p2', 'p3', 'p4'].map((p) => runWorker(url, p, 60)));
      const acked = results.flatMap((r) => r.acked);
      assert.equal(acked.length, 240);
      await checkLedger(url, acked);
    });

    it('appenders killed with SIGKILL lose no acknowledged entry and leave a verifiable ledger', async () => {
      const url = await backend.freshUrl();
      await (await openLedger({ url })).close();
      const acked: string[] = [];
      for (let round = 0; round < 3; round++) {
        const results = await Promise.all(
          ['a', 'b', 'c'].map((p) => runWorker(url, `r${round}${p}`, 100_000, 20 + Math.floor(random() * 200))),
        );
        for (const r of results) {
          assert.ok(r.killed, `the worker was still appending when killed (${replayHint()})`);
          acked.push(...r.acked);
        }
      }
      assert.ok(acked.length > 0, 'something was acknowledged before the kills');
      await checkLedger(url, acked);
      // The ledger keeps working after the crashes.
      const ledger = await openLedger({ url });
      try {
        await ledger.append('after', 'crash', { ok: true });
        assert.equal((await ledger.verify()).ok, true);
      } finally {
        await ledger.close();
      }
    });
  });
}
