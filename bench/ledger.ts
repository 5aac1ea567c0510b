/**
 * `npm run bench -- ledger`: the ledger's speed as ratios against baselines measured in the
 * same run. SQLite always; PostgreSQL when SEALTRAIL_BENCH_PG_URL (an admin URL) is set.
 * Sizes can be scaled down with SEALTRAIL_BENCH_SCALE (e.g. 0.1) for a quick look.
 */
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import pg from 'pg';
import { openLedger } from '../src/ledger/ledger.js';
import { canonicalize } from '../src/core/canonical-json.js';
import type { Report } from './run.js';
import { median, round, timeAsync, timeSync } from './util.js';

const SCALE = Number(process.env.SEALTRAIL_BENCH_SCALE ?? '1');
const scaled = (n: number) => Math.max(1000, Math.round(n * SCALE));
const ROOT = fileURLToPath(new URL('..', import.meta.url));

function payload(i: number) {
  return { task: `task-${i >> 4}`, agent: 'agent-7', op: i % 3 ? 'repo_write' : 'repo_read', files: [`src/f${i % 97}.ts`], lines: i % 113, at: '2026-11-25T03:00:00.000Z' };
}

/** SEALTRAIL_BENCH_ONLY=append,jsonl,verify,proofs runs a subset. */
const ONLY = process.env.SEALTRAIL_BENCH_ONLY?.split(',');
const wanted = (name: string) => !ONLY || ONLY.includes(name);

