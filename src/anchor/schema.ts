/** The anchoring tables (component 'anchor'): applied by installAnchoring, or lazily on first use. */
import { loadMigrations, migrate } from '../store/migrate.js';
import type { Store } from '../store/store.js';

const ANCHOR_MIGRATIONS = new URL('./migrations/', import.meta.url);
const installed = new WeakSet<Store>();

export function anchorMigrations(store: Store) {
  return loadMigrations(ANCHOR_MIGRATIONS, store.dialect);
}

/** Creates or upgrades the anchoring tables; running it again is harmless. */
export async function installAnchoring(store: Store): Promise<void> {
  if (installed.has(store)) return;
  await migrate(store, 'anchor', anchorMigrations(store));
  installed.add(store);
}

/** JSON columns come back parsed on PostgreSQL (JSONB) and as text on SQLite. */
export function jsonColumn<T>(value: unknown, fallback: T): T {
  if (value === null || value === undefined) return fallback;
  if (typeof value === 'string') {
    try {
      return JSON.parse(value) as T;
    } catch {
      return fallback;
    }
  }
  return value as T;
}

/** Timestamps come back as Date on PostgreSQL and ISO text on SQLite. */
export function isoColumn(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  return value instanceof Date ? value.toISOString() : String(value);
}
