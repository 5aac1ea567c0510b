/**
 * Direct database access for the corruption and tamper tests: what an attacker (or a buggy tool)
 * with write access does, bypassing the recorder. The tables' CHECK constraints are the
 * backstop the strict reader must not rely on, so they are switched off first (SQLite:
 * ignore_check_constraints; PostgreSQL: the checks are dropped, as a DBA could).
 */
import Database from 'better-sqlite3';
import pg from 'pg';

export async function tamper(url: string, sql: string, params: unknown[] = []): Promise<number> {
  if (url.startsWith('postgres')) {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const table = /(?:UPDATE|INTO|FROM)\s+(pipeline_\w+)/i.exec(sql)?.[1];
      if (table) {
        const { rows } = await client.query<{ conname: string }>(`SELECT conname FROM pg_constraint WHERE conrelid = $1::regclass AND contype = 'c'`, [table]);
        for (const r of rows) await client.query(`ALTER TABLE ${table} DROP CONSTRAINT ${r.conname}`);
      }
      let i = 0;
      const result = await client.query(sql.replace(/\?/g, () => `$${++i}`), params);
      return result.rowCount ?? 0;
    } finally {
      await client.end();
    }
  }
  const db = new Database(url);
  try {
    db.pragma('ignore_check_constraints = ON');
    db.pragma('foreign_keys = OFF');
    return db.prepare(sql).run(...(params as never[])).changes;
  } finally {
    db.close();
  }
}

/** Drops an index (the partial unique index behind "one terminal outcome per token"). */
export async function dropIndex(url: string, name: string): Promise<void> {
  await tamper(url, `DROP INDEX ${name}`);
}
