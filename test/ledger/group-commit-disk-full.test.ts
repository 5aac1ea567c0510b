/**
 * Group commit on SQLite when the disk fills up. SQLITE_FULL makes SQLite roll the whole
 * transaction back by itself, after which the connection is in autocommit: a ledger that carried
 * on would commit rows and a head one statement at a time. Two real sources of SQLITE_FULL: a
 * database capped with PRAGMA max_page_count (runs everywhere), and a full tmpfs (needs the right
 * to mount, e.g. root; skipped otherwise).
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmdirSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isSealtrailError } from '../../src/core/errors.js';
import { openLedger, type AppendResult, type Ledger } from '../../src/ledger/ledger.js';
import type { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { Tx } from '../../src/store/store.js';
import { sqliteUrl } from '../helpers/databases.js';
import { appendGroup, assertConsistent, DOMAIN_TABLE, domainIds, type Outcome } from './group-commit-helpers.js';

const PAD = 'x'.repeat(200_000);

function db(ledger: Ledger) {
  return (ledger.store as SqliteStore).db;
}

/** Caps the database a few pages above its size: the next large write gets a real SQLITE_FULL. */
function capDatabase(ledger: Ledger): void {
  const pages = db(ledger).pragma('page_count', { simple: true }) as number;
  db(ledger).pragma(`max_page_count = ${pages + 4}`);
}

function uncap(ledger: Ledger): void {
  db(ledger).pragma('max_page_count = 1073741823');
}

function assertRolledBack(outcomes: Outcome[]): void {
  for (const o of outcomes) {
    assert.equal(o.ok, false, 'no caller of the failed group is told its entry is durable');
    if (o.ok) continue;
    assert.ok(isSealtrailError(o.error, 'database_error'), `database_error, got ${String(o.error)}`);
    assert.equal(o.error.details?.rolledBack, true, 'the automatic rollback is detected and reported');
    assert.match(o.error.message, /full/);
  }
}

describe('group commit on SQLite with a full database (max_page_count)', () => {
  it("SQLITE_FULL in an earlier unit's rows fails the whole group; nothing runs on in autocommit", async () => {
    const url = sqliteUrl();
    const ledger = await openLedger({ url });
    try {
      await ledger.store.exec(DOMAIN_TABLE);
      await ledger.append('warm', 'up', {});
      capDatabase(ledger);
      const outcomes = await appendGroup(ledger, 'b1', [
        { pks: ['big'], domain: 'none', extra: { pad: PAD } },
        { pks: ['d1'], domain: 'ok' },
        { pks: ['a2'], domain: 'none' },
        { pks: ['d2'], domain: 'ok' },
      ]);
      assertRolledBack(outcomes);
      assert.equal((await ledger.head()).size, 2, 'the warm-up entry and the blocker');
      assert.deepEqual(await domainIds(ledger), []);
      uncap(ledger);
      const retry = await appendGroup(ledger, 'b2', [
        { pks: ['big'], domain: 'none', extra: { pad: PAD } },
        { pks: ['d1'], domain: 'ok' },
      ]);
      assert.ok(retry.every((o) => o.ok), 'later appends work');
      await assertConsistent(url, retry.flatMap((o) => (o.ok ? o.entries : [])));
    } finally {
      await ledger.close();
    }
  });

  for (const swallow of [false, true]) {
    it(`SQLITE_FULL in a domain write fails the whole group, not just that unit (domain ${swallow ? 'swallows' : 'rethrows'} the error)`, async () => {
      const url = sqliteUrl();
      const ledger = await openLedger({ url });
      try {
        await ledger.store.exec(DOMAIN_TABLE);
        await ledger.store.exec('CREATE TABLE blobs (b BLOB)');
        await ledger.append('warm', 'up', {});
        capDatabase(ledger);
        const fill = async (tx: Tx, entries: AppendResult[]) => {
          try {
            await tx.run('INSERT INTO blobs (b) VALUES (randomblob(200000))');
          } catch (err) {
            if (!swallow) throw err;
          }
          return entries.length;
        };
        const outcomes = await appendGroup(ledger, 'b1', [
          { pks: ['a1'], domain: 'none' },
          { pks: ['d1'], domain: 'ok', write: fill },
          { pks: ['a2'], domain: 'none' },
          { pks: ['d2'], domain: 'ok' },
        ]);
        for (const o of outcomes) {
          assert.equal(o.ok, false);
          if (!o.ok) assert.ok(isSealtrailError(o.error, 'database_error') && o.error.details?.rolledBack === true, String(o.error));
        }
        assert.equal((await ledger.head()).size, 2);
        assert.deepEqual(await domainIds(ledger), []);
        uncap(ledger);
        const retry = await appendGroup(ledger, 'b2', [{ pks: ['a1'], domain: 'none' }, { pks: ['d1'], domain: 'ok', write: fill }]);
        assert.ok(retry.every((o) => o.ok));
        await assertConsistent(url, retry.flatMap((o) => (o.ok ? o.entries : [])));
      } finally {
        await ledger.close();
      }
    });
  }
});

