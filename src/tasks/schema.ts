/**
 * The task tables' migrations, applied lazily on a store's first task operation (service
 * constructors are synchronous). One attempt per store at a time; a failed attempt (say the
 * database was unreachable) is forgotten so the next call tries again.
 */
import { loadMigrations, migrate } from '../store/migrate.js';
import type { Store } from '../store/store.js';

const TASK_MIGRATIONS = new URL('./migrations/', import.meta.url);
const ready = new WeakMap<Store, Promise<void>>();

export function taskMigrations(store: Store) {
  return loadMigrations(TASK_MIGRATIONS, store.dialect);
}

export function ensureTaskSchema(store: Store): Promise<void> {
  let pending = ready.get(store);
  if (!pending) {
    pending = migrate(store, 'tasks', taskMigrations(store)).then(() => undefined);
    ready.set(store, pending);
    pending.catch(() => {
      if (ready.get(store) === pending) ready.delete(store);
    });
  }
  return pending;
}

const installed = new WeakSet<Store>();

/**
 * Whether the task tables exist, without creating them: reads on a database where no task was
 * ever recorded answer "nothing" instead of migrating (a read-only role could not).
 */
export async function taskSchemaInstalled(store: Store): Promise<boolean> {
  if (installed.has(store)) return true;
  const rows = await store.query('SELECT version FROM sealtrail_migrations WHERE component = ?', ['tasks']);
  if (rows.length === 0) return false;
  installed.add(store);
  return true;
}
