/**
 * `npm run bench -- explorer`: what the web explorer's entries view waits for on a large ledger
 * (default 1,000,000 entries; SEALTRAIL_BENCH_SCALE shrinks it): the first page (50 rows) of
 * GET /api/entries over loopback, oldest first, newest first, and filtered by a rare kind and by
 * a time range, each as a ratio of reading the same rows in process with ledger.entries.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openLedger } from '../src/ledger/ledger.js';
import { createToken } from '../src/server/api-tokens.js';
import { createServer } from '../src/server/server.js';
import type { Report } from './run.js';
import { median, round, timeAsync } from './util.js';

const SCALE = Number(process.env.SEALTRAIL_BENCH_SCALE ?? '1');
const SIZE = Math.max(10_000, Math.round(1_000_000 * SCALE));
const BATCH = 10_000;

export default async function bench(report: Report): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'sealtrail-bench-explorer-'));
  try {
    const db = join(dir, 'ledger.db');
    const ledger = await openLedger({ url: db });
    const seeded = await timeAsync(async () => {
      for (let at = 0; at < SIZE; at += BATCH) {
        const n = Math.min(BATCH, SIZE - at);
        await ledger.appendBatch(Array.from({ length: n }, (_, i) => ({ kind: (at + i) % 1000 === 999 ? 'rare' : 'order', pk: `o-${at + i}`, payload: { i: at + i, total: (at + i) % 977 } })));
      }
    });
    const { token } = await createToken(ledger, { role: 'reader', name: 'bench' });
    const server = await createServer({ ledger, logger: false, webRoot: false, rateLimitMax: 1_000_000 });
    const base = await server.app.listen({ port: 0, host: '127.0.0.1' });
    try {
      const middle = (await ledger.entry(Math.floor(SIZE / 2)))!.appendedAt;
      const cases: Array<[string, string]> = [
        ['first page, oldest first', '/api/entries?limit=50'],
        ['first page, newest first', '/api/entries?order=desc&limit=50'],
        ['first page, kind=rare (1 in 1000)', '/api/entries?kind=rare&limit=50'],
        ['first page, since the middle', `/api/entries?since=${encodeURIComponent(middle)}&limit=50`],
      ];
      const reads: number[] = [];
      for (let i = 0; i < 5; i++) {
        reads.push(
          await timeAsync(async () => {
            for await (const _ of ledger.entries(1, 50)) void _;
          }),
        );
      }
      const inProcess = median(reads);
      report({ name: 'seed', entries: SIZE, seconds: round(seeded, 1) });
      for (const [name, path] of cases) {
        const times: number[] = [];
        for (let i = 0; i < 5; i++) {
          times.push(
            await timeAsync(async () => {
              const res = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${token}` } });
              if (res.status !== 200) throw new Error(`${path}: ${res.status}`);
              const rows = (await res.json()) as unknown[];
              if (rows.length !== 50) throw new Error(`${path}: ${rows.length} rows`);
            }),
          );
        }
        const ms = median(times); // seconds
        report({ name, entries: SIZE, ms: round(ms * 1000, 1), vsInProcessRead: round(ms / inProcess, 1) });
      }
    } finally {
      await server.close();
      await ledger.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
