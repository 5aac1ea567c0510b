/**
 * The pipeline tables' migrations (component `pipeline`), applied when a recorder is first used on
 * a store. Reads on a database where no pipeline was ever recorded answer "nothing" instead of
 * migrating, so a read-only role can run them.
 */
import { loadMigrations, migrate } from '../store/migrate.js';
import type { Store } from '../store/store.js';

const PIPELINE_MIGRATIONS = new URL('./migrations/', import.meta.url);
const ready = new WeakMap<Store, Promise<void>>();
const installed = new WeakSet<Store>();

export function pipelineMigrations(store: Store) {
  return loadMigrations(PIPELINE_MIGRATIONS, store.dialect);
}

export function ensurePipelineSchema(store: Store): Promise<void> {
  let pending = ready.get(store);
  if (!pending) {
    pending = migrate(store, 'pipeline', pipelineMigrations(store)).then(() => {
      installed.add(store);
    });
    ready.set(store, pending);
    pending.catch(() => {
      if (ready.get(store) === pending) ready.delete(store);
    });
  }
  return pending;
}

export async function pipelineSchemaInstalled(store: Store): Promise<boolean> {
  if (installed.has(store)) return true;
  const rows = await store.query('SELECT version FROM sealtrail_migrations WHERE component = ?', ['pipeline']);
  if (rows.length === 0) return false;
  installed.add(store);
  return true;
}
