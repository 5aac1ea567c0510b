import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { openLedger } from '../../src/ledger/ledger.js';
import { TaskArtifactService } from '../../src/tasks/task-artifact-service.js';
import { TaskAuditService } from '../../src/tasks/task-audit-service.js';
import { BACKENDS } from '../helpers/databases.js';
import { cli } from '../helpers/cli.js';

for (const backend of BACKENDS) {
  describe(`sealtrail tasks on ${backend.name}`, () => {
    it('lists audits and artifacts as tables and as JSON', async () => {
      const db = await backend.freshUrl();
      const ledger = await openLedger({ url: db });
      try {
        const audits = new TaskAuditService(ledger);
        await audits.recordOperation({ taskId: 't1', repoId: 'org/api', operation: 'write', filesChanged: ['a.ts'], linesAdded: 4 });
        await audits.recordOperation({ taskId: 't1', repoId: 'org/web', operation: 'push', errorMessage: 'line one\nline two' });
        await audits.recordOperation({ taskId: 't2', repoId: 'org/api', operation: 'read' });
        const artifacts = new TaskArtifactService(ledger);
        await artifacts.createCommitRef({ taskId: 't1', repoId: 'org/api', commitHash: 'abc123', summary: 'feat' });
        await artifacts.createCommitRef({ taskId: 't2', repoId: 'org/api', commitHash: 'abc123' });
      } finally {
        await ledger.close();
      }

      const table = await cli(['tasks', 'audits', 't1', '--db', db]);
      assert.equal(table.status, 0, table.stderr);
      const rows = table.stdout.trimEnd().split('\n');
      assert.match(rows[0]!, /^CREATED\s+TASK\s+REPO\s+EVENT/);
      assert.equal(rows.length, 3);
      assert.match(rows[1]!, /org\/web\s+repo_push.*line one line two$/);
      assert.match(rows[2]!, /org\/api\s+repo_write\s+info\s+success\s+1\s+4\s+0/);

      const json = await cli(['tasks', 'audits', 't1', '--repo', 'org/api', '--json', '--db', db]);
      const doc = JSON.parse(json.stdout) as { audits: Array<{ eventType: string; filesChanged: string[] }> };
      assert.deepEqual(doc.audits.map((a) => [a.eventType, a.filesChanged]), [['repo_write', ['a.ts']]]);
      const typed = JSON.parse((await cli(['tasks', 'audits', 't1', '--type', 'repo_push', '--json', '--db', db])).stdout) as { audits: unknown[] };
      assert.equal(typed.audits.length, 1);

      const repo = JSON.parse((await cli(['tasks', 'repo', 'org/api', '--limit', '1', '--json', '--db', db])).stdout) as { audits: Array<{ taskId: string }> };
      assert.deepEqual(repo.audits.map((a) => a.taskId), ['t2']);

      const arts = await cli(['tasks', 'artifacts', 't1', '--type', 'commit', '--db', db]);
      assert.match(arts.stdout, /t1\s+org\/api\s+commit\s+abc123\s+feat/);
      const byRef = JSON.parse((await cli(['tasks', 'by-ref', 'commit', 'abc123', '--json', '--db', db])).stdout) as { artifacts: Array<{ taskId: string }> };
      assert.deepEqual(byRef.artifacts.map((a) => a.taskId).sort(), ['t1', 't2']);
      assert.match((await cli(['tasks', 'audits', 'nobody', '--db', db])).stdout, /^no audit events/);
    });

    it('answers bad limits and ref types with coded errors', async () => {
      const db = await backend.freshUrl();
      await (await openLedger({ url: db })).close();
      for (const limit of ['0', '501', 'ten', '-1']) {
        const r = await cli(['tasks', 'audits', 't', '--limit', limit, '--json', '--db', db]);
        assert.equal(r.status, 2);
        assert.equal((JSON.parse(r.stdout) as { error: { code: string } }).error.code, 'invalid_limit', limit);
      }
      const bad = await cli(['tasks', 'by-ref', 'issue', '1', '--json', '--db', db]);
      assert.equal(bad.status, 2);
      assert.equal((JSON.parse(bad.stdout) as { error: { code: string } }).error.code, 'invalid_ref_type');
      // Nothing recorded yet: empty answers, and reading created no task tables.
      const empty = await cli(['tasks', 'by-ref', 'commit', 'x', '--json', '--db', db]);
      assert.deepEqual(JSON.parse(empty.stdout), { artifacts: [] });
    });
  });
}
