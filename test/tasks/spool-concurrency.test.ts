/**
 * A task audit spool shared by several processes: two append while a third replays the spool
 * into the database. Every event an appender was told is spooled reaches the database exactly
 * once; none is cut away by a replay that rewrote the spool meanwhile.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openLedger } from '../../src/ledger/ledger.js';
import { TaskAuditService } from '../../src/tasks/task-audit-service.js';
import { tempDir } from '../helpers/databases.js';

const SPOOLER = fileURLToPath(new URL('./fixtures/spooler.ts', import.meta.url));

function start(args: string[]): { child: ChildProcess; done: Promise<string> } {
  const child = spawn(process.execPath, ['--import', 'tsx', SPOOLER, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const done = new Promise<string>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`spooler ${args[0]} failed (${code}): ${err}`))));
  });
  return { child, done };
}

describe('a task audit spool shared across processes', () => {
  it('loses no spooled event while another process replays the spool', async () => {
    const dir = tempDir();
    const spool = join(dir, 'spool', 'shared.jsonl');
    const db = join(dir, 'ledger.db');
    const drainer = start(['drain', spool, db]);
    const appenders = ['a', 'b'].map((prefix) => start(['append', spool, prefix, '60']));
    const acknowledged = (await Promise.all(appenders.map((a) => a.done))).flatMap((out) => out.split('\n').filter((l) => l !== ''));
    drainer.child.stdin!.end(); // the drainer replays once more after reading this, then exits
    await drainer.done;

    assert.equal(acknowledged.length, 120);
    assert.equal(existsSync(spool), false, 'the spool is empty once replayed');
    const ledger = await openLedger({ url: db });
    try {
      const stored = await new TaskAuditService(ledger).getTaskAudits('shared', { limit: 500 });
      const ids = stored.map((a) => a.id);
      assert.equal(new Set(ids).size, ids.length, 'each event written once');
      assert.deepEqual([...ids].sort(), [...acknowledged].sort(), 'every acknowledged event reached the database');
      assert.equal((await ledger.verify()).ok, true);
    } finally {
      await ledger.close();
    }
  });
});
