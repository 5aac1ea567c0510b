/**
 * `npm run bench -- server`: POST /api/events with 32 concurrent keep-alive clients, as a ratio of
 * 32 concurrent in-process `append` calls on the same database. The server runs as `sealtrail
 * serve` in its own process, as it does in production (the clients stand in for other machines).
 * SQLite always; PostgreSQL too when SEALTRAIL_BENCH_PG_URL (an admin URL) is set.
 * Then, on a 1,000,000-entry SQLite ledger (scaled by SEALTRAIL_BENCH_SCALE): GET
 * /api/entries/{seq}/proof latency (p50/p99, one client), and full /log/ tile reads per second
 * with 32 keep-alive clients as a ratio of a plain node:http static file server (its own process
 * too) serving the same bytes, exported by `tiles export`.
 * SEALTRAIL_BENCH_SCALE (e.g. 0.2) shrinks the run.
 */
import { spawn } from 'node:child_process';
import http from 'node:http';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { generateSignerKey, NoteSigner } from '../src/core/note.js';
import { encodeTileIndex, tilePath } from '../src/core/tlog-tiles.js';
import { openLedger } from '../src/ledger/ledger.js';
import { createToken } from '../src/server/api-tokens.js';
import type { Report } from './run.js';
import { median, round, timeAsync } from './util.js';

const SCALE = Number(process.env.SEALTRAIL_BENCH_SCALE ?? '1');
const CLIENTS = 32;
const mainTs = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));

