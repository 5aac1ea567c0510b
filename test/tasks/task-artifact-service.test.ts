import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isSealtrailError } from '../../src/core/errors.js';
import { openLedger, type Ledger } from '../../src/ledger/ledger.js';
import { scanTargets } from '../../src/ledger/scan.js';
import { taskScanTargets } from '../../src/tasks/scan-targets.js';
import { TaskArtifactService } from '../../src/tasks/task-artifact-service.js';
import { BACKENDS } from '../helpers/databases.js';

async function withService(url: string, fn: (service: TaskArtifactService, ledger: Ledger) => Promise<void>): Promise<void> {
  const ledger = await openLedger({ url });
  try {
    await fn(new TaskArtifactService(ledger), ledger);
  } finally {
    await ledger.close();
  }
}

function isCode(code: string) {
  return (err: unknown) => isSealtrailError(err) && err.code === code;
}

for (const backend of BACKENDS) {
  describe(`TaskArtifactService on ${backend.name}`, () => {
    it('creates refs of every type with the documented fields', async () => {
      await withService(await backend.freshUrl(), async (service) => {
        const ref = await service.createRef({ taskId: 't', repoId: 'r', refType: 'patch', refValue: 'p-1', summary: 'a patch', metadata: { size: 3 } });
        assert.deepEqual(Object.keys(ref).sort(), ['createdAt', 'id', 'metadata', 'refType', 'refValue', 'repoId', 'summary', 'taskId']);
        assert.deepEqual({ ...ref, id: '', createdAt: '' }, {
          id: '',
          createdAt: '',
          taskId: 't',
          repoId: 'r',
          refType: 'patch',
          refValue: 'p-1',
          summary: 'a patch',
          metadata: { size: 3 },
        });
        for (const refType of ['file', 'tag'] as const) await service.createRef({ taskId: 't', repoId: 'r', refType, refValue: 'v' });
        const commit = await service.createCommitRef({ taskId: 't', repoId: 'r', commitHash: 'abc123' });
        const branch = await service.createBranchRef({ taskId: 't', repoId: 'r', branchName: 'feature/x' });
        const pr = await service.createPrRef({ taskId: 't', repoId: 'r', prNumber: 42, summary: 'PR' });
        assert.deepEqual([commit.refType, commit.refValue, commit.summary, commit.metadata], ['commit', 'abc123', null, null]);
        assert.deepEqual([branch.refType, branch.refValue], ['branch', 'feature/x']);
        assert.deepEqual([pr.refType, pr.refValue], ['pr', '42']);
        assert.equal((await service.getTaskArtifacts('t')).length, 6);
      });
    });

    it('returns the existing ref for a duplicate, without writing anything', async () => {
      await withService(await backend.freshUrl(), async (service, ledger) => {
        const first = await service.createCommitRef({ taskId: 't', repoId: 'r', commitHash: 'abc', summary: 'first' });
        const size = (await ledger.head()).size;
        const again = await service.createCommitRef({ taskId: 't', repoId: 'r', commitHash: 'abc', summary: 'second' });
        assert.deepEqual(again, first);
        assert.equal((await ledger.head()).size, size);
        // A different task, repository or type is a different ref.
        const others = await Promise.all([
          service.createCommitRef({ taskId: 't2', repoId: 'r', commitHash: 'abc' }),
          service.createCommitRef({ taskId: 't', repoId: 'r2', commitHash: 'abc' }),
          service.createRef({ taskId: 't', repoId: 'r', refType: 'tag', refValue: 'abc' }),
        ]);
        assert.equal(new Set([first.id, ...others.map((o) => o.id)]).size, 4);
      });
    });

    it('settles concurrent identical creations on one ref with one chain entry', async () => {
      await withService(await backend.freshUrl(), async (service, ledger) => {
        const refs = await Promise.all(Array.from({ length: 8 }, () => service.createBranchRef({ taskId: 't', repoId: 'r', branchName: 'main' })));
        assert.equal(new Set(refs.map((r) => r.id)).size, 1);
        assert.equal((await ledger.head()).size, 1);
        const report = await scanTargets(ledger.store, taskScanTargets(ledger.store));
        assert.deepEqual(report.findings, []);
      });
    });

    it('refuses an unknown ref type with invalid_ref_type and writes nothing', async () => {
      await withService(await backend.freshUrl(), async (service, ledger) => {
        for (const refType of ['issue', 'COMMIT', '', undefined]) {
          await assert.rejects(service.createRef({ taskId: 't', repoId: 'r', refType: refType as never, refValue: 'v' }), isCode('invalid_ref_type'));
        }
        await assert.rejects(service.getTaskArtifacts('t', { refType: 'issue' as never }), isCode('invalid_ref_type'));
        await assert.rejects(service.getRepoArtifacts('r', { refType: 'issue' as never }), isCode('invalid_ref_type'));
        await assert.rejects(service.getArtifactsByRef('issue' as never, 'v'), isCode('invalid_ref_type'));
        await assert.rejects(service.createRef({ taskId: 't', repoId: '', refType: 'commit', refValue: 'v' }), isCode('invalid_argument'));
        await assert.rejects(service.createPrRef({ taskId: 't', repoId: 'r', prNumber: -3 }), isCode('invalid_argument'));
        assert.equal((await ledger.head()).size, 0);
      });
    });

    it('finds refs by task, repository and referenced value', async () => {
      await withService(await backend.freshUrl(), async (service) => {
        const a = await service.createCommitRef({ taskId: 't1', repoId: 'r1', commitHash: 'c1' });
        const b = await service.createBranchRef({ taskId: 't1', repoId: 'r2', branchName: 'b' });
        const c = await service.createCommitRef({ taskId: 't2', repoId: 'r1', commitHash: 'c1' });
        const d = await service.createCommitRef({ taskId: 't2', repoId: 'r1', commitHash: 'c2' });
        const ids = (refs: { id: string }[]) => refs.map((r) => r.id);
        assert.deepEqual(ids(await service.getTaskArtifacts('t1')), [b.id, a.id]);
        assert.deepEqual(ids(await service.getTaskArtifacts('t1', { repoId: 'r1' })), [a.id]);
        assert.deepEqual(ids(await service.getTaskArtifacts('t1', { refType: 'branch' })), [b.id]);
        assert.deepEqual(ids(await service.getRepoArtifacts('r1')), [d.id, c.id, a.id]);
        assert.deepEqual(ids(await service.getRepoArtifacts('r1', { limit: 2 })), [d.id, c.id]);
        assert.deepEqual(ids(await service.getRepoArtifacts('r2', { refType: 'commit' })), []);
        assert.deepEqual(ids(await service.getArtifactsByRef('commit', 'c1')), [c.id, a.id]);
        await assert.rejects(service.getRepoArtifacts('r1', { limit: 501 }), isCode('invalid_limit'));
      });
    });

    it('lets scan catch an edited and a deleted ref', async () => {
      await withService(await backend.freshUrl(), async (service, ledger) => {
        const a = await service.createCommitRef({ taskId: 't', repoId: 'r', commitHash: 'c1', metadata: { files_changed: ['x'] } });
        const b = await service.createCommitRef({ taskId: 't', repoId: 'r', commitHash: 'c2' });
        assert.deepEqual((await scanTargets(ledger.store, taskScanTargets(ledger.store))).findings, []);
        await ledger.store.run(`UPDATE task_artifact_ref SET metadata = '{"files_changed":[]}' WHERE id = ?`, [a.id]);
        await ledger.store.run('DELETE FROM task_artifact_ref WHERE id = ?', [b.id]);
        const report = await scanTargets(ledger.store, taskScanTargets(ledger.store));
        assert.deepEqual(report.findings.map((f) => [f.type, f.event_kind, f.event_pk]), [
          ['edited', 'task_artifact_ref', a.id],
          ['deleted', 'task_artifact_ref', b.id],
        ]);
      });
    });
  });
}
