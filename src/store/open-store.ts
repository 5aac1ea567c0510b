/** Picks the backend from the database URL: `postgres://` / `postgresql://` or a SQLite file path. */
import { SealtrailError } from '../core/errors.js';
import { openPostgresStore } from './postgres/postgres-store.js';
import { openSqliteStore } from './sqlite/sqlite-store.js';
import type { Store } from './store.js';

export interface OpenStoreOptions {
  /** SQLite: open read-only (the file must exist). */
  readonly?: boolean;
  /** SQLite: refuse to create the file (openers that expect an existing ledger). */
  mustExist?: boolean;
  /** PostgreSQL: connections in the pool. */
  poolSize?: number;
}

export function isPostgresUrl(url: string): boolean {
  return /^postgres(ql)?:\/\//i.test(url);
}

export function openStore(url: string, options: OpenStoreOptions = {}): Store {
  if (typeof url !== 'string' || url.trim() === '') {
    throw new SealtrailError('unsupported_database_url', 'no database given: pass a SQLite file path or a postgres:// URL');
  }
  if (isPostgresUrl(url)) return openPostgresStore(url, options);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) {
    throw new SealtrailError('unsupported_database_url', `unsupported database URL scheme in ${url.replace(/\/\/[^@/]*@/, '//***@')}: use a SQLite file path or postgres://`);
  }
  const path = url.startsWith('sqlite:') ? url.slice('sqlite:'.length) : url;
  return openSqliteStore(path, options);
}
