/// <reference lib="dom" />
/**
 * The web explorer in a real browser (Debian's chromium through playwright-core) against
 * `sealtrail serve` on loopback over a seeded SQLite ledger: sign-in, entries, an entry's proof
 * checked on the page (and failing once the entry is tampered with in the database), the live
 * tail, a filtered CSV export, a task's audits and checkpoints. Every view gets an axe check
 * (WCAG 2 AA) and a screenshot under test-output/explorer/. Skipped, saying so, without chromium.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { generateSignerKey, NoteSigner } from '../../src/core/note.js';
import { openLedger } from '../../src/ledger/ledger.js';
import { createToken } from '../../src/server/api-tokens.js';
import { TaskAuditService } from '../../src/tasks/task-audit-service.js';
import { TaskArtifactService } from '../../src/tasks/task-artifact-service.js';
import { issueCheckpoint } from '../../src/anchor/publish.js';
import { explain } from '../../src/pipeline/lineage.js';
import { PipelineRecorder } from '../../src/pipeline/pipeline-recorder.js';
import { lifecycle, linearRun } from '../pipeline/pipeline-fixtures.js';
import { sqliteUrl, tempDir } from '../helpers/databases.js';

const CHROMIUM = '/usr/bin/chromium';
const repo = fileURLToPath(new URL('../../', import.meta.url));
const mainTs = join(repo, 'src/cli/main.ts');
const shots = join(repo, 'test-output', 'explorer');
const present = existsSync(CHROMIUM);
if (!present) console.log(`# SKIPPED the web explorer browser tests: ${CHROMIUM} is absent (apt-get install -y chromium)`);

describe('web explorer in chromium', { skip: present ? false : `${CHROMIUM} is absent: install Debian's chromium to run the browser tests` }, () => {
  let child: ChildProcess;
  let base = '';
  let db = '';
  let signerKeyText = '';
  let tokens: { reader: string; writer: string; admin: string };
  let context: BrowserContext;
  let page: Page;
  const axe = readFileSync(join(repo, 'node_modules/axe-core/axe.min.js'), 'utf8');

  before(async () => {
    // The explorer as `npm run build` makes it, from the sources under test.
    execFileSync(process.execPath, [join(repo, 'node_modules/vite/bin/vite.js'), 'build', '--config', join(repo, 'web/vite.config.ts'), '--logLevel', 'warn'], { cwd: repo, stdio: 'inherit' });
    mkdirSync(shots, { recursive: true });
    db = sqliteUrl('explorer.db');
    const ledger = await openLedger({ url: db });
    const { signerKey, verifierKey } = generateSignerKey('explorer.test/log');
    signerKeyText = signerKey;
    try {
      tokens = {
        reader: (await createToken(ledger, { role: 'reader', name: 'auditor' })).token,
        writer: (await createToken(ledger, { role: 'writer', name: 'runner' })).token,
        admin: (await createToken(ledger, { role: 'admin', name: 'operator' })).token,
      };
      const signer = NoteSigner.fromKey(signerKey);
      for (let i = 1; i <= 30; i++) {
        await ledger.append(i % 3 === 0 ? 'refund' : 'order', `o-${i}`, { total: i * 5, currency: 'EUR', note: i === 7 ? 'a "quoted", comma' : 'ok' });
        // Checkpoints at 16 (a power of two: the proof's special case) and 22, then 37 below.
        if (i === 13 || i === 19) await ledger.checkpoint(signer);
      }
      const audits = new TaskAuditService(ledger);
      const artifacts = new TaskArtifactService(ledger);
      await audits.recordOperation({ taskId: 't-1', repoId: 'org/api', operation: 'write', filesChanged: ['src/a.ts', 'src/b.ts'], linesAdded: 12, linesDeleted: 3 });
      await audits.recordOperation({ taskId: 't-1', repoId: 'org/web', operation: 'commit', commitHash: 'abc123def456' });
      await audits.recordOperation({ taskId: 't-1', repoId: 'org/api', operation: 'test', status: 'failure', errorMessage: '2 tests failed' });
      await artifacts.createRef({ taskId: 't-1', repoId: 'org/web', refType: 'commit', refValue: 'abc123def456', summary: 'feat: explorer' });
      await ledger.checkpoint(signer);
    } finally {
      await ledger.close();
    }
    const config = join(dirname(db), 'sealtrail.config.json');
    writeFileSync(config, JSON.stringify({ vkeys: [verifierKey] }));
    child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), mainTs, 'serve', '--db', db, '--port', '0', '--config', config], {
      // Segments of 8 entries, so Verify now reports progress several times on this small ledger.
      env: { PATH: process.env['PATH'] ?? '', SEALTRAIL_VERIFY_SEGMENT_LOG2: '3' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    base = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stderr! }).on('line', (line) => {
        const m = /serving (http:\/\/\S+)/.exec(line);
        if (m) resolve(m[1]!);
      });
      child.on('exit', () => reject(new Error('serve exited before listening')));
    });
    context = await chromium.launchPersistentContext(tempDir('sealtrail-chromium-'), {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
      viewport: { width: 1280, height: 900 },
      acceptDownloads: true,
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(10_000);
    // Nothing the explorer loads may come from another origin.
    page.on('request', (r) => assert.ok(r.url().startsWith(base) || r.url().startsWith('data:') || r.url().startsWith('blob:'), `request left the server: ${r.url()}`));
  });

  after(async () => {
    await context?.close();
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child.on('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
  });

  /** axe-core in the page: no WCAG 2 A/AA violation (contrast included) in the view shown. */
  async function checkAxe(view: string) {
    // Through the debugging protocol: the page's own CSP (script-src 'self') stays in force.
    await page.evaluate(axe);
    const violations = await page.evaluate(async () => {
      const w = window as unknown as { axe: { run(ctx: Document, o: unknown): Promise<{ violations: Array<{ id: string; nodes: Array<{ target: string[] }> }> }> } };
      const r = await w.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21aa'] } });
      return r.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
    });
    assert.deepEqual(violations, [], `axe violations in ${view}`);
  }

  async function shot(name: string) {
    await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
  }

  it('signs in with a token, shows the role and the overview; a bad token is refused', async () => {
    await page.goto(`${base}/`);
    await page.getByLabel('API token').fill('st_not-a-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText('That token is unknown or revoked.').waitFor();
    await shot('sign-in');
    await checkAxe('sign-in');
    await page.getByLabel('API token').fill(tokens.admin);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByTestId('role').filter({ hasText: 'operator (admin)' }).waitFor();
    await page.getByTestId('size').waitFor();
    assert.equal(await page.getByTestId('size').textContent(), '37');
    assert.equal(await page.evaluate(() => sessionStorage.getItem('sealtrail.token') !== null && localStorage.getItem('sealtrail.token') === null), true);
    // Every progress text the page shows, as it shows it.
    await page.evaluate(() => {
      const w = window as unknown as { seen: string[] };
      w.seen = [];
      new MutationObserver(() => {
        const text = document.querySelector('label[for="verify-progress"]')?.textContent ?? '';
        if (text && w.seen[w.seen.length - 1] !== text) w.seen.push(text);
      }).observe(document.body, { subtree: true, childList: true, characterData: true });
    });
    await page.getByRole('button', { name: 'Verify now' }).click();
    await page.getByText('ledger verified').waitFor();
    await page.getByText('Checked 37 of 37 entries').waitFor();
    assert.deepEqual(await page.getByTestId('verify-progress').evaluate((p) => [(p as HTMLProgressElement).value, (p as HTMLProgressElement).max]), [37, 37]);
    const seen = await page.evaluate(() => (window as unknown as { seen: string[] }).seen);
    // The page renders the latest event it has read (events that arrive together render once); the
    // server's several events are asserted in test/server/verify-stream-sinks.test.ts.
    assert.ok(seen.some((t) => /^Checking chain, tree and head: \d+ of 37 entries$/.test(t)), `progress was shown while checking: ${seen.join(' | ')}`);
    await shot('overview');
    await checkAxe('overview');
    // Keyboard: Tab reaches the first control with a visible focus ring.
    await page.keyboard.press('Tab');
    await page.keyboard.press('Tab');
    const outline = await page.evaluate(() => getComputedStyle(document.activeElement!).outlineStyle);
    assert.notEqual(outline, 'none', 'focus is visible');
  });

  it('filters and pages entries through the API, sorted both ways, with deep links', async () => {
    await page.goto(`${base}/#/entries?kind=refund`);
    const rows = page.getByTestId('entry-rows').locator('tbody tr');
    await rows.first().waitFor();
    assert.equal(await rows.count(), 10);
    for (const kind of await rows.locator('td:nth-child(2)').allTextContents()) assert.equal(kind, 'refund');
    await page.getByRole('link', { name: /Seq/ }).click();
    await page.waitForURL(/order=desc/);
    await rows.first().locator('td').first().filter({ hasText: /^33$/ }).waitFor();
    await page.goBack();
    await page.waitForURL((u) => !u.hash.includes('desc'));
    await rows.first().locator('td').first().filter({ hasText: /^6$/ }).waitFor();
    await page.getByLabel('pk').fill('o-12');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.waitForURL(/pk=o-12/);
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=entry-rows] tbody tr').length === 1);
    await shot('entries');
    await checkAxe('entries');
  });

  it('checks an entry’s inclusion proof in the browser, then shows the failure once the entry is tampered with', async () => {
    await page.goto(`${base}/#/entries/10`);
    await page.getByTestId('proof-result').or(page.locator('.problem')).first().waitFor();
    assert.match((await page.locator('main').textContent()) ?? '', /PASS: included in the signed checkpoint/);
    const ms = Number(/in ([\d.]+) ms/.exec((await page.getByTestId('proof-ms').textContent()) ?? '')?.[1]);
    console.log(`# in-browser proof check: ${ms} ms`);
    await shot('entry');
    await checkAxe('entry');
    const download = page.waitForEvent('download');
    await page.getByRole('button', { name: 'Download proof bundle' }).click();
    const bundle = readFileSync((await (await download).path())!, 'utf8');
    assert.match(bundle, /explorer\.test\/log/);

    const sqlite = new Database(db);
    try {
      sqlite.prepare("UPDATE audit_chain SET payload = '{\"currency\":\"EUR\",\"note\":\"ok\",\"total\":1}' WHERE seq = 10").run();
    } finally {
      sqlite.close();
    }
    await page.reload();
    await page.getByText('FAIL: this entry does not check out').waitFor();
    assert.match((await page.getByTestId('proof-result').textContent()) ?? '', /✗ payload → event hash/);
    await shot('entry-tampered');
  });

  it('live tail shows an entry appended meanwhile; pause holds it back until resumed', async () => {
    await page.goto(`${base}/#/entries`);
    await page.getByRole('button', { name: 'Live tail' }).click();
    await page.getByText('live: new entries appear').waitFor();
    const post = (pk: string) =>
      fetch(`${base}/api/events`, { method: 'POST', headers: { authorization: `Bearer ${tokens.writer}`, 'content-type': 'application/json' }, body: JSON.stringify({ kind: 'order', pk, payload: { live: true } }) });
    assert.equal((await post('live-1')).status, 201);
    await page.getByTestId('live-rows').getByText('live-1').waitFor();
    await page.getByRole('button', { name: 'Pause' }).click();
    assert.equal((await post('live-2')).status, 201);
    assert.equal(await page.getByTestId('live-rows').getByText('live-2').count(), 0);
    await page.getByRole('button', { name: 'Resume' }).click();
    await page.getByTestId('live-rows').getByText('live-2').waitFor();
    await shot('live-tail');
  });

  it('exports the current filter as CSV with exactly its rows', async () => {
    await page.goto(`${base}/#/entries?kind=refund`);
    await page.getByTestId('entry-rows').locator('tbody tr').first().waitFor();
    const download = page.waitForEvent('download');
    await page.getByRole('button', { name: 'Export CSV' }).click();
    const csv = readFileSync((await (await download).path())!, 'utf8').trimEnd().split('\r\n');
    assert.equal(csv[0], 'seq,kind,pk,appended_at,event_hash,chain_hash,payload');
    assert.equal(csv.length, 11);
    assert.deepEqual(
      csv.slice(1).map((l) => l.split(',').slice(0, 3).join(',')),
      Array.from({ length: 10 }, (_, i) => `${(i + 1) * 3 + 3},refund,o-${(i + 1) * 3}`),
    );
    await page.getByTestId('export-status').filter({ hasText: 'exported 10 rows' }).waitFor();
  });

  it('browses a task’s audits across repositories, a repository, and the tasks of a commit', async () => {
    await page.goto(`${base}/#/tasks/t-1`);
    const audits = page.getByTestId('audit-rows').first().locator('> li');
    await audits.first().waitFor();
    assert.equal(await audits.count(), 3);
    await page.getByText('2 tests failed').waitFor();
    await shot('task');
    await checkAxe('task');
    await page.getByRole('link', { name: 'org/web' }).first().click();
    await page.waitForURL(/#\/repos\/org%2Fweb/);
    await page.getByText('Audit trail of org/web').waitFor();
    await page.getByRole('link', { name: 'abc123def456' }).first().click();
    await page.getByText('Tasks referencing commit abc123def456').waitFor();
    await page.getByRole('cell', { name: 't-1' }).waitFor();
  });

  it('checks checkpoint signatures and consistency in the browser', async () => {
    await page.goto(`${base}/#/checkpoints`);
    const table = page.getByTestId('checkpoint-rows');
    await table.locator('tbody tr').nth(2).waitFor();
    assert.deepEqual(await table.locator('tbody tr td:first-child').allTextContents(), ['37', '22', '16']);
    assert.equal(await table.getByText('valid', { exact: true }).count(), 3);
    assert.equal(await table.getByText('consistent', { exact: true }).count(), 2);
    assert.equal(await table.getByText('INCONSISTENT').count(), 0);
    await shot('checkpoints');
    await checkAxe('checkpoints');
  });

  it('can be used from the keyboard alone, focus always visible', async () => {
    /** Tabs until the focused element's text matches, checking every stop shows its focus. */
    async function tabTo(text: RegExp) {
      for (let i = 0; i < 60; i++) {
        await page.keyboard.press('Tab');
        const [label, outline] = await page.evaluate(() => [document.activeElement?.textContent ?? '', getComputedStyle(document.activeElement!).outlineStyle]);
        assert.notEqual(outline, 'none', `focus visible on ${label}`);
        if (text.test(label!)) return;
      }
      assert.fail(`no focusable element ${text}`);
    }
    await page.goto(`${base}/#/overview`);
    await page.reload();
    await page.getByTestId('size').waitFor();
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Skip to content');
    await tabTo(/^Entries$/);
    await page.keyboard.press('Enter');
    await page.waitForURL(/#\/entries$/);
    // Focus moves in an effect after the new view renders: wait for it (a timeout fails the test).
    await page.waitForFunction(() => document.activeElement?.id === 'main', undefined, { timeout: 5_000 }).catch(() => assert.fail('a new view moves focus to its content'));
    // Tab once the rows are in: a control focused while the view loads may be re-rendered away.
    await page.getByTestId('entry-rows').locator('tbody tr').first().waitFor();
    await tabTo(/^Seq/);
    await page.keyboard.press('Enter');
    await page.waitForURL(/order=desc/);
    // The newest-first rows are in (the focused link must not be one re-rendered away).
    await page.waitForFunction(() => {
      const seqs = Array.from(document.querySelectorAll('[data-testid="entry-rows"] tbody tr td:first-child'), (td) => Number(td.textContent));
      return seqs.length > 1 && seqs[0]! > seqs[1]!;
    });
    await tabTo(/^\d+$/);
    await page.keyboard.press('Enter');
    await page.waitForURL(/#\/entries\/\d+$/);
    await page.getByTestId('proof-result').waitFor();
  });

  it('opens a pipeline run: graph with node counts, a row’s lineage highlighted with its outcome, the sweep', async () => {
    // A run recorded while the server is up (as `sealtrail pipeline run` would), and an anchor sink.
    const ledger = await openLedger({ url: db });
    let runId = '';
    let transformId = '';
    try {
      const recorder = new PipelineRecorder(ledger);
      const g = await linearRun(recorder);
      runId = g.run.run_id as string;
      transformId = g.transform.node_id as string;
      for (let i = 0; i < 3; i++) await lifecycle(recorder, g, i);
      // Row 2's transform made an LLM call and routed its token on to the sink with a reason.
      const row2 = await explain(recorder, runId, { rowIndex: 2 });
      const upper = row2.ancestry[0]!.states.find((st) => st['node_id'] === transformId)!;
      await recorder.recordCall(runId, { stateId: upper['state_id'] as string, callType: 'llm', status: 'success', request: { prompt: 'upper' }, response: { ok: true }, latencyMs: 42 });
      await recorder.recordRouting(runId, upper['state_id'] as string, [{ edgeId: g.edges[1]!.edge_id as string, mode: 'move', reason: { rule: 'valid' } }]);
      // Row 3 fails in the transform and never reaches the sink.
      const { token } = await recorder.createRow(runId, { sourceNodeId: g.source.node_id as string, rowIndex: 3, data: { id: 3 } });
      const s0 = await recorder.openState(runId, { tokenId: token.token_id as string, nodeId: g.source.node_id as string, stepIndex: 0, input: { id: 3 } });
      await recorder.completeState(runId, s0.state_id as string, { status: 'completed', output: { id: 3 } });
      const s1 = await recorder.openState(runId, { tokenId: token.token_id as string, nodeId: transformId, stepIndex: 1, input: { id: 3 } });
      await recorder.completeState(runId, s1.state_id as string, { status: 'failed', error: { message: 'name is missing' } });
      await recorder.recordOutcome(runId, token.token_id as string, { outcome: 'failed', error: 'name is missing' });
      await recorder.finishRun(runId, 'completed');
      await issueCheckpoint(ledger, NoteSigner.fromKey(signerKeyText), { sinks: [`file:${join(dirname(db), 'anchors.jsonl')}`] });
    } finally {
      await ledger.close();
    }

    await page.goto(`${base}/#/pipelines`);
    const run = page.getByRole('link', { name: runId });
    await run.waitFor();
    assert.ok((await page.locator('tr', { has: run }).textContent())!.includes('3 completed, 1 failed'));
    await checkAxe('pipeline runs');
    await run.click();
    const graph = page.getByTestId('run-graph');
    await graph.waitFor();
    assert.equal(await graph.locator('g.node').count(), 3);
    assert.deepEqual(await graph.getByTestId('node-counts').allTextContents(), ['4 completed', '3 completed · 1 failed', '3 completed']);
    assert.equal(await graph.locator('g.edge').count(), 2);
    await page.getByTestId('sweep').waitFor();
    await checkAxe('pipeline run');

    await page.getByLabel('Row index').fill('3');
    await page.getByRole('button', { name: 'Explain row' }).click();
    await page.waitForURL(/row=3/);
    await page.getByTestId('lineage-outcome').filter({ hasText: 'failed' }).waitFor();
    // Row 3's path: the source and the transform it failed in, not the sink.
    assert.deepEqual(await graph.locator('g.node[data-on-path="true"]').evaluateAll((els) => els.length), 2);
    assert.equal(await graph.locator(`g.node[data-node="${transformId}"]`).getAttribute('data-on-path'), 'true');
    assert.equal(await graph.locator('g.edge.on').count(), 1);
    const timeline = page.getByRole('list', { name: 'node states, oldest first' }).locator(':scope > li');
    assert.deepEqual((await timeline.allTextContents()).map((t) => /^(\w+) step (\d)[^:]*: (\w+)/.exec(t)?.slice(1).join(' ')), ['csv 0 completed', 'upper 1 failed']);
    await checkAxe('row lineage');
    await shot('pipeline-run');
    await graph.screenshot({ path: join(shots, 'pipeline-graph.png') });

    // Row 0 went the whole way: three nodes on its path and its sink named.
    await page.getByLabel('Row index').fill('0');
    await page.getByRole('button', { name: 'Explain row' }).click();
    await page.getByTestId('lineage-outcome').filter({ hasText: 'completed at jsonl' }).waitFor();
    assert.equal(await graph.locator('g.node[data-on-path="true"]').count(), 3);

    // Row 2: its call and its routing (where to, and the reason's hash) in the timeline.
    await page.getByLabel('Row index').fill('2');
    await page.getByRole('button', { name: 'Explain row' }).click();
    await page.getByTestId('call').waitFor();
    assert.equal(await page.getByTestId('call').textContent(), 'call 0: llm success in 42 ms');
    assert.match((await page.getByTestId('routing').textContent())!, /^routed \(move\) to jsonl over “continue” · reason sha256 [0-9a-f]{16}…$/);
    await checkAxe('row lineage with a call and routing');
  });

  it('Verify now streams its progress and stops at the entry tampered with earlier; sinks show their last acknowledged checkpoint', async () => {
    await page.goto(`${base}/#/overview`);
    await page.getByTestId('size').waitFor();
    const size = Number((await page.getByTestId('size').textContent())!.replace(/,/g, ''));
    await page.getByRole('button', { name: 'Verify now' }).click();
    // The proof test left o-7 (seq 10) edited in the database: the check ends there.
    await page.getByText(`Checked 9 of ${size} entries`).waitFor();
    await page.getByText('verification FAILED').waitFor();
    assert.deepEqual(await page.getByTestId('verify-progress').evaluate((p) => [(p as HTMLProgressElement).value, (p as HTMLProgressElement).max]), [9, size]);
    assert.match((await page.locator('pre.payload').textContent())!, /"pk": "o-7"[\s\S]*event_hash_mismatch/);
    const sinks = page.getByTestId('sinks');
    assert.match((await sinks.textContent())!, new RegExp(`anchors\\.jsonl.*size ${size}.*up to date`));
    await checkAxe('overview with verify progress and sinks');
    await shot('overview-verify-failed');
  });

  it('works at 390 px in the dark theme; a reader sees no admin action', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${base}/#/overview`);
    await page.getByLabel('Theme').selectOption('dark');
    await page.getByTestId('size').waitFor();
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= 390), 'no horizontal scroll at 390 px');
    await checkAxe('overview (dark, 390 px)');
    await shot('overview-mobile-dark');
    // A run's graph scrolls inside its figure, not the page; dark colours pass axe too.
    await page.goto(`${base}/#/pipelines`);
    await page.locator('tbody a').first().click();
    await page.getByTestId('run-graph').waitFor();
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= 390), 'no horizontal page scroll on a run at 390 px');
    await checkAxe('pipeline run (dark, 390 px)');
    await page.goto(`${base}/#/overview`);
    await page.getByTestId('size').waitFor();
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('API token').fill(tokens.reader);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByTestId('role').filter({ hasText: '(reader)' }).waitFor();
    await page.getByTestId('size').waitFor();
    assert.equal(await page.getByRole('button', { name: 'Verify now' }).count(), 0);
    await page.setViewportSize({ width: 1280, height: 900 });
  });
});
