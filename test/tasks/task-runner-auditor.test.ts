import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { isSealtrailError } from '../../src/core/errors.js';
import { openLedger, type Ledger } from '../../src/ledger/ledger.js';
import { scanTargets } from '../../src/ledger/scan.js';
import { taskScanTargets } from '../../src/tasks/scan-targets.js';
import { Spool } from '../../src/tasks/spool.js';
import { TaskArtifactService } from '../../src/tasks/task-artifact-service.js';
import { TaskAuditService } from '../../src/tasks/task-audit-service.js';
import type { TaskAudit } from '../../src/tasks/rows.js';
import { TaskRunnerAuditor, type RepoChangesResult } from '../../src/tasks/task-runner-auditor.js';
import { adminUrl, BACKENDS, postgresUrl, tempDir } from '../helpers/databases.js';
import { commitAll, emptyRepo, lines, repoWith, write } from './git-repos.js';

function isCode(code: string) {
  return (err: unknown) => isSealtrailError(err) && err.code === code;
}

async function chainKinds(ledger: Ledger): Promise<string[]> {
  const out: string[] = [];
  for await (const e of ledger.entries()) out.push(`${e.kind}/${e.pk}`);
  return out;
}

async function assertConsistent(ledger: Ledger): Promise<void> {
  assert.equal((await ledger.verify()).ok, true);
  const scan = await scanTargets(ledger.store, taskScanTargets(ledger.store));
  assert.deepEqual(scan.findings, []);
}

