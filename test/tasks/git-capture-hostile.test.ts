/**
 * Git capture in a repository an agent controls: its .git/config and attributes may name programs
 * (fsmonitor, hooks, clean filters, external diff, textconv) that plain `git status`/`git diff`
 * would run. Capture measures the change without running any of them, and git runs with an
 * environment that holds no secret.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { captureGitChanges } from '../../src/tasks/git-capture.js';
import { childEnvironment, runChild } from '../../src/platform/child-process.js';
import { tempDir } from '../helpers/databases.js';
import { git, lines, repoWith, write } from './git-repos.js';

/** A shell script that touches `marker` and dumps its environment beside it. */
function trap(dir: string, name: string, marker: string): string {
  const path = join(dir, name);
  writeFileSync(path, `#!/bin/sh\nenv > '${marker}.env'\ntouch '${marker}'\nif [ -f "$1" ]; then cat "$1"; else cat; fi\n`);
  chmodSync(path, 0o755);
  return path;
}

describe('git capture in a hostile repository', () => {
  it('runs none of the programs the repository configures, yet measures the change', async () => {
    const repo = repoWith({ 'a.txt': lines(3), 'b.bin': 'x\n' });
    const traps = tempDir('sealtrail-traps-');
    const markers = {
      fsmonitor: join(traps, 'fsmonitor-ran'),
      hook: join(traps, 'hook-ran'),
      filter: join(traps, 'filter-ran'),
      extDiff: join(traps, 'ext-diff-ran'),
      textconv: join(traps, 'textconv-ran'),
    };
    const hooks = join(repo, '.git', 'hooks');
    mkdirSync(hooks, { recursive: true });
    for (const name of ['post-index-change', 'pre-commit', 'post-checkout', 'reference-transaction']) trap(hooks, name, markers.hook);
    git(repo, 'config', 'core.fsmonitor', trap(traps, 'fsmonitor.sh', markers.fsmonitor));
    git(repo, 'config', 'filter.evil.clean', trap(traps, 'clean.sh', markers.filter));
    git(repo, 'config', 'filter.evil.smudge', trap(traps, 'smudge.sh', markers.filter));
    git(repo, 'config', 'filter.evil.required', 'true');
    git(repo, 'config', 'diff.external', trap(traps, 'ext.sh', markers.extDiff));
    git(repo, 'config', 'diff.conv.textconv', trap(traps, 'conv.sh', markers.textconv));
    write(repo, '.git/info/attributes', '*.txt filter=evil\n*.bin diff=conv\n');
    write(repo, 'a.txt', lines(5));
    write(repo, 'b.bin', 'y\n');
    write(repo, 'new.txt', 'new\n');

    // The traps are real: plain git runs each of them.
    git(repo, 'status', '--porcelain');
    git(repo, 'diff', 'HEAD');
    git(repo, 'diff', '--no-ext-diff', 'HEAD');
    for (const marker of [markers.fsmonitor, markers.filter, markers.extDiff, markers.textconv]) {
      assert.ok(existsSync(marker), `control: plain git ran ${marker}`);
    }
    for (const marker of Object.values(markers)) rmSync(marker, { force: true });

    const captured = await captureGitChanges(repo);
    assert.equal(captured.ok, true, JSON.stringify(captured));
    assert.deepEqual(captured.filesChanged, ['a.txt', 'b.bin', 'new.txt']);
    assert.equal(captured.linesAdded, 2 + 1);
    assert.equal(captured.linesDeleted, 1);
    assert.match(captured.statusSummary ?? '', /^ M a\.txt$/m);
    for (const [what, marker] of Object.entries(markers)) assert.equal(existsSync(marker), false, `capture ran the repository's ${what}`);
  });

  it('gives git no SEALTRAIL_* variable and nothing of this process environment beyond PATH and HOME', async () => {
    const before = { ...process.env };
    process.env['SEALTRAIL_SIGNING_KEY'] = 'PRIVATE+KEY+example.com/audit+0badc0de+c2VjcmV0';
    process.env['SEALTRAIL_DB'] = 'postgres://sealtrail:hunter2@db/prod';
    process.env['GIT_DIR'] = '/somewhere/else';
    process.env['AWS_SECRET_ACCESS_KEY'] = 'also-secret';
    try {
      const env = childEnvironment({ env: { GIT_TERMINAL_PROMPT: '0', SEALTRAIL_ASKED_FOR: 'x' }, passThrough: ['SEALTRAIL_DB'] });
      assert.deepEqual(Object.keys(env).sort(), ['GIT_TERMINAL_PROMPT', 'HOME', 'LANG', 'LC_ALL', 'PATH'].filter((k) => k !== 'HOME' || process.env['HOME'] !== undefined));
      // A real child sees the same: nothing named SEALTRAIL_, no value of the secrets.
      const { stdout } = await runChild('env', [], { passThrough: ['SEALTRAIL_DB'] });
      assert.doesNotMatch(stdout, /SEALTRAIL_|hunter2|c2VjcmV0|also-secret|GIT_DIR/);
      assert.match(stdout, /^LC_ALL=C$/m);
    } finally {
      for (const name of Object.keys(process.env)) if (!(name in before)) delete process.env[name];
    }
  });
});
