/** The anchoring tables (component 'anchor'): applied by installAnchoring, or lazily on first use. */
import { redact } from '../core/redact.js';
import { loadMigrations, migrate } from '../store/migrate.js';
import type { Store } from '../store/store.js';
import { sinkKey } from './sinks/sink-key.js';

const ANCHOR_MIGRATIONS = new URL('./migrations/', import.meta.url);
const installed = new WeakSet<Store>();

export function anchorMigrations(store: Store) {
  return loadMigrations(ANCHOR_MIGRATIONS, store.dialect);
}

/** Creates or upgrades the anchoring tables; running it again is harmless. */
export async function installAnchoring(store: Store): Promise<void> {
  if (installed.has(store)) return;
  await migrate(store, 'anchor', anchorMigrations(store));
  await rekeySinks(store);
  installed.add(store);
}

/** Rows written before sink keys were hashed still hold a raw URL (and any token in it): re-key them. */
async function rekeySinks(store: Store): Promise<void> {
  const rows = await store.query<{ sink: string }>('SELECT sink FROM anchor_sinks');
  const raw = rows.filter((r) => sinkKey(r.sink) !== r.sink);
  if (raw.length === 0) return;
  await store.transaction(async (tx) => {
    for (const { sink } of raw) {
      const key = sinkKey(sink);
      const taken = await tx.query<{ sink: string }>('SELECT sink FROM anchor_sinks WHERE sink = ?', [key]);
      if (taken.length > 0) await tx.run('DELETE FROM anchor_sinks WHERE sink = ?', [sink]);
      else await tx.run('UPDATE anchor_sinks SET sink = ?, label = ?, last_error = NULL WHERE sink = ?', [key, redact(sink), sink]);
    }
  });
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