describe('SQLite store transactions after an automatic rollback', () => {
  it('refuse every later statement instead of running it in autocommit, and never commit', async () => {
    const url = sqliteUrl();
    const ledger = await openLedger({ url });
    try {
      await ledger.store.exec(DOMAIN_TABLE);
      await ledger.store.exec('CREATE TABLE blobs (b BLOB)');
      capDatabase(ledger);
      const attempt = ledger.store.writeTransaction(async (tx) => {
        await tx.run('INSERT INTO domain_rows (id, seq) VALUES (?, ?)', ['before', 1]);
        try {
          await tx.run('INSERT INTO blobs (b) VALUES (randomblob(200000))');
        } catch {
          // swallowed: SQLite has rolled the whole transaction back
        }
        await tx.run('INSERT INTO domain_rows (id, seq) VALUES (?, ?)', ['after', 2]);
      });
      await assert.rejects(attempt, (e) => isSealtrailError(e, 'database_error') && e.details?.rolledBack === true);
      uncap(ledger);
      assert.deepEqual(await domainIds(ledger), [], 'neither the row before the fault nor the one after it was committed');
    } finally {
      await ledger.close();
    }
  });
});

/** Mounts a small tmpfs, or returns null when this process may not mount. */
function mountTmpfs(sizeBytes: number): string | null {
  // Not tempDir(): its cleanup could run before the unmount.
  const dir = mkdtempSync(join(tmpdir(), 'sealtrail-tmpfs-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeBytes}`, 'tmpfs', dir], { stdio: 'ignore' });
  } catch {
    rmdirSync(dir);
    return null;
  }
  after(() => {
    execFileSync('umount', [dir], { stdio: 'ignore' });
    rmdirSync(dir);
  });
  return dir;
}

/** Writes a file until the filesystem is full. */
function fillDisk(path: string): void {
  const fd = openSync(path, 'w');
  const chunk = Buffer.alloc(16 * 1024, 1);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    closeSync(fd);
  }
}

describe('group commit on SQLite with a full disk (tmpfs)', () => {
  const mount = mountTmpfs(4 * 1024 * 1024);

  it('a full disk fails every caller whose entries did not reach the database; freeing space lets appends resume', { skip: mount === null ? 'cannot mount a tmpfs here (needs root)' : false }, async () => {
    const url = join(mount!, 'ledger.db');
    const filler = join(mount!, 'filler');
    const ledger = await openLedger({ url });
    const acked: AppendResult[] = [];
    try {
      await ledger.store.exec(DOMAIN_TABLE);
      await ledger.append('warm', 'up', {});
      fillDisk(filler);
      const outcomes = await appendGroup(ledger, 'b1', [
        { pks: ['big1'], domain: 'none', extra: { pad: PAD } },
        { pks: ['d1'], domain: 'ok', extra: { pad: PAD } },
        { pks: ['big2'], domain: 'none', extra: { pad: PAD } },
        { pks: ['d2'], domain: 'ok', extra: { pad: PAD } },
      ]);
      for (const o of outcomes) {
        assert.equal(o.ok, false, 'a megabyte of entries cannot fit on a full disk');
        if (!o.ok) assert.ok(isSealtrailError(o.error, 'database_error'), String(o.error));
      }
      rmSync(filler);
      const retry = await appendGroup(ledger, 'b2', [
        { pks: ['big1'], domain: 'none', extra: { pad: PAD } },
        { pks: ['d1'], domain: 'ok', extra: { pad: PAD } },
      ]);
      assert.ok(retry.every((o) => o.ok), 'appends resume once there is space');
      acked.push(...retry.flatMap((o) => (o.ok ? o.entries : [])));
      assert.deepEqual(await domainIds(ledger), ['row-d1']);
    } finally {
      await ledger.close();
    }
    await assertConsistent(url, acked);
  });
});
