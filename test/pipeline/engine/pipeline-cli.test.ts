/**
 * The `sealtrail pipeline` commands in real child processes: the README example runs end to end;
 * SIGINT stops after the current row with the run `interrupted` and an empty sweep; SIGKILL leaves
 * the run `running` until its lease expires, after which `sealtrail runs` marks it abandoned and
 * `sealtrail sweep` names exactly the tokens that were in flight (every other one is complete).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openLedger } from '../../../src/ledger/ledger.js';
import { sweepRun } from '../../../src/pipeline/audit-sweep.js';
import { PipelineRecorder } from '../../../src/pipeline/pipeline-recorder.js';
import { sqliteUrl, tempDir } from '../../helpers/databases.js';
import { assertSweepEmpty } from './engine-fixtures.js';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const mainTs = join(repo, 'src', 'cli', 'main.ts');
const tsxLoader = import.meta.resolve('tsx');

function start(args: string[], cwd: string): { child: ChildProcess; done: Promise<{ status: number | null; signal: string | null; stdout: string; stderr: string }> } {
  const child = spawn(process.execPath, ['--import', tsxLoader, mainTs, ...args], { cwd, env: { PATH: process.env.PATH ?? '' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const done = new Promise<{ status: number | null; signal: string | null; stdout: string; stderr: string }>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (status, signal) => resolve({ status, signal, stdout, stderr }));
  });
  return { child, done };
}

async function until(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 1200; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`gave up waiting for ${what}`);
}

/** A long input (so the run is still going when signalled) and settings writing jsonl every 100 rows. */
function longPipeline(): string {
  const dir = tempDir('sealtrail-cli-pipe-');
  writeFileSync(join(dir, 'in.csv'), `id,v\n${Array.from({ length: 50_000 }, (_, i) => `${i},${i % 7}`).join('\n')}\n`);
  writeFileSync(
    join(dir, 'p.yaml'),
    `source: { plugin: csv, on_success: raw, options: { path: in.csv, on_validation_failure: discard, schema: { fields: { id: int, v: int } } } }
transforms:
  - { name: t, plugin: passthrough, input: raw, on_success: out, on_error: discard }
sinks:
  out: { plugin: json, options: { path: out.jsonl } }
`,
  );
  return dir;
}

