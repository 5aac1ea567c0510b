/** The cross-process lock: a live holder makes others wait (then lock_failed); a holder killed with SIGKILL never wedges the file. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isSealtrailError } from '../../src/core/errors.js';
import { withFileLock } from '../../src/platform/file-lock.js';
import { tempDir } from '../helpers/databases.js';

const HOLDER = fileURLToPath(new URL('./fixtures/lock-holder.ts', import.meta.url));

async function holder(target: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', HOLDER, target], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.setEncoding('utf8');
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: string) => {
      out += d;
      if (out.includes('locked\n')) resolve();
    });
    child.on('exit', (code) => reject(new Error(`holder exited early (${code})`)));
  });
  return child;
}

describe('withFileLock across processes', () => {
  it('refuses with lock_failed (timeout) while another live process holds the lock', async () => {
    const target = join(tempDir(), 'f.jsonl');
    const child = await holder(target);
    try {
      let ran = false;
      await assert.rejects(
        withFileLock(target, async () => void (ran = true), { what: 'the test file', waitMs: 300 }),
        (err) => isSealtrailError(err, 'lock_failed') && err.details?.['reason'] === 'timeout',
      );
      assert.equal(ran, false);
    } finally {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
  });

  it('takes over the lock of a holder killed with SIGKILL', async () => {
    const target = join(tempDir(), 'f.jsonl');
    const child = await holder(target);
    child.kill('SIGKILL');
    await once(child, 'exit');
    // The dead holder's lock directory is still there; it goes stale and is taken over.
    const result = await withFileLock(target, async () => 'written', { what: 'the test file', waitMs: 60_000 });
    assert.equal(result, 'written');
  });
});