for (const backend of BACKENDS) {
  describe(`TaskRunnerAuditor on ${backend.name}`, () => {
    it('records a multi-repository task from start to completion', async () => {
      const ledger = await openLedger({ url: await backend.freshUrl() });
      try {
        const api = repoWith({ 'src/a.ts': lines(10) });
        const web = repoWith({ 'index.html': '<p>hi</p>\n' });
        const fresh = emptyRepo();
        const repos = [
          { repoId: 'org/api', path: api },
          { repoId: 'org/web', path: web },
          { repoId: 'org/fresh', path: fresh },
        ];
        const auditor = new TaskRunnerAuditor('task-42', { ledger });

        const start = await auditor.recordStart(repos);
        assert.deepEqual([start.eventType, start.operation, start.repoId, start.level], ['task_start', 'start', null, 'info']);
        assert.deepEqual(start.payload, { repos });

        const read = await auditor.recordRepoRead(repos[0]!, ['src/a.ts']);
        assert.deepEqual([read.eventType, read.repoId, read.filesChanged], ['repo_read', 'org/api', []]);
        assert.deepEqual((read.payload as { files: string[] }).files, ['src/a.ts']);
        const wrote = await auditor.recordRepoWrite(repos[0]!, ['src/a.ts', 'src/b.ts']);
        assert.deepEqual([wrote.eventType, wrote.filesChanged], ['repo_write', ['src/a.ts', 'src/b.ts']]);

        // api: committed work plus a dirty remainder; the hash comes from HEAD.
        write(api, 'src/a.ts', lines(12));
        write(api, 'src/b.ts', 'export {};\n');
        const apiHead = commitAll(api, 'feat: b');
        write(api, 'src/a.ts', lines(11));
        const apiChanges = await auditor.recordRepoChanges(repos[0]!, { message: 'feat: b' });
        assert.equal(apiChanges.audit.eventType, 'repo_commit');
        assert.equal(apiChanges.audit.commitHash, apiHead);
        assert.deepEqual(apiChanges.audit.filesChanged, ['src/a.ts']);
        assert.equal(apiChanges.audit.linesDeleted, 1);
        assert.deepEqual(apiChanges.ref && [apiChanges.ref.refType, apiChanges.ref.refValue, apiChanges.ref.summary], ['commit', apiHead, 'feat: b']);
        assert.deepEqual(apiChanges.ref!.metadata, { files_changed: ['src/a.ts'], lines_added: 0, lines_deleted: 1 });

        // web: an explicit hash wins over HEAD.
        write(web, 'index.html', '<p>hello</p>\n');
        const webChanges = await auditor.recordRepoChanges(repos[1]!, { commitHash: 'feedface' });
        assert.equal(webChanges.ref!.refValue, 'feedface');
        assert.equal(webChanges.audit.linesAdded, 1);

        // fresh: no commits, so no hash, no ref, and an honest record with null summaries.
        write(fresh, 'x.txt', 'x\n');
        const freshChanges = await auditor.recordRepoChanges(repos[2]!);
        assert.equal(freshChanges.ref, null);
        assert.equal(freshChanges.audit.commitHash, null);
        assert.equal(freshChanges.audit.gitStatusSummary, null);
        assert.equal(freshChanges.audit.linesAdded, null);

        const push = await auditor.recordRepoPush(repos[0]!, 'feature/b');
        assert.deepEqual([push.eventType, push.payload], ['repo_push', { branch: 'feature/b', remote: 'origin' }]);
        const push2 = await auditor.recordRepoPush(repos[1]!, 'main', 'upstream');
        assert.deepEqual(push2.payload, { branch: 'main', remote: 'upstream' });

        const repoError = await auditor.recordError('tests failed', { repo: repos[1]!, operation: 'test' });
        assert.deepEqual(
          [repoError.eventType, repoError.level, repoError.status, repoError.errorMessage, repoError.repoId],
          ['repo_test_error', 'error', 'failed', 'tests failed', 'org/web'],
        );
        const taskError = await auditor.recordError('runner crashed');
        assert.deepEqual([taskError.eventType, taskError.operation, taskError.repoId], ['execute_error', 'execute', null]);

        const done = await auditor.recordCompletion('failed', 'tests failed');
        assert.deepEqual([done.eventType, done.level, done.status, done.errorMessage], ['task_complete', 'error', 'failed', 'tests failed']);
        const ok = await new TaskRunnerAuditor('task-43', { ledger }).recordCompletion('success');
        assert.deepEqual([ok.level, ok.errorMessage], ['info', null]);

        const audits = new TaskAuditService(ledger);
        const events = (await audits.getTaskAudits('task-42')).map((a) => a.eventType).reverse();
        assert.deepEqual(events, [
          'task_start',
          'repo_read',
          'repo_write',
          'repo_commit',
          'repo_commit',
          'repo_commit',
          'repo_push',
          'repo_push',
          'repo_test_error',
          'execute_error',
          'task_complete',
        ]);
        assert.deepEqual((await audits.getRepoAudits('org/web')).map((a) => a.eventType), ['repo_test_error', 'repo_push', 'repo_commit']);
        const artifacts = new TaskArtifactService(ledger);
        assert.deepEqual((await artifacts.getArtifactsByRef('commit', apiHead)).map((r) => [r.taskId, r.repoId]), [['task-42', 'org/api']]);
        await assertConsistent(ledger);
      } finally {
        await ledger.close();
      }
    });

    it('refuses bad arguments with coded errors', async () => {
      const ledger = await openLedger({ url: await backend.freshUrl() });
      try {
        assert.throws(() => new TaskRunnerAuditor('', { ledger }), isCode('invalid_argument'));
        assert.throws(() => new TaskRunnerAuditor('t', { ledger, onFailure: 'ignore' as never }), isCode('invalid_argument'));
        const auditor = new TaskRunnerAuditor('t', { ledger });
        await assert.rejects(auditor.recordRepoWrite({ repoId: '', path: '/x' }, []), isCode('invalid_argument'));
        await assert.rejects(auditor.recordStart('nope' as never), isCode('invalid_argument'));
        await assert.rejects(auditor.recordError(''), isCode('invalid_argument'));
        assert.equal((await ledger.head()).size, 0);
      } finally {
        await ledger.close();
      }
    });

    it('replays a spool holding events that had already committed exactly once', async () => {
      const ledger = await openLedger({ url: await backend.freshUrl() });
      try {
        const spoolPath = join(tempDir(), 'spool', 't.jsonl');
        const auditor = new TaskRunnerAuditor('t', { ledger, onFailure: 'spool', spoolPath });
        // As if the database committed these but the acknowledgement was lost.
        const committed = auditor.audits.prepareOperation({ taskId: 't', operation: 'one' });
        await auditor.audits.write(committed);
        const ref = auditor.artifacts.prepareRef({ taskId: 't', repoId: 'r', refType: 'commit', refValue: 'c' });
        await auditor.artifacts.write(ref);
        const spool = new Spool(spoolPath);
        const later = auditor.audits.prepareOperation({ taskId: 't', operation: 'two' });
        await spool.append([
          { table: 'task_audits', record: committed },
          { table: 'task_artifact_ref', record: ref },
          { table: 'task_audits', record: later },
        ]);
        assert.equal(auditor.pendingCount(), 3);
        assert.equal(await auditor.flush(), 3);
        assert.equal(auditor.pendingCount(), 0);
        assert.equal(existsSync(spoolPath), false);
        assert.deepEqual(await chainKinds(ledger), [`task_audits/${committed.id}`, `task_artifact_ref/${ref.id}`, `task_audits/${later.id}`]);
        assert.deepEqual((await auditor.audits.getTaskAudits('t')).map((a) => a.operation), ['two', 'one']);
        await assertConsistent(ledger);
      } finally {
        await ledger.close();
      }
    });
  });
}

describe('spool file', () => {
  it('survives a torn last line and keeps appending on a fresh line', async () => {
    const path = join(tempDir(), 'deep', 'dir', 's.jsonl');
    const spool = new Spool(path);
    const audits = new TaskAuditService(null as never);
    const a = audits.prepareOperation({ taskId: 't', operation: 'a' });
    const b = audits.prepareOperation({ taskId: 't', operation: 'b' });
    await spool.append([{ table: 'task_audits', record: a }]);
    appendFileSync(path, '{"v":1,"table":"task_au'); // a crash mid-append
    assert.deepEqual(spool.read().map((e) => e.record.id), [a.id]);
    await spool.append([{ table: 'task_audits', record: b }]);
    assert.deepEqual(spool.read().map((e) => e.record.id), [a.id, b.id]);
    assert.ok(readFileSync(path, 'utf8').endsWith('\n'));
  });

  it('reports a corrupt spool loudly instead of skipping events', () => {
    const path = join(tempDir(), 's.jsonl');
    appendFileSync(path, 'not json\n{"v":1}\n');
    assert.throws(() => new Spool(path).read(), isCode('spool_failed'));
  });

  it('fails with spool_failed when the spool cannot be written', async () => {
    const dir = tempDir();
    appendFileSync(join(dir, 'file'), 'x');
    const spool = new Spool(join(dir, 'file', 'under-a-file.jsonl'));
    const record = new TaskAuditService(null as never).prepareOperation({ taskId: 't', operation: 'a' });
    await assert.rejects(spool.append([{ table: 'task_audits', record }]), isCode('spool_failed'));
  });
});