export default async function bench(report: Report): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'sealtrail-bench-'));
  try {
    if (wanted('append')) {
      await concurrentAppend(report, 'sqlite', () => join(dir, `c-${Math.random()}.db`));
      if (process.env.SEALTRAIL_BENCH_PG_URL) {
        const admin = process.env.SEALTRAIL_BENCH_PG_URL;
        await concurrentAppend(report, 'postgres', async () => freshPg(admin));
      }
    }
    if (wanted('jsonl')) await jsonlImport(report, dir);
    if (wanted('verify')) await verification(report, dir);
    if (wanted('proofs')) await inclusionProofs(report, dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function freshPg(admin: string): Promise<string> {
  const name = `sealtrail_bench_${Date.now()}_${Math.floor(Math.random() * 1e6)}`;
  const c = new pg.Client({ connectionString: admin });
  await c.connect();
  await c.query(`CREATE DATABASE ${name}`);
  await c.end();
  const u = new URL(admin);
  u.pathname = `/${name}`;
  return u.toString();
}

/** 32 concurrent appenders, each awaiting durability, vs 32 writers of plain single-row INSERT transactions. */
async function concurrentAppend(report: Report, backend: 'sqlite' | 'postgres', freshUrl: () => string | Promise<string>): Promise<void> {
  const writers = 32;
  const total = backend === 'sqlite' ? scaled(6_000) : scaled(20_000);
  const perWriter = Math.floor(total / writers);
  const rows = Array.from({ length: writers * perWriter }, (_, i) => ({ kind: 'bench', pk: `e${i}`, text: canonicalize(payload(i)) }));

  // Baseline: the same rows, same durability, no chain.
  const baseUrl = await freshUrl();
  let baselineSeconds: number;
  if (backend === 'sqlite') {
    const db = new Database(baseUrl);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.exec('CREATE TABLE plain (id INTEGER PRIMARY KEY, event_kind TEXT NOT NULL, event_pk TEXT NOT NULL, payload TEXT, appended_at TEXT NOT NULL, UNIQUE (event_kind, event_pk))');
    const insert = db.prepare('INSERT INTO plain (event_kind, event_pk, payload, appended_at) VALUES (?, ?, ?, ?)');
    // One connection, as our SQLite ledger has; each writer's INSERT commits on its own.
    baselineSeconds = await timeAsync(async () => {
      await Promise.all(
        Array.from({ length: writers }, async (_, w) => {
          for (let i = w; i < rows.length; i += writers) {
            const r = rows[i]!;
            insert.run(r.kind, r.pk, r.text, new Date().toISOString());
            await Promise.resolve();
          }
        }),
      );
    });
    db.close();
  } else {
    const pool = new pg.Pool({ connectionString: baseUrl, max: writers });
    await pool.query('CREATE TABLE plain (id BIGSERIAL PRIMARY KEY, event_kind TEXT NOT NULL, event_pk TEXT NOT NULL, payload TEXT, appended_at TIMESTAMPTZ NOT NULL, UNIQUE (event_kind, event_pk))');
    baselineSeconds = await timeAsync(async () => {
      await Promise.all(
        Array.from({ length: writers }, async (_, w) => {
          for (let i = w; i < rows.length; i += writers) {
            const r = rows[i]!;
            await pool.query('INSERT INTO plain (event_kind, event_pk, payload, appended_at) VALUES ($1, $2, $3, now())', [r.kind, r.pk, r.text]);
          }
        }),
      );
    });
    await pool.end();
  }

  const ledger = await openLedger({ url: await freshUrl(), poolSize: 4 });
  const seconds = await timeAsync(async () => {
    await Promise.all(
      Array.from({ length: writers }, async (_, w) => {
        for (let i = w; i < rows.length; i += writers) await ledger.append('bench', `e${i}`, payload(i));
      }),
    );
  });
  const ok = (await ledger.verify()).ok;
  await ledger.close();
  report({
    name: `durable_append_32_concurrent_${backend}`,
    entries: rows.length,
    appends_per_s: round(rows.length / seconds, 0),
    baseline_plain_inserts_per_s: round(rows.length / baselineSeconds, 0),
    ratio: round(baselineSeconds / seconds),
    goal: 0.8,
    verified: ok,
  });
}

/** `sealtrail append --jsonl` of 200,000 events vs raw batched inserts of the same rows. */
async function jsonlImport(report: Report, dir: string): Promise<void> {
  const n = scaled(200_000);
  const file = join(dir, 'events.jsonl');
  writeFileSync(file, Array.from({ length: n }, (_, i) => JSON.stringify({ kind: 'import', pk: `i${i}`, payload: payload(i) })).join('\n') + '\n');

  const baselineScript = `
    const Database = require('better-sqlite3'); const fs = require('node:fs');
    const db = new Database(process.argv[1]); db.pragma('journal_mode = WAL'); db.pragma('synchronous = FULL');
    db.exec('CREATE TABLE plain (seq INTEGER PRIMARY KEY, event_kind TEXT NOT NULL, event_pk TEXT NOT NULL, payload TEXT, appended_at TEXT NOT NULL, UNIQUE (event_kind, event_pk))');
    const ins = db.prepare('INSERT INTO plain (event_kind, event_pk, payload, appended_at) VALUES (?, ?, ?, ?)');
    const lines = fs.readFileSync(process.argv[2], 'utf8').split('\\n');
    let batch = [];
    const flush = db.transaction((rows) => { for (const r of rows) ins.run(r.kind, r.pk, JSON.stringify(r.payload), new Date().toISOString()); });
    for (const l of lines) { if (!l) continue; batch.push(JSON.parse(l)); if (batch.length === 5000) { flush(batch); batch = []; } }
    flush(batch);`;
  const baseDb = join(dir, 'jsonl-baseline.db');
  const baselineSeconds = timeSync(() => {
    const r = spawnSync(process.execPath, ['-e', baselineScript, baseDb, file], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
    if (r.status !== 0) throw new Error('baseline import failed');
  });
  const db = join(dir, 'jsonl-ledger.db');
  // The installed command (dist/, built by `npm ci`), as operators run it.
  const cli = join(ROOT, 'dist/cli/main.js');
  if (!existsSync(cli)) throw new Error('dist/ is missing: run `npm run build` first');
  // Untimed first: the same import with a write counter preloaded (rows its statements change,
  // bytes the process wrote), so the timed run below carries no instrumentation.
  const counted = (args: string[]) => {
    const ioFile = join(dir, `io-${Math.random()}.json`);
    const r = spawnSync(process.execPath, ['--import', pathToFileURL(join(ROOT, 'bench/write-counter.mjs')).href, ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, SEALTRAIL_BENCH_IO: ioFile },
    });
    if (r.status !== 0) throw new Error(`counted run of ${args.slice(0, 2).join(' ')} failed`);
    return JSON.parse(readFileSync(ioFile, 'utf8')) as { rows: number; io: Record<string, number | undefined> };
  };
  const ledgerCounted = counted([cli, 'append', '--db', join(dir, 'jsonl-counted.db'), '--jsonl', file]);
  const baseCounted = counted(['-e', baselineScript, join(dir, 'jsonl-baseline-counted.db'), file]);
  const seconds = timeSync(() => {
    const r = spawnSync(process.execPath, [cli, 'append', '--db', db, '--jsonl', file], {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    if (r.status !== 0) throw new Error('sealtrail append --jsonl failed');
  });
  const perEntry = (x: number | undefined) => (x === undefined ? null : round(x / n, 1));
  report({
    name: 'append_jsonl_sqlite',
    entries: n,
    entries_per_s: round(n / seconds, 0),
    baseline_raw_inserts_per_s: round(n / baselineSeconds, 0),
    ratio: round(baselineSeconds / seconds),
    bar: 0.3,
    goal: 0.8,
    // Rows the import's SQL statements changed (chain rows, Merkle storage, head), per entry; the baseline writes one.
    rows_written_per_entry: round(ledgerCounted.rows / n, 3),
    baseline_rows_written_per_entry: round(baseCounted.rows / n, 3),
    // Bytes the process wrote (write(2) calls: WAL, checkpoints, database file), per entry.
    bytes_written_per_entry: perEntry(ledgerCounted.io.wchar),
    baseline_bytes_written_per_entry: perEntry(baseCounted.io.wchar),
    bytes_to_storage_per_entry: perEntry(ledgerCounted.io.write_bytes),
  });
}

/** Full client-side verification vs a bare loop computing event hash + chain hash for the same entries. */
async function verification(report: Report, dir: string): Promise<void> {
  const n = scaled(200_000);
  const url = join(dir, 'verify.db');
  const ledger = await openLedger({ url });
  for (let i = 0; i < n; i += 10_000) {
    await ledger.appendBatch(Array.from({ length: Math.min(10_000, n - i) }, (_, j) => ({ kind: 'v', pk: `v${i + j}`, payload: payload(i + j) })));
  }
  const payloads: string[] = [];
  for await (const e of ledger.entries()) payloads.push(e.payload!);
  // Median of three, like the measured runs, so one noisy pass does not skew the ratio.
  const baselineRuns: number[] = [];
  for (let r = 0; r < 3; r++) {
    baselineRuns.push(
      timeSync(() => {
        let prev: Buffer = Buffer.alloc(32);
        const seqBuf = Buffer.alloc(8);
        for (let i = 0; i < payloads.length; i++) {
          const ev = createHash('sha256').update(payloads[i]!).digest();
          seqBuf.writeBigUInt64BE(BigInt(i + 1));
          prev = createHash('sha256').update(prev).update(ev).update(seqBuf).digest();
        }
      }),
    );
  }
  const baselineSeconds = median(baselineRuns);
  await ledger.close();
  // The built package, as operators run it: its verification workers load compiled JS, not TypeScript.
  const built = join(ROOT, 'dist/index.js');
  if (!existsSync(built)) throw new Error('dist/ is missing: run `npm run build` first');
  const { openLedger: openBuilt } = (await import(pathToFileURL(built).href)) as { openLedger: typeof openLedger };
  const verifier = await openBuilt({ url, migrate: false });
  const runs: number[] = [];
  let ok = true;
  for (let r = 0; r < 3; r++) {
    runs.push(
      await timeAsync(async () => {
        ok = (await verifier.verify()).ok && ok;
      }),
    );
  }
  const seconds = median(runs);
  report({
    name: 'verify_sqlite',
    entries: n,
    entries_per_s: round(n / seconds, 0),
    baseline_hash_loop_per_s: round(n / baselineSeconds, 0),
    ratio: round(baselineSeconds / seconds),
    bar: 1.0,
    goal: 2.0,
    verified: ok,
  });

  // Incremental: the last 1% from the trusted state a monitor keeps (what an earlier pass
  // recomputed, frontier included), with skipPrefix, against the full pass above.
  const trustedSize = n - Math.max(1, Math.round(n / 100));
  const earlier = await verifier.verify({ to: trustedSize });
  const trusted = { size: earlier.size, chainHash: earlier.chainHash, root: earlier.root!, frontier: earlier.frontier! };
  const incRuns: number[] = [];
  let incOk = earlier.ok;
  for (let r = 0; r < 5; r++) {
    incRuns.push(
      await timeAsync(async () => {
        const rep = await verifier.verify({ trusted, skipPrefix: true });
        incOk = rep.ok && rep.checked === n - trustedSize && incOk;
      }),
    );
  }
  await verifier.close();
  const incSeconds = median(incRuns);
  report({
    name: 'verify_incremental_last_1pct_sqlite',
    entries: n,
    new_entries: n - trustedSize,
    median_ms: round(incSeconds * 1000),
    full_verify_ms: round(seconds * 1000),
    // Cost relative to the full pass; O(new entries) puts it near new_entries / entries (0.01) plus a fixed start-up.
    cost_vs_full: round(incSeconds / seconds, 4),
    verified: incOk,
  });
}

/** Inclusion proofs from a 1,000,000-entry ledger: O(log n) stored nodes read per proof. */
async function inclusionProofs(report: Report, dir: string): Promise<void> {
  const n = scaled(1_000_000);
  const url = join(dir, 'proofs.db');
  const ledger = await openLedger({ url });
  const buildSeconds = await timeAsync(async () => {
    for (let i = 0; i < n; i += 10_000) {
      await ledger.appendBatch(Array.from({ length: Math.min(10_000, n - i) }, (_, j) => ({ kind: 'p', pk: `p${i + j}`, payload: { i: i + j } })));
    }
  });
  const times: number[] = [];
  for (let k = 0; k < 500; k++) {
    const seq = 1 + Math.floor(Math.random() * n);
    const start = process.hrtime.bigint();
    await ledger.proveInclusion(seq);
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  await ledger.close();
  report({
    name: 'inclusion_proof_sqlite',
    ledger_size: n,
    build_entries_per_s: round(n / buildSeconds, 0),
    median_ms: round(median(times)),
    p99_ms: round([...times].sort((a, b) => a - b)[Math.floor(times.length * 0.99)]!),
    goal_median_ms: 2,
  });
}
