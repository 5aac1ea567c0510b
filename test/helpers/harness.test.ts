/**
 * `npm test` cleans up after test files that could not: a file killed mid-way leaves a temp
 * directory and a database, and the run removes both, fails, and names what was left.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { adminUrl, tempDir } from './databases.js';

const HARNESS = fileURLToPath(new URL('../../scripts/run-tests.mjs', import.meta.url));
const FIXTURE = fileURLToPath(new URL('./fixtures/crashes-mid-file.ts', import.meta.url));

test('a run whose test file crashed removes its temp files and databases, and fails naming the leak', async () => {
  const reportFile = join(tempDir(), 'report');
  const { NODE_TEST_CONTEXT: _, ...env } = process.env;
  const run = spawnSync(process.execPath, [HARNESS, FIXTURE], { env: { ...env, FIXTURE_REPORT: reportFile }, encoding: 'utf8' });
  assert.notEqual(run.status, 0, 'the crashed file fails the run');
  const left = JSON.parse(readFileSync(reportFile, 'utf8').trim()) as { dir: string; db: string; role: string };
  assert.equal(existsSync(left.dir), false, 'the temp directory is gone');
  assert.match(run.stderr, /the tests left 1 entries in their temp directory/);
  const admin = new pg.Client({ connectionString: adminUrl() });
  await admin.connect();
  try {
    assert.deepEqual((await admin.query('SELECT datname FROM pg_database WHERE datname = $1', [left.db])).rows, [], 'the database is dropped');
    // The role goes too, unless another run's test databases still exist on this server.
    const others = (await admin.query("SELECT count(*)::int AS n FROM pg_database WHERE datname LIKE 'sealtrail\\_t\\_%'")).rows[0].n as number;
    const role = (await admin.query('SELECT rolname FROM pg_roles WHERE rolname = $1', [left.role])).rows;
    if (others === 0) assert.deepEqual(role, [], 'the role is dropped');
    else {
      assert.match(run.stderr, new RegExp(`left role\\(s\\) ${left.role}`));
      await admin.query(`DROP ROLE IF EXISTS ${left.role}`);
    }
  } finally {
    await admin.end();
  }
});
