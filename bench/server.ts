/**
 * `npm run bench -- server`: POST /api/events with 32 concurrent keep-alive clients, as a ratio of
 * 32 concurrent in-process `append` calls on the same database. The server runs as `sealtrail
 * serve` in its own process, as it does in production (the clients stand in for other machines).
 * SQLite always; PostgreSQL too when SEALTRAIL_BENCH_PG_URL (an admin URL) is set.
 * SEALTRAIL_BENCH_SCALE (e.g. 0.2) shrinks the run.
 */
import { spawn } from 'node:child_process';
import http from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { openLedger } from '../src/ledger/ledger.js';
import { createToken } from '../src/server/api-tokens.js';
import type { Report } from './run.js';
import { round, timeAsync } from './util.js';

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

async function startServe(db: string, dir: string): Promise<{ address: string; stop: () => Promise<void> }> {
  // The default rate limit (6000 a minute per token) would throttle the load being measured.
  const config = join(dir, 'sealtrail.config.json');
  writeFileSync(config, JSON.stringify({ server: { rateLimit: 10_000_000 } }));
  const child = spawn(process.execPath, ['--import', 'tsx', mainTs, 'serve', '--db', db, '--port', '0', '--config', config], {
    env: { PATH: process.env['PATH'] ?? '' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const address = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stderr }).on('line', (line) => {
      const m = /serving (http:\/\/\S+)/.exec(line);
      if (m) resolve(m[1]!);
    });
    child.on('exit', () => reject(new Error('sealtrail serve exited before listening')));
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

export default async function bench(report: Report): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'sealtrail-bench-server-'));
  try {
    await run(report, 'sqlite', join(dir, 'server.db'), dir);
    const admin = process.env['SEALTRAIL_BENCH_PG_URL'];
    if (admin) await run(report, 'postgres', await freshPg(admin), dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