describe('sealtrail pipeline (CLI, child processes, SQLite)', () => {
  it('runs the README example: exit 0, outcomes by sink, empty sweep', async () => {
    const dir = tempDir('sealtrail-cli-example-');
    cpSync(join(repo, 'examples', 'pipeline'), dir, { recursive: true, filter: (src) => !src.includes('output') && !src.includes('.sealtrail-payloads') });
    const db = sqliteUrl();
    const { done } = start(['pipeline', 'run', join(dir, 'settings.yaml'), '--db', db, '--json'], dir);
    const r = await done;
    assert.equal(r.status, 0, r.stderr);
    const { run } = JSON.parse(r.stdout) as { run: { runId: string; status: string; written: Record<string, number> } };
    assert.equal(run.status, 'completed');
    assert.deepEqual(run.written, { large: 3, small: 3, flagged: 1, quarantine: 1 });
    assert.ok(existsSync(join(dir, 'output', 'large.csv')));
    const sweep = await start(['sweep', '--run', run.runId, '--db', db], dir).done;
    assert.equal(sweep.status, 0, sweep.stdout + sweep.stderr);
    assert.match(sweep.stdout, /sweep: ok/);
  });

  it('refuses bad settings with the YAML path, exit 2, nothing recorded', async () => {
    const dir = tempDir('sealtrail-cli-bad-');
    writeFileSync(join(dir, 'p.yaml'), 'source: { plugin: csv, on_success: nowhere, options: { path: x.csv, on_validation_failure: discard } }\nsinks: { out: { plugin: json, options: { path: o.jsonl } } }\n');
    const db = sqliteUrl();
    const r = await start(['pipeline', 'run', join(dir, 'p.yaml'), '--db', db], dir).done;
    assert.equal(r.status, 2);
    assert.match(r.stderr, /source\.on_success: .*\[pipeline_settings_invalid\]/);
    assert.equal(existsSync(db), false, 'no database was even created');
  });

  it('SIGINT stops after the current row: run interrupted, what was read is written, sweep empty', async () => {
    const dir = longPipeline();
    const db = sqliteUrl();
    const { child, done } = start(['pipeline', 'run', join(dir, 'p.yaml'), '--db', db, '--json'], dir);
    await until('the first sink write', () => existsSync(join(dir, 'out.jsonl')));
    child.kill('SIGINT');
    const r = await done;
    assert.equal(r.status, 0, r.stderr);
    const { run } = JSON.parse(r.stdout) as { run: { runId: string; status: string; rowsRead: number; written: Record<string, number> } };
    assert.equal(run.status, 'interrupted');
    assert.ok(run.rowsRead < 50_000);
    assert.equal(run.written.out, run.rowsRead, 'every row read was written before stopping');
    const ledger = await openLedger({ url: db });
    try {
      assert.equal((await new PipelineRecorder(ledger).getRun(run.runId))!.status, 'interrupted');
      await assertSweepEmpty(ledger, run.runId);
    } finally {
      await ledger.close();
    }
  });

  it('SIGKILL: the run is marked abandoned once its lease expires, and the sweep names exactly the unfinished tokens', async () => {
    const dir = longPipeline();
    const db = sqliteUrl();
    const { child, done } = start(['pipeline', 'run', join(dir, 'p.yaml'), '--db', db, '--lease-seconds', '1'], dir);
    // A second write has begun only after the first one's outcomes were all recorded.
    await until('a second sink write', () => existsSync(join(dir, 'out.jsonl')) && readFileSync(join(dir, 'out.jsonl'), 'utf8').split('\n').length > 150);
    child.kill('SIGKILL');
    assert.equal((await done).signal, 'SIGKILL');
    const ledger = await openLedger({ url: db });
    try {
      const recorder = new PipelineRecorder(ledger);
      const [run] = await recorder.listRuns();
      const runId = run!.run_id as string;
      assert.equal(run!.status, 'running', 'nothing marked it yet');
      // Wait (bounded) for the lease to lapse, then let the CLI mark it, as an operator would.
      await until('the lease to expire', () => Date.parse(String(run!.lease_expires_at)) < Date.now());
      await until('the run to be renewed no more', async () => Date.parse(String((await recorder.getRun(runId))!.lease_expires_at)) < Date.now());
      const runs = await start(['runs', '--db', db, '--json'], dir).done;
      assert.equal(runs.status, 0, runs.stderr);
      assert.deepEqual((JSON.parse(runs.stdout) as { abandoned: string[] }).abandoned, [runId]);
      const after = (await recorder.getRun(runId))!;
      assert.equal(after.status, 'abandoned');
      const audit = (await recorder.runAudit(runId)).records;
      const finished = new Set(audit.pipeline_token_outcomes.filter((o) => o.is_terminal === 1).map((o) => o.token_id as string));
      const unfinished = audit.pipeline_tokens.map((t) => t.token_id as string).filter((t) => !finished.has(t)).sort();
      assert.ok(finished.size > 0, 'tokens written before the kill are complete');
      const report = await sweepRun(ledger.store, runId);
      const found = Object.fromEntries(report.queries.filter((q) => q.ids.length > 0).map((q) => [q.query, q.ids]));
      // Rows are recorded in batch units, so the kill may fall between an outcome unit and the next
      // rows' unit (nothing in flight) or after it (tokens pending their sink write): either way the
      // sweep names exactly the tokens without an outcome, and nothing else is wrong.
      assert.deepEqual(Object.keys(found).filter((q) => q !== 'node_state_still_open' && q !== 'operation_still_open'), unfinished.length > 0 ? ['missing_terminal_outcome'] : []);
      assert.deepEqual(found.missing_terminal_outcome ?? [], unfinished);
      // The only open records are the source load (plus the sink write if the kill hit one) and at
      // most the one state of the row being processed.
      assert.ok((found.node_state_still_open ?? []).length <= 1);
      const open = audit.pipeline_operations.filter((o) => o.status === 'open').map((o) => o.operation_type).sort();
      assert.ok(['source_load', 'sink_write,source_load'].includes(open.join(',')), open.join(','));
      assert.deepEqual([...(found.operation_still_open ?? [])].sort(), audit.pipeline_operations.filter((o) => o.status === 'open').map((o) => o.operation_id as string).sort());
    } finally {
      await ledger.close();
    }
  });

  it('SIGKILL mid-run with rows recorded in batch units: every written row is audited, every outcome written, the sweep names exactly the rest', async () => {
    const dir = longPipeline();
    const db = sqliteUrl();
    const { child, done } = start(['pipeline', 'run', join(dir, 'p.yaml'), '--db', db], dir);
    await until('a few sink writes', () => existsSync(join(dir, 'out.jsonl')) && readFileSync(join(dir, 'out.jsonl'), 'utf8').split('\n').length > 350);
    child.kill('SIGKILL');
    assert.equal((await done).signal, 'SIGKILL');
    const ledger = await openLedger({ url: db });
    try {
      const recorder = new PipelineRecorder(ledger);
      const [run] = await recorder.listRuns();
      const runId = run!.run_id as string;
      const audit = (await recorder.runAudit(runId)).records;
      const rowIndex = new Map(audit.pipeline_rows.map((r) => [r.row_id as string, r.row_index as number]));
      const indexOfToken = new Map(audit.pipeline_tokens.map((t) => [t.token_id as string, rowIndex.get(t.row_id as string)!]));
      const written = new Set(readFileSync(join(dir, 'out.jsonl'), 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => (JSON.parse(l) as { id: number }).id));
      const finished = audit.pipeline_token_outcomes.filter((o) => o.is_terminal === 1).map((o) => o.token_id as string);
      assert.ok(finished.length >= 100, 'outcomes of the first writes are recorded');
      // An outcome is recorded only after its sink write: every finished token's row is in the file.
      for (const t of finished) assert.ok(written.has(indexOfToken.get(t)!), `token ${t} has an outcome but its row is not written`);
      // The audit comes before the effect: every row in the file was recorded (its token exists).
      const recordedIndexes = new Set(indexOfToken.values());
      for (const id of written) assert.ok(recordedIndexes.has(id), `row ${id} was written but never recorded`);
      // Rows come whole: every recorded token went through the source and the transform (two completed states).
      for (const t of audit.pipeline_tokens) {
        const states = audit.pipeline_node_states.filter((s) => s.token_id === t.token_id && s.status === 'completed');
        assert.ok(states.length >= 2, `token ${String(t.token_id)} is half-recorded`);
      }
      const finishedSet = new Set(finished);
      const unfinished = audit.pipeline_tokens.map((t) => t.token_id as string).filter((t) => !finishedSet.has(t)).sort();
      const report = await sweepRun(ledger.store, runId);
      const found = Object.fromEntries(report.queries.filter((q) => q.ids.length > 0).map((q) => [q.query, q.ids]));
      assert.deepEqual(found.missing_terminal_outcome ?? [], unfinished);
      assert.deepEqual(Object.keys(found).filter((q) => !['missing_terminal_outcome', 'node_state_still_open', 'operation_still_open'].includes(q)), []);
      assert.equal((await ledger.verify()).ok, true);
    } finally {
      await ledger.close();
    }
  });
});
