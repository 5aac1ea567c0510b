/**
 * The test helpers and the harness leave nothing behind: every temp directory and test database
 * made by any test of a file is gone once the file ends (not just those of its first test), and
 * the test files of the repository follow the rules that keep runs replayable.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { adminUrl, tempDir } from './databases.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/makes-temp-state.ts', import.meta.url));
const TEST_ROOT = fileURLToPath(new URL('..', import.meta.url));

test('every temp directory and database a test file made is removed when the file ends', async () => {
  const reportFile = join(tempDir(), 'report');
  // A test runner of its own, not a child reporting to this one.
  const { NODE_TEST_CONTEXT: _, ...env } = process.env;
  const run = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=dot', FIXTURE], {
    env: { ...env, FIXTURE_REPORT: reportFile },
    encoding: 'utf8',
  });
  assert.equal(run.status, 0, run.stdout + run.stderr);
  const lines = readFileSync(reportFile, 'utf8').trim().split('\n');
  const made = (kind: string) => lines.filter((l) => l.startsWith(`${kind} `)).map((l) => l.slice(kind.length + 1));
  assert.equal(made('dir').length, 3);
  assert.equal(made('db').length, 3);
  for (const path of [...made('dir'), ...made('file')]) assert.equal(existsSync(path), false, `${path} was left behind`);
  const admin = new pg.Client({ connectionString: adminUrl() });
  await admin.connect();
  try {
    const left = await admin.query('SELECT datname FROM pg_database WHERE datname = ANY($1)', [made('db')]);
    assert.deepEqual(left.rows, [], 'test databases were left behind');
  } finally {
    await admin.end();
  }
});

function testSources(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) testSources(path, out);
    else if (path.endsWith('.ts')) out.push(path);
  }
  return out;
}

test('randomised tests are replayable: fast-check runs on the printed seed, and nothing uses Math.random', () => {
  const offenders: string[] = [];
  for (const file of testSources(TEST_ROOT)) {
    const text = readFileSync(file, 'utf8');
    const rel = file.slice(TEST_ROOT.length);
    if (/^import [^;]* from 'fast-check';/m.test(text) && !/^import '(\.\.\/)+helpers\/replay\.js';/m.test(text) && !rel.endsWith('helpers/replay.ts')) {
      offenders.push(`${rel}: uses fast-check without importing helpers/replay.js (its seed)`);
    }
    if (/Math\.random\s*\(/.test(text.replace(/\/\/.*$|\/\*[\s\S]*?\*\//gm, ''))) offenders.push(`${rel}: calls Math.random; use seededRandom() or an arbitrary`);
  }
  assert.deepEqual(offenders, []);
});
