import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { renameSync, writeFileSync, unlinkSync } from 'node:fs';
import fc from 'fast-check';
import '../helpers/replay.js';
import {
  capDiffSummary,
  capStatusSummary,
  captureGitChanges,
  DIFF_SUMMARY_MAX_CHARS,
  readHead,
  STATUS_SUMMARY_MAX_CHARS,
} from '../../src/tasks/git-capture.js';
import { tempDir } from '../helpers/databases.js';
import { emptyRepo, git, lines, repoWith, write } from './git-repos.js';

describe('git capture', () => {
  it('reports a clean tree as captured, with empty summaries and no changes', async () => {
    const repo = repoWith({ 'a.txt': 'a\n' });
    const c = await captureGitChanges(repo);
    assert.equal(c.ok, true);
    assert.equal(c.statusSummary, '');
    assert.equal(c.diffSummary, '');
    assert.deepEqual(c.filesChanged, []);
    assert.equal(c.linesAdded, 0);
    assert.equal(c.linesDeleted, 0);
    assert.equal(c.head, git(repo, 'rev-parse', 'HEAD').trim());
  });

  it('captures modified, staged, deleted and untracked files of a dirty tree with exact line counts', async () => {
    const repo = repoWith({ 'a.txt': lines(10), 'b.txt': lines(5), 'gone.txt': lines(3), 'dir/c.txt': 'c\n' });
    write(repo, 'a.txt', lines(12)); // +2
    write(repo, 'b.txt', lines(2)); // -3
    git(repo, 'add', 'b.txt');
    unlinkSync(join(repo, 'gone.txt')); // -3
    write(repo, 'new.txt', 'fresh\n');
    write(repo, 'nested/deeper/x.txt', 'x\n');
    write(repo, '.gitignore', 'ignored.log\n');
    write(repo, 'ignored.log', 'noise\n');
    const c = await captureGitChanges(repo);
    assert.equal(c.ok, true);
    assert.deepEqual(c.filesChanged, ['a.txt', 'b.txt', 'gone.txt', '.gitignore', 'nested/deeper/x.txt', 'new.txt']);
    assert.equal(c.linesAdded, 2);
    assert.equal(c.linesDeleted, 6);
    assert.equal(c.statusSummary, git(repo, 'status', '--porcelain').replace(/\n$/, ''));
    assert.match(c.statusSummary!, /^\?\? new\.txt$/m);
    assert.match(c.statusSummary!, /^ M a\.txt$/m);
    assert.match(c.diffSummary!, /3 files changed, 2 insertions\(\+\), 6 deletions\(-\)/);
    assert.ok(!c.filesChanged.includes('ignored.log'));
  });

  it('lists a staged rename under its new path and counts a rename with edits', async () => {
    const repo = repoWith({ 'old-name.txt': lines(20) });
    git(repo, 'mv', 'old-name.txt', 'new-name.txt');
    write(repo, 'new-name.txt', lines(20) + 'one more\n');
    git(repo, 'add', '-A');
    const c = await captureGitChanges(repo);
    assert.deepEqual(c.filesChanged, ['new-name.txt']);
    assert.equal(c.linesAdded, 1);
    assert.equal(c.linesDeleted, 0);
    assert.match(c.diffSummary!, /old-name\.txt => new-name\.txt/);
  });

  it('counts binary files as changed files with zero lines', async () => {
    const repo = repoWith({ 'img.bin': Buffer.from([0, 1, 2, 3, 0, 255]), 'a.txt': 'a\n' });
    write(repo, 'img.bin', Buffer.from([0, 9, 9, 9, 0, 254, 7]));
    write(repo, 'a.txt', 'a\nb\n');
    write(repo, 'new.bin', Buffer.from([0, 0, 0]));
    const c = await captureGitChanges(repo);
    assert.deepEqual(c.filesChanged, ['a.txt', 'img.bin', 'new.bin']);
    assert.equal(c.linesAdded, 1);
    assert.equal(c.linesDeleted, 0);
    assert.match(c.diffSummary!, /img\.bin \| Bin/);
  });

  it('caps summaries far over their limits while keeping the true counts', async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 600; i++) files[`some/long/directory/path/file-number-${i}.txt`] = lines(4);
    const repo = repoWith(files);
    for (let i = 0; i < 600; i++) write(repo, `some/long/directory/path/file-number-${i}.txt`, lines(4) + lines(3, 'added'));
    for (let i = 0; i < 300; i++) write(repo, `untracked/u-${i}.txt`, 'u\n');
    const c = await captureGitChanges(repo);
    assert.equal(c.ok, true);

    const status = git(repo, 'status', '--porcelain');
    assert.ok(status.length > STATUS_SUMMARY_MAX_CHARS * 2);
    const statusMarker = `\n... (truncated, total ${Buffer.byteLength(status)} bytes)`;
    assert.equal(c.statusSummary, status.slice(0, STATUS_SUMMARY_MAX_CHARS) + statusMarker);

    const stat = git(repo, 'diff', '--stat', 'HEAD').replace(/\n$/, '').split('\n');
    assert.ok(stat.join('\n').length > DIFF_SUMMARY_MAX_CHARS * 2);
    const m = /^([\s\S]*)\n\.\.\. \(truncated, total (\d+) lines\)$/.exec(c.diffSummary!);
    assert.ok(m, 'diff summary ends with the truncation marker');
    assert.equal(Number(m[2]), stat.length);
    const kept = m[1]!;
    assert.ok(kept.length <= DIFF_SUMMARY_MAX_CHARS);
    const keptLines = kept.split('\n');
    assert.deepEqual(keptLines, stat.slice(0, keptLines.length), 'only whole lines are kept');
    assert.ok(kept.length + 1 + stat[keptLines.length]!.length > DIFF_SUMMARY_MAX_CHARS, 'as many lines as fit are kept');

    assert.equal(c.filesChanged.length, 900);
    assert.equal(c.linesAdded, 600 * 3);
    assert.equal(c.linesDeleted, 0);
  });

  it('gives null summaries for a path that is not a repository', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'x.txt'), 'x');
    const c = await captureGitChanges(dir);
    assert.equal(c.ok, false);
    assert.equal(c.reason, 'not_a_repository');
    assert.equal(c.statusSummary, null);
    assert.equal(c.diffSummary, null);
    assert.equal(c.linesAdded, null);
    assert.equal(c.linesDeleted, null);
    assert.deepEqual(c.filesChanged, []);
    assert.equal(await readHead(dir), null);
  });

  it('gives null summaries for a missing path and for a file instead of a directory', async () => {
    const dir = tempDir();
    assert.equal((await captureGitChanges(join(dir, 'nope'))).reason, 'missing_path');
    writeFileSync(join(dir, 'file'), 'x');
    const c = await captureGitChanges(join(dir, 'file'));
    assert.equal(c.reason, 'missing_path');
    assert.equal(c.statusSummary, null);
  });

  it('gives null summaries for a repository without commits', async () => {
    const repo = emptyRepo();
    write(repo, 'a.txt', 'a\n');
    const c = await captureGitChanges(repo);
    assert.equal(c.ok, false);
    assert.equal(c.reason, 'no_commits');
    assert.equal(c.statusSummary, null);
    assert.equal(c.diffSummary, null);
    assert.equal(c.head, null);
    assert.equal(await readHead(repo), null);
  });

  it('gives null summaries when git fails on a broken repository', async () => {
    const repo = repoWith({ 'a.txt': 'a\n' });
    write(repo, 'a.txt', 'b\n');
    // A corrupt index makes every status/diff command fail.
    renameSync(join(repo, '.git', 'index'), join(repo, '.git', 'index.bak'));
    writeFileSync(join(repo, '.git', 'index'), 'garbage that is not an index');
    const c = await captureGitChanges(repo);
    assert.equal(c.ok, false);
    assert.equal(c.reason, 'git_failed');
    assert.equal(c.statusSummary, null);
    assert.equal(c.linesAdded, null);
  });

  it('measures from the repository root when given a subdirectory', async () => {
    const repo = repoWith({ 'sub/a.txt': 'a\n', 'b.txt': 'b\n' });
    write(repo, 'b.txt', 'b\nc\n');
    write(repo, 'top-untracked.txt', 'x\n');
    const c = await captureGitChanges(join(repo, 'sub'));
    assert.deepEqual(c.filesChanged, ['b.txt', 'top-untracked.txt']);
  });
});

