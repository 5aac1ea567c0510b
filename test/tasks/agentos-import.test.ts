import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { runCli } from '../../src/cli/program.js';
import { scanCapture } from '../../src/capture/capture.js';
import { openLedger } from '../../src/ledger/ledger.js';
import { taskScanTargets } from '../../src/tasks/scan-targets.js';
import { TaskArtifactService } from '../../src/tasks/task-artifact-service.js';
import { TaskAuditService } from '../../src/tasks/task-audit-service.js';
import { BACKENDS, tempDir } from '../helpers/databases.js';

/** An agentos-style task-audit database: details in the audit payload JSON, refs in their own table. */
function agentosFixture(): string {
  const path = join(tempDir(), 'agentos.db');
  const db = new Database(path);
  db.exec(`
    CREATE TABLE task_audits (id INTEGER PRIMARY KEY, task_id TEXT NOT NULL, repo_id TEXT, level TEXT, event_type TEXT NOT NULL, payload TEXT, created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP);
    CREATE TABLE task_artifact_ref (id INTEGER PRIMARY KEY, task_id TEXT NOT NULL, repo_id TEXT NOT NULL, ref_type TEXT NOT NULL, ref_value TEXT NOT NULL, summary TEXT, metadata TEXT, created_at TEXT NOT NULL);
  `);
  const audit = db.prepare('INSERT INTO task_audits (id, task_id, repo_id, level, event_type, payload, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)');
  audit.run(1, 'task-1', null, 'info', 'task_start', JSON.stringify({ agent: 'coder' }), '2026-03-01 10:00:00');
  audit.run(
    2,
    'task-1',
    'org/api',
    'info',
    'repo_write',
    JSON.stringify({ operation: 'write', status: 'success', files_changed: ['a.ts', 'b.ts'], lines: { added: 12, deleted: 3 }, git_status_summary: ' M a.ts', git_diff_summary: '2 files changed', commit_hash: 'abc123', tool: 'edit' }),
    '2026-03-01 10:05:00.250',
  );
  audit.run(3, 'task-1', 'org/api', 'error', 'repo_push', JSON.stringify({ operation: 'push', error: 'rejected: non-fast-forward' }), '2026-03-01T10:06:00Z');
  audit.run(4, 'task-2', 'org/web', 'info', 'repo_read', '{not json', '2026-03-01 11:00:00');
  const ref = db.prepare('INSERT INTO task_artifact_ref (id, task_id, repo_id, ref_type, ref_value, summary, metadata, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
  ref.run(10, 'task-1', 'org/api', 'commit', 'abc123', 'feat: x', JSON.stringify({ author: 'bot' }), '2026-03-01 10:05:01');
  ref.run(11, 'task-1', 'org/api', 'pull_request', '42', null, null, '2026-03-01 10:07:00');
  ref.run(12, 'task-1', 'org/api', 'wiki', 'Home', null, null, '2026-03-01 10:08:00');
  ref.run(13, 'task-2', 'org/web', 'branch', 'main', null, '{bad', '2026-03-01 11:01:00');
  db.close();
  return path;
}

async function cli(args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const status = await runCli(args, { env: {}, stdout: { write: (t: string) => (stdout += t) }, stderr: { write: (t: string) => (stderr += t) } });
  return { status, stdout, stderr };
}

for (const backend of BACKENDS) {
  describe(`sealtrail tasks import --agentos on ${backend.name}`, () => {
    it('maps and chains every importable row, keeps ids and timestamps, reports the rest, and is idempotent', async () => {
      const db = await backend.freshUrl();
      const agentos = agentosFixture();
      assert.equal((await cli(['init', '--db', db])).status, 0);

      const first = await cli(['tasks', 'import', '--agentos', agentos, '--db', db, '--json']);
      assert.equal(first.status, 2, 'some rows could not be imported');
      const report = JSON.parse(first.stdout) as { audits: Record<string, number>; artifacts: Record<string, number>; problems: Array<{ table: string; id: string; reason: string }> };
      assert.deepEqual(report.audits, { read: 4, imported: 3, existing: 0, failed: 1 });
      assert.deepEqual(report.artifacts, { read: 4, imported: 2, existing: 0, failed: 2 });
      assert.deepEqual(
        report.problems.map((p) => [p.table, p.id]),
        [
          ['task_audits', '4'],
          ['task_artifact_ref', '12'],
          ['task_artifact_ref', '13'],
        ],
      );
      assert.match(report.problems[0]!.reason, /payload is not valid JSON/);
      assert.match(report.problems[1]!.reason, /unknown ref type "wiki"/);
      assert.match(first.stderr, /not imported: task_artifact_ref 12/);

      const ledger = await openLedger({ url: db, migrate: false });
      try {
        const audits = await new TaskAuditService(ledger).getTaskAudits('task-1');
        assert.deepEqual(audits.map((a) => a.id), ['3', '2', '1']);
        const write = audits[1]!;
        assert.equal(write.createdAt, '2026-03-01T10:05:00.250Z');
        assert.deepEqual([write.operation, write.status, write.eventType, write.filesChanged, write.linesAdded, write.linesDeleted, write.commitHash], ['write', 'success', 'repo_write', ['a.ts', 'b.ts'], 12, 3, 'abc123']);
        assert.deepEqual([write.gitStatusSummary, write.gitDiffSummary, write.payload], [' M a.ts', '2 files changed', { tool: 'edit' }]);
        assert.deepEqual([audits[0]!.status, audits[0]!.errorMessage, audits[0]!.level], ['error', 'rejected: non-fast-forward', 'error']);
        assert.deepEqual([audits[2]!.operation, audits[2]!.repoId, audits[2]!.payload], ['task_start', null, { agent: 'coder' }]);
        const refs = await new TaskArtifactService(ledger).getTaskArtifacts('task-1');
        assert.deepEqual(refs.map((r) => [r.id, r.refType, r.refValue, r.metadata]), [
          ['11', 'pr', '42', null],
          ['10', 'commit', 'abc123', { author: 'bot' }],
        ]);
        const size = (await ledger.head()).size;
        assert.equal((await ledger.verify()).ok, true);
        const scan = await scanCapture(ledger.store, (q) => taskScanTargets(q));
        assert.deepEqual(scan.findings, [], 'every imported row is chained exactly as stored');

        const second = await cli(['tasks', 'import', '--agentos', agentos, '--db', db, '--json']);
        const again = JSON.parse(second.stdout) as typeof report;
        assert.deepEqual(again.audits, { read: 4, imported: 0, existing: 3, failed: 1 });
        assert.deepEqual(again.artifacts, { read: 4, imported: 0, existing: 2, failed: 2 });
        assert.equal((await ledger.head()).size, size, 'a second run appends nothing');
      } finally {
        await ledger.close();
      }
    });

    it('refuses a file that is not an agentos database, writing nothing', async () => {
      const db = await backend.freshUrl();
      assert.equal((await cli(['init', '--db', db])).status, 0);
      const other = join(tempDir(), 'other.db');
      new Database(other).exec('CREATE TABLE x (a)');
      const r = await cli(['tasks', 'import', '--agentos', other, '--db', db]);
      assert.equal(r.status, 2);
      assert.match(r.stderr, /not an agentos database.*\[invalid_argument\]/);
      const missing = await cli(['tasks', 'import', '--agentos', join(tempDir(), 'nope.db'), '--db', db]);
      assert.equal(missing.status, 2);
      assert.match(missing.stderr, /\[invalid_argument\]/);
    });
  });
}
