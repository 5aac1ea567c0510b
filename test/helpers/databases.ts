/**
 * Real databases for tests: a fresh SQLite file in a temp dir, and a fresh PostgreSQL database
 * per call on the server that `npm test` started (or SEALTRAIL_TEST_PG_URL). Everything made
 * here is removed when the test file ends.
 */
import { after } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';

const tempDirs: string[] = [];
const pgDatabases: string[] = [];
let cleanupRegistered = false;

function registerCleanup(): void {
  if (cleanupRegistered) return;
  cleanupRegistered = true;
  after(async () => {
    for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
    if (pgDatabases.length > 0) {
      const admin = new pg.Client({ connectionString: adminUrl() });
      await admin.connect();
      try {
        for (const name of pgDatabases) await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await admin.end();
      }
    }
  });
}

export function tempDir(prefix = 'sealtrail-test-'): string {
  registerCleanup();
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
  registerCleanup();
  const name = `sealtrail_t_${randomBytes(6).toString('hex')}`;
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