describe('summary caps', () => {
  it('keeps only whole lines within 10,240 characters and reports the true line count', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: 'grapheme-ascii', maxLength: 400 }).map((s) => s.replace(/\n/g, ' ')), { maxLength: 200 }), (ls) => {
        const text = ls.join('\n');
        const out = capDiffSummary(`${text}\n`);
        if (text.length <= DIFF_SUMMARY_MAX_CHARS) return out === text;
        const m = /^([\s\S]*)\n\.\.\. \(truncated, total (\d+) lines\)$/.exec(out);
        if (!m || Number(m[2]) !== ls.length) return false;
        const kept = m[1]!;
        const keptCount = kept === '' && ls[0] !== '' ? 0 : kept.split('\n').length;
        return kept.length <= DIFF_SUMMARY_MAX_CHARS && kept === ls.slice(0, keptCount).join('\n');
      }),
    );
  });

  it('cuts the status summary at 5,120 characters and reports the total size in bytes', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 8000 }), (text) => {
        const raw = `${text}\n`;
        const out = capStatusSummary(raw);
        if (text.length <= STATUS_SUMMARY_MAX_CHARS) return out === text;
        const marker = `\n... (truncated, total ${Buffer.byteLength(raw)} bytes)`;
        if (!out.endsWith(marker)) return false;
        const kept = out.slice(0, -marker.length);
        return kept.length <= STATUS_SUMMARY_MAX_CHARS && kept.length >= STATUS_SUMMARY_MAX_CHARS - 1 && text.startsWith(kept);
      }),
    );
  });
});
