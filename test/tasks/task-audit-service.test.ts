import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { isSealtrailError } from '../../src/core/errors.js';
import { openLedger, type Ledger } from '../../src/ledger/ledger.js';
import { scanTargets } from '../../src/ledger/scan.js';
import { taskScanTargets } from '../../src/tasks/scan-targets.js';
import { TaskAuditService } from '../../src/tasks/task-audit-service.js';
import { BACKENDS, tempDir } from '../helpers/databases.js';
import { git, lines, repoWith, write } from './git-repos.js';

const AUDIT_FIELDS = [
  'commitHash',
  'createdAt',
  'errorMessage',
  'eventType',
  'filesChanged',
  'gitDiffSummary',
  'gitStatusSummary',
  'id',
  'level',
  'linesAdded',
  'linesDeleted',
  'operation',
  'payload',
  'repoId',
  'status',
  'taskId',
];

async function withService(url: string, fn: (service: TaskAuditService, ledger: Ledger) => Promise<void>): Promise<void> {
  const ledger = await openLedger({ url });
  try {
    await fn(new TaskAuditService(ledger), ledger);
  } finally {
    await ledger.close();
  }
}

function isCode(code: string) {
  return (err: unknown) => isSealtrailError(err) && err.code === code;
}

for (const backend of BACKENDS) {
  describe(`TaskAuditService on ${backend.name}`, () => {
    it('records an operation with the documented defaults and returns exactly the documented fields', async () => {
      await withService(await backend.freshUrl(), async (service) => {
        const repoLevel = await service.recordOperation({ taskId: 't1', repoId: 'r1', operation: 'write' });
        assert.deepEqual(Object.keys(repoLevel).sort(), AUDIT_FIELDS);
        assert.equal(repoLevel.eventType, 'repo_write');
        assert.equal(repoLevel.status, 'success');
        assert.equal(repoLevel.level, 'info');
        assert.equal(repoLevel.repoId, 'r1');
        assert.deepEqual(repoLevel.filesChanged, []);
        assert.equal(repoLevel.gitStatusSummary, null);
        assert.match(repoLevel.createdAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);

        const taskLevel = await service.recordOperation({ taskId: 't1', operation: 'plan' });
        assert.equal(taskLevel.eventType, 'plan');
        assert.equal(taskLevel.repoId, null);

        const [stored] = await service.getTaskAudits('t1', { eventType: 'repo_write' });
        assert.deepEqual(stored, repoLevel);
      });
    });

    it('stores every given field and reads it back identically', async () => {
      await withService(await backend.freshUrl(), async (service) => {
        const written = await service.recordOperation({
          taskId: 'task-ü',
          repoId: 'org/repo',
          operation: 'commit',
          status: 'failed',
          eventType: 'custom_event',
          level: 'warning',
          filesChanged: ['a.ts', 'dir/ß.ts'],
          linesAdded: 12,
          linesDeleted: 3,
          commitHash: 'abc123',
          errorMessage: 'it broke\non two lines',
          payload: { nested: { list: [1, 2.5, 'three', null, true] }, when: new Date('2024-01-02T03:04:05.678Z'), emoji: '🦀' },
        });
        // A Date in the payload takes its canonical (ISO text) form at once, not after a round trip.
        assert.equal((written.payload as { when: string }).when, '2024-01-02T03:04:05.678Z');
        const [read] = await service.getTaskAudits('task-ü');
        assert.deepEqual(read, written);
      });
    });

    it('returns audits newest first and filters by repository, event type and limit', async () => {
      await withService(await backend.freshUrl(), async (service) => {
        const ids: string[] = [];
        for (let i = 0; i < 6; i++) {
          ids.push((await service.recordOperation({ taskId: 't', repoId: i % 2 === 0 ? 'even' : 'odd', operation: i < 3 ? 'read' : 'write' })).id);
        }
        await service.recordOperation({ taskId: 'other', repoId: 'even', operation: 'read' });
        assert.deepEqual((await service.getTaskAudits('t')).map((a) => a.id), [...ids].reverse());
        assert.deepEqual((await service.getTaskAudits('t', { repoId: 'even' })).map((a) => a.id), [ids[4], ids[2], ids[0]]);
        assert.deepEqual((await service.getTaskAudits('t', { eventType: 'repo_read' })).map((a) => a.id), [ids[2], ids[1], ids[0]]);
        assert.deepEqual((await service.getTaskAudits('t', { repoId: 'odd', eventType: 'repo_write', limit: 1 })).map((a) => a.id), [ids[5]]);
        const repo = await service.getRepoAudits('even', { limit: 2 });
        assert.equal(repo.length, 2);
        assert.equal(repo[0]!.taskId, 'other');
        assert.equal((await service.getRepoAudits('even')).length, 4);
        assert.deepEqual(await service.getTaskAudits('nobody'), []);
      });
    });

    it('refuses limits outside 1..500 with invalid_limit', async () => {
      await withService(await backend.freshUrl(), async (service) => {
        for (const limit of [0, -1, 501, 1.5, Number.NaN, '10' as unknown as number]) {
          await assert.rejects(service.getTaskAudits('t', { limit }), isCode('invalid_limit'), `limit ${String(limit)}`);
          await assert.rejects(service.getRepoAudits('r', { limit }), isCode('invalid_limit'), `limit ${String(limit)}`);
        }
        assert.deepEqual(await service.getTaskAudits('t', { limit: 500 }), []);
        assert.deepEqual(await service.getTaskAudits('t', { limit: 1 }), []);
      });
    });

    it('refuses bad input with a coded error and writes nothing', async () => {
      await withService(await backend.freshUrl(), async (service, ledger) => {
        const bad: unknown[] = [
          { operation: 'write' },
          { taskId: '', operation: 'write' },
          { taskId: 't' },
          { taskId: 't', operation: 'write', repoId: '' },
          { taskId: 't', operation: 'write', linesAdded: -1 },
          { taskId: 't', operation: 'write', linesDeleted: 1.5 },
          { taskId: 't', operation: 'write', filesChanged: 'a.ts' },
          { taskId: 't', operation: 'write', filesChanged: [1] },
          { taskId: 't', operation: 'write', errorMessage: 'nul\0byte' },
          { taskId: 't', operation: 'write', payload: { s: 'nul\0byte' } },
        ];
        for (const input of bad) {
          await assert.rejects(service.recordOperation(input as never), isCode('invalid_argument'), JSON.stringify(input));
        }
        await assert.rejects(service.recordOperation({ taskId: 't', operation: 'w', payload: { n: Number.NaN } }), isCode('non_canonical_value'));
        assert.equal((await ledger.head()).size, 0);
      });
    });

    it('records git changes of a real repository as repo_<operation>', async () => {
      await withService(await backend.freshUrl(), async (service) => {
        const repo = repoWith({ 'a.txt': lines(3) });
        write(repo, 'a.txt', lines(5));
        write(repo, 'b.txt', 'new\n');
        const audit = await service.recordGitChanges({ taskId: 't', repoId: 'r', repoPath: repo });
        assert.equal(audit.eventType, 'repo_write');
        assert.equal(audit.operation, 'write');
        assert.deepEqual(audit.filesChanged, ['a.txt', 'b.txt']);
        assert.equal(audit.linesAdded, 2);
        assert.equal(audit.linesDeleted, 0);
        assert.equal(audit.gitStatusSummary, ' M a.txt\n?? b.txt');
        assert.match(audit.gitDiffSummary!, /a\.txt \| 2 \+\+/);
        assert.deepEqual(audit.payload, { git: { captured: true } });

        const head = git(repo, 'rev-parse', 'HEAD').trim();
        const commit = await service.recordGitChanges({ taskId: 't', repoId: 'r', repoPath: repo, operation: 'commit', commitHash: head });
        assert.equal(commit.eventType, 'repo_commit');
        assert.equal(commit.commitHash, head);
        assert.deepEqual((await service.getTaskAudits('t'))[0], commit);
      });
    });

    it('writes an honest record with null summaries when the path cannot be measured', async () => {
      await withService(await backend.freshUrl(), async (service) => {
        const missing = await service.recordGitChanges({ taskId: 't', repoId: 'r', repoPath: join(tempDir(), 'missing') });
        assert.equal(missing.gitStatusSummary, null);
        assert.equal(missing.gitDiffSummary, null);
        assert.equal(missing.linesAdded, null);
        assert.equal(missing.linesDeleted, null);
        assert.deepEqual(missing.filesChanged, []);
        assert.equal((missing.payload as { git: { reason: string } }).git.reason, 'missing_path');
        const notRepo = await service.recordGitChanges({ taskId: 't', repoId: 'r', repoPath: tempDir() });
        assert.equal((notRepo.payload as { git: { reason: string } }).git.reason, 'not_a_repository');
        assert.equal((await service.getTaskAudits('t')).length, 2);
      });
    });

    it('chains every audit in the ledger so scan catches an edited and a deleted row', async () => {
      await withService(await backend.freshUrl(), async (service, ledger) => {
        const repo = repoWith({ 'a.txt': 'a\n' });
        write(repo, 'a.txt', 'b\n');
        const a = await service.recordOperation({ taskId: 't', repoId: 'r', operation: 'write', payload: { k: [1, { z: 1, a: 2 }] } });
        const b = await service.recordGitChanges({ taskId: 't', repoId: 'r', repoPath: repo });
        const c = await service.recordOperation({ taskId: 't', operation: 'complete' });
        const entries: string[] = [];
        for await (const e of ledger.entries()) entries.push(`${e.kind}/${e.pk}`);
        assert.deepEqual(entries, [a, b, c].map((x) => `task_audits/${x.id}`));
        assert.equal((await ledger.verify()).ok, true);

        const clean = await scanTargets(ledger.store, taskScanTargets(ledger.store));
        assert.deepEqual(clean.findings, []);
        assert.deepEqual(clean.tables.find((t) => t.kind === 'task_audits'), { kind: 'task_audits', rows: 3, chained: 3 });

        await ledger.store.run('UPDATE task_audits SET lines_added = 0 WHERE id = ?', [b.id]);
        await ledger.store.run('DELETE FROM task_audits WHERE id = ?', [c.id]);
        const report = await scanTargets(ledger.store, taskScanTargets(ledger.store));
        assert.equal(report.ok, false);
        assert.deepEqual(
          report.findings.map((f) => [f.type, f.event_pk, f.seq]),
          [
            ['edited', b.id, 2],
            ['deleted', c.id, 3],
          ],
        );
      });
    });

    it('detects edits to JSON and timestamp columns', async () => {
      await withService(await backend.freshUrl(), async (service, ledger) => {
        const a = await service.recordOperation({ taskId: 't', operation: 'x', payload: { amount: 1 } });
        const b = await service.recordOperation({ taskId: 't', operation: 'x', filesChanged: ['a'] });
        const c = await service.recordOperation({ taskId: 't', operation: 'x' });
        await ledger.store.run(`UPDATE task_audits SET payload = '{"amount":2}' WHERE id = ?`, [a.id]);
        await ledger.store.run(`UPDATE task_audits SET files_changed = '["b"]' WHERE id = ?`, [b.id]);
        await ledger.store.run(`UPDATE task_audits SET created_at = ? WHERE id = ?`, ['2020-01-01T00:00:00.000Z', c.id]);
        const report = await scanTargets(ledger.store, taskScanTargets(ledger.store));
        assert.deepEqual(report.findings.map((f) => [f.type, f.event_pk]), [
          ['edited', a.id],
          ['edited', b.id],
          ['edited', c.id],
        ]);
      });
    });
  });
}
