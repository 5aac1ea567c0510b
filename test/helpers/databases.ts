/**
 * Real databases for tests: a fresh SQLite file in a temp dir, and a fresh PostgreSQL database
 * per call on the server that `npm test` started (or SEALTRAIL_TEST_PG_URL). Everything made
 * here is removed when the test file ends; databases are named after the `npm test` run
 * (SEALTRAIL_TEST_RUN_ID) so the harness can drop any a crashed test file left behind.
 */
import { after } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';

const tempDirs: string[] = [];
const pgDatabases: string[] = [];
const RUN_ID = /^[0-9a-f]{1,12}$/.test(process.env.SEALTRAIL_TEST_RUN_ID ?? '') ? process.env.SEALTRAIL_TEST_RUN_ID! : randomBytes(3).toString('hex');

// Registered while this module is first evaluated, i.e. on the test file's root: it runs once,
// after every test of the file. (An `after` called inside a test would belong to that test and
// run when it ends, before later tests made their directories and databases.)
after(async () => {
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  const names = pgDatabases.splice(0);
  if (names.length > 0) {
    const admin = new pg.Client({ connectionString: adminUrl() });
    await admin.connect();
    try {
      // A test may have renamed its database away (an outage) and failed before renaming it back.
      for (const name of names) {
        for (const n of [name, `${name}_off`]) await dropDatabase(admin, n);
      }
    } finally {
      await admin.end();
    }
  }
});
/**
 * Drops a test database, waiting a little for this process's own connections to it to go away
 * (a pool just ended closes its sockets asynchronously) before forcing: a forced drop terminates
 * them, and a straggler's "terminating connection" error would fail a file whose tests passed.
 */
async function dropDatabase(admin: pg.Client, name: string): Promise<void> {
  for (let attempt = 0; attempt < 30; attempt++) {
    try {
      await admin.query(`DROP DATABASE IF EXISTS ${name}`);
      return;
    } catch (err) {
      if ((err as { code?: unknown }).code !== '55006') throw err; // 55006: still in use
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
}

process.on('exit', () => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

/** The prefix of every test database this `npm test` run makes. */
export function testDatabasePrefix(): string {
  return `sealtrail_t_${RUN_ID}_`;
}

export function tempDir(prefix = 'sealtrail-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

export function sqliteUrl(name = 'ledger.db'): string {
  return join(tempDir(), name);
}

export function adminUrl(): string {
  const url = process.env.SEALTRAIL_TEST_PG_URL;
  if (!url) throw new Error('SEALTRAIL_TEST_PG_URL is not set: run the tests with `npm test`, which starts PostgreSQL');
  return url;
}

export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

export async function postgresUrl(): Promise<string> {
  const name = `${testDatabasePrefix()}${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl() });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  pgDatabases.push(name);
  return withDatabase(adminUrl(), name);
}

export interface Backend {
  name: 'sqlite' | 'postgres';
  /** A fresh, empty database of this backend. */
  freshUrl(): Promise<string>;
}

export const BACKENDS: Backend[] = [
  { name: 'sqlite', freshUrl: async () => sqliteUrl() },
  { name: 'postgres', freshUrl: () => postgresUrl() },
];