function payload(i: number) {
  return { task: `task-${i >> 4}`, agent: 'agent-7', op: i % 3 ? 'repo_write' : 'repo_read', files: [`src/f${i % 97}.ts`], lines: i % 113, at: '2026-11-25T03:00:00.000Z' };
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

async function startServe(db: string, dir: string, server: Record<string, unknown> = {}): Promise<{ address: string; stop: () => Promise<void> }> {
  // The default rate limit (6000 a minute per token) would throttle the load being measured.
  const config = join(dir, 'sealtrail.config.json');
  writeFileSync(config, JSON.stringify({ server: { rateLimit: 10_000_000, ...server } }));
  return startChild(['--import', 'tsx', mainTs, 'serve', '--db', db, '--port', '0', '--config', config], /serving (http:\/\/\S+)/);
}

/** A child node process that prints its address on stderr once listening. */
async function startChild(args: string[], listening: RegExp): Promise<{ address: string; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, args, {
    env: { PATH: process.env['PATH'] ?? '' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const address = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stderr }).on('line', (line) => {
      const m = listening.exec(line);
      if (m) resolve(m[1]!);
    });
    child.on('exit', () => reject(new Error(`node ${args.slice(0, 3).join(' ')} exited before listening`)));
  });
  return {
    address,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

async function run(report: Report, backend: 'sqlite' | 'postgres', db: string, dir: string): Promise<void> {
  const perClient = Math.max(20, Math.round((backend === 'sqlite' ? 150 : 300) * SCALE));
  const total = CLIENTS * perClient;

  // Baseline: 32 concurrent appenders in this process.
  const ledger = await openLedger({ url: db });
  const { token } = await createToken(ledger, { role: 'writer', name: 'bench' });
  const inProcess = await timeAsync(async () => {
    await Promise.all(
      Array.from({ length: CLIENTS }, async (_, c) => {
        for (let i = 0; i < perClient; i++) await ledger.append('bench-lib', `${c}-${i}`, payload(c * perClient + i));
      }),
    );
  });
  await ledger.close();

  // The same load through HTTP: 32 clients, each on its own kept-alive connection, one request at a time.
  // node:http with a keep-alive agent: undici's fetch costs several times more client CPU per
  // request, which on a small machine would be measured as server time.
  const server = await startServe(db, dir);
  const agent = new http.Agent({ keepAlive: true, maxSockets: CLIENTS });
  const post = (body: string) =>
    new Promise<number>((resolve, reject) => {
      const req = http.request(`${server.address}/api/events`, {
        method: 'POST',
        agent,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      });
      req.on('response', (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      req.end(body);
    });
  let failures = 0;
  // Warm-up outside the timing: the first requests of a process compile schemas and serializers.
  for (let i = 0; i < CLIENTS; i++) await post(JSON.stringify({ kind: 'bench-warmup', pk: String(i), payload: payload(i) }));
  const overHttp = await timeAsync(async () => {
    await Promise.all(
      Array.from({ length: CLIENTS }, async (_, c) => {
        for (let i = 0; i < perClient; i++) {
          const status = await post(JSON.stringify({ kind: 'bench-http', pk: `${c}-${i}`, payload: payload(c * perClient + i) }));
          if (status !== 201) failures += 1;
        }
      }),
    );
  });
  agent.destroy();
  await server.stop();

  const check = await openLedger({ url: db, migrate: false });
  const verified = (await check.verify()).ok;
  await check.close();
  report({
    name: `post_events_32_keepalive_clients_${backend}`,
    events: total,
    http_events_per_s: round(total / overHttp, 0),
    in_process_appends_per_s: round(total / inProcess, 0),
    ratio: round(inProcess / overHttp),
    goal: '>= 0.7',
    failures,
    verified,
  });
}

// The static baseline: read the file and send it, with the headers /log/ sends. No caching in
// memory, as a plain static server (and the sealtrail server, which reads the database) does not.
const STATIC_SERVER = `
import http from 'node:http';
import { readFile } from 'node:fs/promises';
import { join, normalize } from 'node:path';
const root = process.argv[process.argv.length - 1];
const server = http.createServer(async (req, res) => {
  const path = normalize(decodeURIComponent(req.url.split('?')[0])).replace(/^\\/log\\//, '');
  try {
    const bytes = await readFile(join(root, path));
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'cache-control': 'public, max-age=31536000, immutable', 'access-control-allow-origin': '*', 'content-length': bytes.length });
    res.end(bytes);
  } catch {
    res.writeHead(404);
    res.end();
  }
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => console.error('static serving http://127.0.0.1:' + server.address().port));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
`;

function getBytes(agent: http.Agent, url: string, headers: Record<string, string> = {}): Promise<{ status: number; bytes: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { agent, headers });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Proof latency and tile reads on a large signed ledger. */
async function logReads(report: Report, dir: string): Promise<void> {
  const n = Math.max(10_000, Math.round(1_000_000 * SCALE));
  const db = join(dir, 'log.db');
  const ledger = await openLedger({ url: db });
  const buildSeconds = await timeAsync(async () => {
    for (let i = 0; i < n; i += 10_000) {
      await ledger.appendBatch(Array.from({ length: Math.min(10_000, n - i) }, (_, j) => ({ kind: 'p', pk: `p${i + j}`, payload: payload(i + j) })));
    }
  });
  const keys = generateSignerKey('bench.example/log');
  await ledger.checkpoint(NoteSigner.fromKey(keys.signerKey));
  const { token } = await createToken(ledger, { role: 'reader', name: 'bench' });
  const size = (await ledger.head()).size - 1;
  // The static copy: every full tile of levels 0 and 1, the bytes the store holds, at its C2SP path.
  const staticDir = join(dir, 'static');
  for (const [level, count] of [[0, Math.floor(size / 256)], [1, Math.floor(size / 65_536)]] as const) {
    for (let index = 0; index < count; index++) {
      const tile = await ledger.store.readTile(level, index);
      const file = join(staticDir, tilePath({ level, index, width: 256 }));
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, tile!.hashes);
    }
  }
  // The in-process baseline: the same kind of proof from the library, no HTTP (the proof, its entry, the checkpoint).
  const libraryTimes: number[] = [];
  for (let k = 0; k < Math.max(500, Math.round(3000 * SCALE)); k++) {
    const seq = 1 + Math.floor(Math.random() * size);
    const start = process.hrtime.bigint();
    await ledger.checkpoints();
    await ledger.proveInclusion(seq, size);
    await ledger.entry(seq);
    libraryTimes.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  await ledger.close();

  const server = await startServe(db, dir, { publicLog: true });
  const agent = new http.Agent({ keepAlive: true, maxSockets: CLIENTS });
  const auth = { authorization: `Bearer ${token}` };
  // Proofs: one client, one request at a time, so each time is one request's latency.
  for (let i = 0; i < 200; i++) await getBytes(agent, `${server.address}/api/entries/${1 + ((i * 7919) % size)}/proof`, auth);
  const times: number[] = [];
  let proofFailures = 0;
  for (let k = 0; k < Math.max(500, Math.round(3000 * SCALE)); k++) {
    const seq = 1 + Math.floor(Math.random() * size);
    const start = process.hrtime.bigint();
    const r = await getBytes(agent, `${server.address}/api/entries/${seq}/proof`, auth);
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
    if (r.status !== 200) proofFailures += 1;
  }
  const sorted = [...times].sort((a, b) => a - b);
  report({
    name: 'get_proof_sqlite',
    ledger_size: size,
    build_entries_per_s: round(size / buildSeconds, 0),
    requests: times.length,
    p50_ms: round(median(times)),
    p99_ms: round(sorted[Math.floor(sorted.length * 0.99)]!),
    goal_p99_ms: '< 5',
    library_p50_ms: round(median(libraryTimes)),
    library_p99_ms: round([...libraryTimes].sort((a, b) => a - b)[Math.floor(libraryTimes.length * 0.99)]!),
    failures: proofFailures,
  });

  // Full tiles: the same random paths from both servers, 32 keep-alive clients.
  const st = await startChild(['--input-type=module', '-e', STATIC_SERVER, staticDir], /static serving (http:\/\/\S+)/);
  const fullLevel0 = Math.floor(size / 256);
  const fullLevel1 = Math.floor(size / 65_536);
  const paths = Array.from({ length: Math.max(3200, Math.round(32_000 * SCALE)) }, (_, i) =>
    i % 16 === 0 && fullLevel1 > 0 ? `/log/tile/1/${encodeTileIndex(i % fullLevel1)}` : `/log/tile/0/${encodeTileIndex(Math.floor(Math.random() * fullLevel0))}`,
  );
  let mismatches = 0;
  for (const p of paths.slice(0, 64)) {
    const [a, b] = await Promise.all([getBytes(agent, `${server.address}${p}`), getBytes(agent, `${st.address}${p}`)]);
    if (a.status !== 200 || b.status !== 200 || !a.bytes.equals(b.bytes)) mismatches += 1;
  }
  const load = async (base: string) => {
    let failures = 0;
    const seconds = await timeAsync(async () => {
      let next = 0;
      await Promise.all(
        Array.from({ length: CLIENTS }, async () => {
          while (next < paths.length) {
            const r = await getBytes(agent, `${base}${paths[next++]!}`);
            if (r.status !== 200) failures += 1;
          }
        }),
      );
    });
    return { perSecond: paths.length / seconds, failures };
  };
  // Warm both, then alternate so neither profits from the order.
  await load(st.address);
  await load(server.address);
  const staticRuns: number[] = [];
  const sealtrailRuns: number[] = [];
  let failures = 0;
  for (let round_ = 0; round_ < 3; round_++) {
    const a = await load(st.address);
    const b = await load(server.address);
    staticRuns.push(a.perSecond);
    sealtrailRuns.push(b.perSecond);
    failures += a.failures + b.failures;
  }
  agent.destroy();
  await st.stop();
  await server.stop();
  report({
    name: 'full_tile_reads_32_keepalive_clients_sqlite',
    ledger_size: size,
    reads: paths.length,
    sealtrail_reads_per_s: round(median(sealtrailRuns), 0),
    static_reads_per_s: round(median(staticRuns), 0),
    ratio: round(median(sealtrailRuns) / median(staticRuns)),
    goal: '>= 0.8',
    mismatches,
    failures,
  });
}

export default async function bench(report: Report): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'sealtrail-bench-server-'));
  try {
    const only = process.env['SEALTRAIL_BENCH_ONLY'];
    if (only !== 'log') {
      await run(report, 'sqlite', join(dir, 'server.db'), dir);
      const admin = process.env['SEALTRAIL_BENCH_PG_URL'];
      if (admin) await run(report, 'postgres', await freshPg(admin), dir);
    }
    await logReads(report, dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
