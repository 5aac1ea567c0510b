/** `sealtrail tasks`: which tasks touched which repositories, and which artifacts they reference. */
import type { Command } from 'commander';
import { SealtrailError } from '../../core/errors.js';
import { openLedger, type Ledger } from '../../ledger/ledger.js';
import type { ArtifactRef, RefType, TaskAudit } from '../../tasks/rows.js';
import { TaskArtifactService } from '../../tasks/task-artifact-service.js';
import { TaskAuditService } from '../../tasks/task-audit-service.js';
import { importAgentosDatabase } from '../../tasks/agentos-import.js';
import type { CommandContext, WithContext } from '../program.js';

interface AuditsOptions {
  repo?: string;
  type?: string;
  limit?: string;
}

export function register(program: Command, withContext: WithContext): void {
  const tasks = program.command('tasks').description('task and repository audit: what every automated task did to every repository');

  tasks
    .command('audits <taskId>')
    .description("a task's audit events, newest first")
    .option('--repo <repoId>', 'only events in this repository')
    .option('--type <eventType>', 'only events of this type (e.g. repo_commit)')
    .option('--limit <n>', 'at most n events, 1..500', '100')
    .action(
      withContext<AuditsOptions>((ctx, { args, opts }) =>
        withLedger(ctx, async (ledger) => {
          const audits = await new TaskAuditService(ledger).getTaskAudits(args[0]!, {
            repoId: opts.repo,
            eventType: opts.type,
            limit: parseLimit(opts.limit),
          });
          ctx.out.result(() => renderAudits(audits), { audits });
          return 0;
        }),
      ),
    );

  tasks
    .command('repo <repoId>')
    .description("every task's audit events in one repository, newest first")
    .option('--limit <n>', 'at most n events, 1..500', '100')
    .action(
      withContext<{ limit?: string }>((ctx, { args, opts }) =>
        withLedger(ctx, async (ledger) => {
          const audits = await new TaskAuditService(ledger).getRepoAudits(args[0]!, { limit: parseLimit(opts.limit) });
          ctx.out.result(() => renderAudits(audits), { audits });
          return 0;
        }),
      ),
    );

  tasks
    .command('artifacts <taskId>')
    .description("a task's artifact references (commits, branches, PRs, patches, files, tags)")
    .option('--repo <repoId>', 'only references in this repository')
    .option('--type <refType>', 'only references of this type: commit, branch, pr, patch, file or tag')
    .action(
      withContext<{ repo?: string; type?: string }>((ctx, { args, opts }) =>
        withLedger(ctx, async (ledger) => {
          const artifacts = await new TaskArtifactService(ledger).getTaskArtifacts(args[0]!, {
            repoId: opts.repo,
            refType: opts.type as RefType | undefined,
          });
          ctx.out.result(() => renderRefs(artifacts), { artifacts });
          return 0;
        }),
      ),
    );

  tasks
    .command('by-ref <type> <value>')
    .description('every task that references a commit, branch, PR, patch, file or tag')
    .action(
      withContext((ctx, { args }) =>
        withLedger(ctx, async (ledger) => {
          const artifacts = await new TaskArtifactService(ledger).getArtifactsByRef(args[0] as RefType, args[1]!);
          ctx.out.result(() => renderRefs(artifacts), { artifacts });
          return 0;
        }),
      ),
    );

  tasks
    .command('import')
    .description('adopt an existing agentos task-audit database: its task_audits and task_artifact_ref rows, ids and timestamps kept, each chained; a second run changes nothing; exit 2 if some rows could not be imported (they are listed, the rest are in)')
    .requiredOption('--agentos <file>', 'the agentos SQLite database (opened read-only)')
    .action(
      withContext<{ agentos: string }>((ctx, { opts }) =>
        withLedger(ctx, async (ledger) => {
          const report = await importAgentosDatabase(ledger, opts.agentos);
          for (const p of report.problems) ctx.out.note(`not imported: ${p.table} ${p.id}: ${p.reason}`);
          const line = (name: string, c: typeof report.audits) => `${name}: ${c.imported} imported, ${c.existing} already present, ${c.failed} not imported (of ${c.read})`;
          ctx.out.result(() => [line('task_audits', report.audits), line('task_artifact_ref', report.artifacts)].join('\n'), report);
          return report.problems.length === 0 ? 0 : 2;
        }),
      ),
    );
}

async function withLedger(ctx: CommandContext, fn: (ledger: Ledger) => Promise<0 | 1 | 2>): Promise<0 | 1 | 2> {
  // Reading never creates or upgrades a schema.
  const ledger = await openLedger({ url: ctx.config.db, maxPayloadBytes: ctx.config.maxPayloadBytes, migrate: false });
  try {
    return await fn(ledger);
  } finally {
    await ledger.close();
  }
}

function parseLimit(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text)) {
    throw new SealtrailError('invalid_limit', 'limit must be an integer from 1 to 500', { details: { limit: text, max: 500 } });
  }
  return Number(text);
}

function renderAudits(audits: TaskAudit[]): string {
  if (audits.length === 0) return 'no audit events';
  return table(
    ['CREATED', 'TASK', 'REPO', 'EVENT', 'LEVEL', 'STATUS', 'FILES', '+', '-', 'COMMIT', 'ERROR'],
    audits.map((a) => [
      a.createdAt,
      a.taskId,
      a.repoId ?? '-',
      a.eventType,
      a.level,
      a.status,
      String(a.filesChanged.length),
      a.linesAdded === null ? '?' : String(a.linesAdded),
      a.linesDeleted === null ? '?' : String(a.linesDeleted),
      a.commitHash === null ? '-' : a.commitHash.slice(0, 12),
      a.errorMessage ?? '',
    ]),
  );
}

function renderRefs(refs: ArtifactRef[]): string {
  if (refs.length === 0) return 'no artifact references';
  return table(
    ['CREATED', 'TASK', 'REPO', 'TYPE', 'VALUE', 'SUMMARY'],
    refs.map((r) => [r.createdAt, r.taskId, r.repoId, r.refType, r.refValue, r.summary ?? '']),
  );
}

/** Left-aligned columns; cell text is flattened to one line so a row stays a row. */
function table(header: string[], rows: string[][]): string {
  const cells = [header, ...rows.map((row) => row.map((cell) => cell.replace(/\s*[\r\n]+\s*/g, ' ')))];
  const widths = header.map((_, i) => Math.max(...cells.map((row) => (row[i] ?? '').length)));
  return cells.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n');
}
