/**
 * `npm run bench -- tiles`: publishing the ledger as C2SP tlog-tiles, as ratios against a bare
 * pass over the same entries through the ledger API (what publishing must read anyway), in one
 * run: a full export to a directory, an incremental one after 1% more entries (entries read and
 * files written per new entry), and the same full publish to an S3-compatible server (s3rver on
 * loopback). SQLite; SEALTRAIL_BENCH_SCALE scales the size (default 100,000 entries).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ledgerLeaves } from '../src/anchor/publish.js';
import { publishTiles } from '../src/anchor/tiles/publish-tiles.js';
import { S3TileStorage, parseS3Target } from '../src/anchor/tiles/s3-tile-storage.js';
import { FileTileStorage } from '../src/anchor/tiles/tile-storage.js';
import { NoteSigner, generateSignerKey } from '../src/core/note.js';
import { openLedger, type CheckpointRecord, type Ledger } from '../src/ledger/ledger.js';
import { S3_CREDENTIALS, startS3 } from '../test/helpers/s3-server.js';
import type { Report } from './run.js';
import { round, timeAsync } from './util.js';

const SCALE = Number(process.env.SEALTRAIL_BENCH_SCALE ?? '1');
const SIZE = Math.max(2000, Math.round(100_000 * SCALE));

function record(cp: CheckpointRecord) {
  return { checkpointId: cp.id, origin: cp.origin, seq: cp.size, chainHash: cp.chainHash, root: cp.root, note: cp.note };
}

async function append(ledger: Ledger, from: number, count: number): Promise<void> {
  for (let done = 0; done < count; done += 5000) {
    const n = Math.min(5000, count - done);
    await ledger.appendBatch(Array.from({ length: n }, (_, i) => ({ kind: 'task', pk: `t-${from + done + i}`, payload: { i: from + done + i, op: 'repo_write', files: ['src/a.ts'] } })));
  }
}

export default async function bench(report: Report): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'sealtrail-bench-tiles-'));
  const signer = NoteSigner.fromKey(generateSignerKey('bench.example/tiles').signerKey);
  const ledger = await openLedger({ url: join(dir, 'ledger.db') });
  try {
    await append(ledger, 0, SIZE);
    const cp = await ledger.checkpoint(signer);
    const read = await timeAsync(async () => {
      for await (const _ of ledgerLeaves(ledger, 1, SIZE)) void _;
    });
    const out = join(dir, 'tiles');
    let full = await publishTiles(new FileTileStorage(out), record(cp), (f, t) => ledgerLeaves(ledger, f, t));
    const fullTime = await timeAsync(async () => {
      full = await publishTiles(new FileTileStorage(join(dir, 'tiles-2')), record(cp), (f, t) => ledgerLeaves(ledger, f, t));
    });
    report({ name: 'file full export', entries: SIZE, files: full.written.length, seconds: round(fullTime), ratio_vs_read_pass: round(read / fullTime), entries_per_s: Math.round(SIZE / fullTime) });

    const more = Math.max(100, Math.round(SIZE / 100));
    await append(ledger, SIZE, more);
    const cp2 = await ledger.checkpoint(signer);
    let inc = full;
    const incTime = await timeAsync(async () => {
      inc = await publishTiles(new FileTileStorage(out), record(cp2), (f, t) => ledgerLeaves(ledger, f, t));
    });
    report({
      name: 'file incremental export',
      mode: inc.mode,
      new_entries: more,
      files: inc.written.length,
      files_per_new_entry: round(inc.written.length / more, 4),
      ratio_vs_full: round(incTime / fullTime, 4),
    });

    Object.assign(process.env, S3_CREDENTIALS);
    const s3 = await startS3('bench-tiles');
    try {
      const target = `s3://bench-tiles/p?endpoint=${s3.endpoint}`;
      let s3Result = full;
      const s3Time = await timeAsync(async () => {
        s3Result = await publishTiles(new S3TileStorage(parseS3Target(target), `tiles:${target}`), record(cp), (f, t) => ledgerLeaves(ledger, f, t));
      });
      report({ name: 's3 full publish (s3rver, loopback)', entries: SIZE, objects: s3Result.written.length, ratio_vs_file: round(fullTime / s3Time), objects_per_s: Math.round(s3Result.written.length / s3Time) });
    } finally {
      await s3.close();
    }
  } finally {
    await ledger.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