/** Makes a PostgreSQL database unreachable (renamed away) and back, like a server going down. */
class DatabaseSwitch {
  private readonly name: string;

  constructor(url: string) {
    this.name = new URL(url).pathname.slice(1);
  }

  async cut(): Promise<void> {
    await this.admin(async (admin) => {
      for (let attempt = 0; ; attempt++) {
        await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [this.name]);
        try {
          await admin.query(`ALTER DATABASE ${this.name} RENAME TO ${this.name}_off`);
          return;
        } catch (err) {
          if (attempt > 50) throw err;
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    });
  }

  async restore(): Promise<void> {
    await this.admin((admin) => admin.query(`ALTER DATABASE ${this.name}_off RENAME TO ${this.name}`));
  }

  private async admin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
    const admin = new pg.Client({ connectionString: adminUrl() });
    await admin.connect();
    try {
      return await fn(admin);
    } finally {
      await admin.end();
    }
  }
}

describe('TaskRunnerAuditor when PostgreSQL becomes unreachable mid-task', () => {
  it('raises database_unreachable by default', async () => {
    const url = await postgresUrl();
    const ledger = await openLedger({ url });
    const db = new DatabaseSwitch(url);
    try {
      const auditor = new TaskRunnerAuditor('t', { ledger });
      await auditor.recordStart([]);
      await db.cut();
      try {
        await assert.rejects(auditor.recordRepoWrite({ repoId: 'r', path: '/x' }, ['a']), isCode('database_unreachable'));
      } finally {
        await db.restore();
      }
      await auditor.recordCompletion('success');
      assert.deepEqual((await auditor.audits.getTaskAudits('t')).map((a) => a.eventType), ['task_complete', 'task_start']);
    } finally {
      await ledger.close();
    }
  });

  it('spools events while the database is down and replays each exactly once, in order, when it is back', async () => {
    const url = await postgresUrl();
    const ledger = await openLedger({ url });
    const db = new DatabaseSwitch(url);
    const spoolPath = join(tempDir(), 'spool.jsonl');
    try {
      const repo = { repoId: 'org/api', path: repoWith({ 'a.txt': lines(3) }) };
      const auditor = new TaskRunnerAuditor('t', { ledger, onFailure: 'spool', spoolPath });
      const written = [await auditor.recordStart([repo]), await auditor.recordRepoRead(repo, ['a.txt'])];

      await db.cut();
      let offline: [TaskAudit, RepoChangesResult, TaskAudit];
      try {
        write(repo.path, 'a.txt', lines(5));
        const head = commitAll(repo.path, 'change');
        offline = [
          await auditor.recordRepoWrite(repo, ['a.txt']),
          await auditor.recordRepoChanges(repo, { message: 'change' }),
          await auditor.recordError('flaky network', { repo }),
        ];
        assert.equal(offline[1].ref!.refValue, head);
        assert.equal(auditor.pendingCount(), 4);
        // Still down: a flush raises and keeps everything.
        await assert.rejects(auditor.flush(), isCode('database_unreachable'));
        assert.equal(auditor.pendingCount(), 4);
      } finally {
        await db.restore();
      }

      // The next event first replays the spool, then goes in behind it.
      const done = await auditor.recordCompletion('success');
      assert.equal(auditor.pendingCount(), 0);
      assert.equal(existsSync(spoolPath), false);

      const [w, changes, err] = offline;
      const expected = [
        `task_audits/${written[0]!.id}`,
        `task_audits/${written[1]!.id}`,
        `task_audits/${w.id}`,
        `task_audits/${changes.audit.id}`,
        `task_artifact_ref/${changes.ref!.id}`,
        `task_audits/${err.id}`,
        `task_audits/${done.id}`,
      ];
      assert.deepEqual(await chainKinds(ledger), expected);
      const stored = (await auditor.audits.getTaskAudits('t')).reverse();
      assert.deepEqual(
        stored.map((a) => a.eventType),
        ['task_start', 'repo_read', 'repo_write', 'repo_commit', 'repo_execute_error', 'task_complete'],
      );
      assert.deepEqual(stored[3], changes.audit, 'the replayed event is exactly the one recorded while offline');
      assert.equal((await auditor.artifacts.getTaskArtifacts('t')).length, 1);

      await assertConsistent(ledger);
    } finally {
      await ledger.close();
    }
  });
});
