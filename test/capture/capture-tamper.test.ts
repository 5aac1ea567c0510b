/**
 * The capture tamper matrix: a superuser switching capture off, each way it can be done, is
 * reported by scan with the exact table, reason and seq, together with the rows edited, deleted
 * or slipped in meanwhile; an intact watched table (sync, and queued under a running sequencer)
 * is never flagged.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { openLedger, type Ledger } from '../../src/ledger/ledger.js';
import { runCli } from '../../src/cli/program.js';
import { isSealtrailError } from '../../src/core/errors.js';
import { installCapture, runSequencer, scanCapture, unwatchTable, watchTable, type CaptureMode } from '../../src/capture/capture.js';
import type { ScanFinding, ScanReport } from '../../src/ledger/scan.js';
import { loadMigrations, migrate } from '../../src/store/migrate.js';
import { postgresUrl } from '../helpers/databases.js';

interface Fixture {
  url: string;
  ledger: Ledger;
  sql: (text: string, params?: unknown[]) => Promise<pg.QueryResult>;
  /** seq of the chained event of this kind with this pk (or the only one of the kind). */
  seqOf: (kind: string, pk?: string) => Promise<number>;
  close: () => Promise<void>;
}

async function fixture(): Promise<Fixture> {
  const url = await postgresUrl();
  const ledger = await openLedger({ url });
  await installCapture(ledger.store);
  const pool = new pg.Pool({ connectionString: url, max: 3 });
  const sql = (text: string, params?: unknown[]) => pool.query(text, params);
  return {
    url,
    ledger,
    sql,
    seqOf: async (kind, pk) => {
      const rows = (await sql(`SELECT seq FROM audit_chain WHERE event_kind = $1 AND ($2::text IS NULL OR event_pk = $2) ORDER BY seq`, [kind, pk ?? null])).rows;
      assert.equal(rows.length, 1, `exactly one ${kind} ${pk ?? ''} event`);
      return Number(rows[0].seq);
    },
    close: async () => {
      await pool.end();
      await ledger.close();
    },
  };
}

const summary = (findings: ScanFinding[]) => findings.map((f) => [f.type, f.event_kind, f.event_pk, f.seq, f.reason ?? null]);

async function seededTable(f: Fixture, mode: CaptureMode = 'sync'): Promise<{ watchSeq: number; rowSeq: (id: number) => Promise<number> }> {
  await f.sql('CREATE TABLE task_events (id int PRIMARY KEY, body text NOT NULL)');
  await watchTable(f.ledger.store, 'task_events', { mode });
  await f.sql(`INSERT INTO task_events SELECT g, 'event ' || g FROM generate_series(1, 5) g`);
  if (mode === 'queued') {
    const { drainOutbox } = await import('../../src/capture/capture.js');
    await drainOutbox(f.ledger.store);
  }
  const clean = await scanCapture(f.ledger.store);
  assert.equal(clean.ok, true, JSON.stringify(clean));
  return { watchSeq: await f.seqOf('sealtrail.capture.watch'), rowSeq: (id) => f.seqOf('task_events', String(id)) };
}

function unexplained(report: ScanReport) {
  return report.ddlEvidence.filter((e) => !e.by_sealtrail).map((e) => [e.event_kind, e.payload.command_tag, e.payload.object_identity]);
}

describe('capture tamper matrix (PostgreSQL, as superuser)', () => {
  for (const mode of ['sync', 'queued'] as CaptureMode[]) {
    it(`${mode}: capture removed (event triggers, capture trigger, registry row) is reported, with every row changed meanwhile`, async () => {
      const f = await fixture();
      try {
        const { watchSeq, rowSeq } = await seededTable(f, mode);
        const installSeq = await f.seqOf('sealtrail.capture.install');
        const [seq2, seq4] = [await rowSeq(2), await rowSeq(4)];
        // The attacker: event triggers first (their removal leaves no evidence), then capture.
        await f.sql('DROP EVENT TRIGGER sealtrail_ddl_end');
        await f.sql('DROP EVENT TRIGGER sealtrail_ddl_drop');
        await f.sql('DROP TRIGGER sealtrail_capture ON task_events');
        await f.sql(`DELETE FROM capture_tables WHERE event_kind = 'task_events'`);
        await f.sql(`INSERT INTO task_events VALUES (6, 'unseen'), (7, 'unseen too')`);
        await f.sql(`UPDATE task_events SET body = 'rewritten' WHERE id = 2`);
        await f.sql(`DELETE FROM task_events WHERE id = 4`);

        assert.equal((await f.ledger.verify()).ok, true, 'the chain itself is untouched: only scan can see this');
        const report = await scanCapture(f.ledger.store);
        assert.equal(report.ok, false);
        assert.deepEqual(summary(report.findings), [
          ['capture_disabled', 'sealtrail.ddl', 'sealtrail_ddl_drop', installSeq, 'event_trigger_missing'],
          ['capture_disabled', 'sealtrail.ddl', 'sealtrail_ddl_end', installSeq, 'event_trigger_missing'],
          ['capture_disabled', 'task_events', 'task_events', watchSeq, 'registry_missing'],
          ['capture_disabled', 'task_events', 'task_events', watchSeq, 'trigger_missing'],
          ['edited', 'task_events', '2', seq2, null],
          ['deleted', 'task_events', '4', seq4, null],
          ['unchained', 'task_events', '6', null, null],
          ['unchained', 'task_events', '7', null, null],
        ]);
        assert.ok(installSeq < watchSeq && watchSeq < seq2);
        // The registry row's deletion was chained before the event triggers could matter.
        assert.deepEqual(unexplained(report), [['sealtrail.ddl', 'DELETE', 'task_events (task_events)']]);
      } finally {
        await f.close();
      }
    });
  }

  it('a superuser running sealtrail\'s own unwatch, then editing old rows, is reported until acknowledged', async () => {
    const f = await fixture();
    try {
      await seededTable(f);
      await watchTable(f.ledger.store, 'task_events', { updates: true });
      const reviewed = (await f.ledger.head()).size;
      await watchTable(f.ledger.store, 'task_events'); // updates no longer chained: narrower
      const narrowed = (await f.ledger.head()).size;
      await unwatchTable(f.ledger.store, 'task_events');
      await f.sql(`UPDATE task_events SET body = 'rewritten' WHERE id = 2`);
      const report = await scanCapture(f.ledger.store, undefined, { since: reviewed });
      assert.equal(report.ok, false);
      assert.deepEqual(report.findings, [], 'an unwatched table is not scanned');
      const weakening = report.ddlEvidence.filter((e) => e.weakens_capture).map((e) => [e.seq, e.event_kind]);
      const watchSeqs = (await f.sql(`SELECT seq FROM audit_chain WHERE event_kind = 'sealtrail.capture.watch' ORDER BY seq`)).rows.map((r) => Number(r.seq));
      assert.deepEqual(weakening, [
        [watchSeqs[2], 'sealtrail.capture.watch'],
        [await f.seqOf('sealtrail.capture.unwatch'), 'sealtrail.capture.unwatch'],
      ]);
      assert.ok(watchSeqs[2]! <= narrowed);
      const out = await cli(['scan', '--db', f.url, '--since', String(reviewed)]);
      assert.equal(out.status, 1);
      assert.match(out.stdout, /capture weakened: seq \d+ sealtrail\.capture\.unwatch task_events \(task_events\) by postgres/);
    } finally {
      await f.close();
    }
  });

  it('a forged install event naming other event triggers, with the real ones replaced, is reported until acknowledged', async () => {
    const f = await fixture();
    try {
      await seededTable(f);
      const reviewed = (await f.ledger.head()).size;
      await f.sql('DROP EVENT TRIGGER sealtrail_ddl_end');
      await f.sql('DROP EVENT TRIGGER sealtrail_ddl_drop');
      await f.sql('CREATE EVENT TRIGGER decoy ON sql_drop WHEN TAG IN (\'DROP INDEX\') EXECUTE FUNCTION sealtrail_ddl_evidence()');
      await f.sql(
        `SELECT sealtrail_chain(ARRAY['sealtrail.capture.install'], ARRAY[NULL::text],
           ARRAY[sealtrail_canon_jsonb(jsonb_build_object('event_triggers', jsonb_build_array(jsonb_build_object('name', 'decoy', 'event', 'sql_drop')),
             'role', session_user::text, 'txid', pg_current_xact_id()::text))])`,
      );
      const forged = (await f.ledger.head()).size;
      const report = await scanCapture(f.ledger.store, undefined, { since: reviewed });
      assert.equal(report.ok, false);
      assert.deepEqual(report.ddlEvidence.filter((e) => e.weakens_capture).map((e) => e.seq), [forged]);
      // The decoy is held to what the forged event says, and fails that too (it filters by tag).
      assert.deepEqual(summary(report.findings), [['capture_disabled', 'sealtrail.ddl', 'decoy', forged, 'event_trigger_altered']]);
    } finally {
      await f.close();
    }
  });

  it('ALTER TABLE … DISABLE TRIGGER alone is capture_disabled, and its DDL evidence is reported until acknowledged with since', async () => {
    const f = await fixture();
    try {
      const { watchSeq } = await seededTable(f);
      await f.sql('ALTER TABLE task_events DISABLE TRIGGER sealtrail_capture');
      const report = await scanCapture(f.ledger.store);
      assert.deepEqual(summary(report.findings), [['capture_disabled', 'task_events', 'task_events', watchSeq, 'trigger_disabled']]);
      const evidenceSeq = await f.seqOf('sealtrail.ddl', String((await f.ledger.head()).size));
      assert.deepEqual(
        report.ddlEvidence.filter((e) => !e.by_sealtrail).map((e) => [e.seq, e.payload.command_tag, e.payload.object_identity]),
        [[evidenceSeq, 'ALTER TABLE', 'public.task_events']],
      );
      assert.match(String(report.ddlEvidence.at(-1)!.payload.query), /DISABLE TRIGGER sealtrail_capture/);
      // Acknowledging the evidence does not acknowledge the state: capture is still off.
      const later = await scanCapture(f.ledger.store, undefined, { since: evidenceSeq });
      assert.deepEqual(later.ddlEvidence, []);
      assert.deepEqual(summary(later.findings), [['capture_disabled', 'task_events', 'task_events', watchSeq, 'trigger_disabled']]);
      assert.equal(later.ok, false);
      await f.sql('ALTER TABLE task_events ENABLE ALWAYS TRIGGER sealtrail_capture');
      const restored = await scanCapture(f.ledger.store, undefined, { since: (await f.ledger.head()).size });
      assert.equal(restored.ok, true, JSON.stringify(restored));
    } finally {
      await f.close();
    }
  });

  const ALTERATIONS: Array<{ name: string; attack: string[]; reason: string; kind?: string; unseq?: true }> = [
    { name: 'trigger enabled for origin sessions only (replica role bypasses it)', attack: ['ALTER TABLE task_events ENABLE TRIGGER sealtrail_capture'], reason: 'trigger_altered' },
    { name: 'trigger replaced by one that never fires', attack: [`CREATE OR REPLACE TRIGGER sealtrail_capture AFTER INSERT ON task_events FOR EACH ROW WHEN (false) EXECUTE FUNCTION audit_chain_append('task_events', 'sync', 'id')`], reason: 'trigger_altered' },
    { name: 'trigger replaced under another kind', attack: [`CREATE OR REPLACE TRIGGER sealtrail_capture AFTER INSERT ON task_events FOR EACH ROW EXECUTE FUNCTION audit_chain_append('elsewhere', 'sync', 'id')`], reason: 'trigger_altered' },
    { name: 'trigger fired for UPDATE only', attack: [`CREATE OR REPLACE TRIGGER sealtrail_capture AFTER UPDATE ON task_events FOR EACH ROW EXECUTE FUNCTION audit_chain_append('task_events', 'sync', 'id')`], reason: 'trigger_altered' },
    { name: 'truncate guard dropped', attack: ['DROP TRIGGER sealtrail_truncate_guard ON task_events'], reason: 'truncate_guard_missing' },
    { name: 'truncate guard enabled for origin sessions only (replica role bypasses it)', attack: ['ALTER TABLE task_events ENABLE TRIGGER sealtrail_truncate_guard'], reason: 'truncate_guard_disabled' },
    { name: 'registry switched to another mode', attack: [`UPDATE capture_tables SET mode = 'queued' WHERE event_kind = 'task_events'`], reason: 'registry_mismatch' },
    { name: 'table dropped', attack: ['DROP TABLE task_events'], reason: 'table_missing' },
    { name: 'event trigger disabled', attack: ['ALTER EVENT TRIGGER sealtrail_ddl_end DISABLE'], reason: 'event_trigger_disabled', kind: 'sealtrail.ddl' },
    { name: 'event trigger enabled for origin sessions only', attack: ['ALTER EVENT TRIGGER sealtrail_ddl_drop ENABLE'], reason: 'event_trigger_altered', kind: 'sealtrail.ddl' },
    {
      name: 'capture function replaced by one that chains nothing',
      attack: ['CREATE OR REPLACE FUNCTION audit_chain_append() RETURNS TRIGGER LANGUAGE plpgsql SECURITY DEFINER AS $$ BEGIN RETURN NULL; END $$'],
      reason: 'function_altered',
      kind: 'sealtrail.capture.install',
      unseq: true,
    },
    { name: 'canonical row function dropped', attack: ['DROP FUNCTION sealtrail_row_key(text) CASCADE'], reason: 'function_missing', kind: 'sealtrail.capture.install', unseq: true },
  ];
  for (const a of ALTERATIONS) {
    it(`catches: ${a.name}`, async () => {
      const f = await fixture();
      try {
        const { watchSeq, rowSeq } = await seededTable(f);
        const seqs = await Promise.all([1, 2, 3, 4, 5].map(rowSeq));
        for (const stmt of a.attack) await f.sql(stmt);
        const report = await scanCapture(f.ledger.store);
        assert.equal(report.ok, false);
        const capture = report.findings.filter((x) => x.type === 'capture_disabled');
        const seq = a.unseq ? null : a.kind ? await f.seqOf('sealtrail.capture.install') : watchSeq;
        assert.deepEqual(
          capture.map((x) => [x.event_kind, x.seq, x.reason]),
          [[a.kind ?? 'task_events', seq, a.reason]],
        );
        const rows = report.findings.filter((x) => x.type !== 'capture_disabled');
        // A dropped table takes its chained rows with it.
        assert.deepEqual(summary(rows), a.reason === 'table_missing' ? seqs.map((s, i) => ['deleted', 'task_events', String(i + 1), s, null]) : []);
      } finally {
        await f.close();
      }
    });
  }

  it('a capture event whose payload was rewritten is evidence_mismatch at its seq and is not trusted', async () => {
    const f = await fixture();
    try {
      const { watchSeq } = await seededTable(f);
      const client = new pg.Client({ connectionString: f.url });
      await client.connect();
      await client.query(`SET sealtrail.maintenance = 'on'`); // past the guard (chained as maintenance evidence)
      await client.query(`UPDATE audit_chain SET payload = replace(payload, '"mode":"sync"', '"mode":"queued"') WHERE seq = $1`, [watchSeq]);
      await client.end();
      const report = await scanCapture(f.ledger.store);
      assert.deepEqual(summary(report.findings), [
        ['evidence_mismatch', 'sealtrail.capture.watch', String(watchSeq), watchSeq, 'hash_mismatch'],
        // Without a trustworthy watch event, the registry row is no longer accounted for.
        ['capture_unrecorded', 'task_events', 'task_events', null, 'no_watch_event'],
      ]);
    } finally {
      await f.close();
    }
  });

  it('a registry row without a chained watch (a ledger from before watches were chained) is capture_unrecorded until the next install records it', async () => {
    const f = await fixture();
    try {
      await f.sql('CREATE TABLE legacy (id int PRIMARY KEY)');
      // What an earlier sealtrail left behind: registry row and trigger, nothing chained.
      await f.sql(`INSERT INTO capture_tables (relid, table_name, event_kind, mode, pk_columns) VALUES ('legacy'::regclass, 'legacy', 'legacy', 'sync', '{id}')`);
      await f.sql(`CREATE TRIGGER sealtrail_capture AFTER INSERT ON legacy FOR EACH ROW EXECUTE FUNCTION audit_chain_append('legacy', 'sync', 'id')`);
      await f.sql(`ALTER TABLE legacy ENABLE ALWAYS TRIGGER sealtrail_capture`);
      await f.sql(`CREATE TRIGGER sealtrail_truncate_guard BEFORE TRUNCATE ON legacy FOR EACH STATEMENT EXECUTE FUNCTION sealtrail_guard()`);
      // as capture migration 004 leaves the truncate guards of tables watched before it
      await f.sql(`ALTER TABLE legacy ENABLE ALWAYS TRIGGER sealtrail_truncate_guard`);
      await f.sql('INSERT INTO legacy VALUES (1)');
      const before = await scanCapture(f.ledger.store);
      assert.deepEqual(summary(before.findings), [['capture_unrecorded', 'legacy', 'legacy', null, 'no_watch_event']]);
      const reviewed = (await f.ledger.head()).size;
      await installCapture(f.ledger.store);
      const watchSeq = await f.seqOf('sealtrail.capture.watch');
      assert.ok(watchSeq > reviewed);
      const after = await scanCapture(f.ledger.store, undefined, { since: reviewed });
      assert.equal(after.ok, true, JSON.stringify(after));
      assert.deepEqual(after.ddlEvidence.map((e) => [e.seq, e.event_kind, e.by_sealtrail]), [[watchSeq, 'sealtrail.capture.watch', true]]);
    } finally {
      await f.close();
    }
  });

  it('upgrading a ledger from capture schema 1 records its watches and DDL evidence install, and attributes the upgrade\'s own DDL to it', async () => {
    const url = await postgresUrl();
    const ledger = await openLedger({ url });
    const pool = new pg.Pool({ connectionString: url, max: 2 });
    try {
      // Capture as the previous release installed it: schema 1, event triggers, an unchained watch.
      const steps = loadMigrations(new URL('../../src/capture/migrations/', import.meta.url), 'postgres');
      await migrate(ledger.store, 'capture', steps.slice(0, 1));
      for (const [name, event] of [['sealtrail_ddl_end', 'ddl_command_end'], ['sealtrail_ddl_drop', 'sql_drop']]) {
        await pool.query(`CREATE EVENT TRIGGER ${name} ON ${event} EXECUTE FUNCTION sealtrail_ddl_evidence()`);
        await pool.query(`ALTER EVENT TRIGGER ${name} ENABLE ALWAYS`);
      }
      await pool.query('CREATE TABLE old_t (id int PRIMARY KEY)');
      await pool.query(`INSERT INTO capture_tables (relid, table_name, event_kind, mode, pk_columns) VALUES ('old_t'::regclass, 'old_t', 'old_t', 'sync', '{id}')`);
      await pool.query(`CREATE TRIGGER sealtrail_capture AFTER INSERT ON old_t FOR EACH ROW EXECUTE FUNCTION audit_chain_append('old_t', 'sync', 'id')`);
      await pool.query('ALTER TABLE old_t ENABLE ALWAYS TRIGGER sealtrail_capture');
      await pool.query(`CREATE TRIGGER sealtrail_truncate_guard BEFORE TRUNCATE ON old_t FOR EACH STATEMENT EXECUTE FUNCTION sealtrail_guard()`);
      await pool.query('INSERT INTO old_t VALUES (1), (2)');
      const reviewed = Number((await pool.query('SELECT size FROM ledger_head')).rows[0].size);

      assert.equal((await installCapture(ledger.store)).applied, steps.length - 1);
      const report = await scanCapture(ledger.store, undefined, { since: reviewed });
      assert.equal(report.ok, true, JSON.stringify(report));
      const kinds = report.ddlEvidence.map((e) => e.event_kind);
      assert.ok(kinds.includes('sealtrail.ddl'), 'the upgrade replaced a sealtrail function: evidence, attributed to the upgrade');
      assert.deepEqual([...new Set(kinds.filter((k) => k.startsWith('sealtrail.capture.')))].sort(), ['sealtrail.capture.install', 'sealtrail.capture.watch']);
      await pool.query('DROP EVENT TRIGGER sealtrail_ddl_end');
      assert.deepEqual(
        (await scanCapture(ledger.store)).findings.map((x) => [x.type, x.event_pk, x.reason]),
        [['capture_disabled', 'sealtrail_ddl_end', 'event_trigger_missing']],
      );
    } finally {
      await pool.end();
      await ledger.close();
    }
  });

  it('an intact queued table under a running sequencer is never flagged; an unwatch is chained and reported until acknowledged', async () => {
    const f = await fixture();
    const stop = new AbortController();
    let sequencer: Promise<number> | null = null;
    try {
      await f.sql('CREATE TABLE busy (id int PRIMARY KEY, v text)');
      await watchTable(f.ledger.store, 'busy', { mode: 'queued', updates: true, deletes: true });
      sequencer = runSequencer(f.ledger.store, { signal: stop.signal, pollMs: 5 });
      for (let round = 0; round < 5; round++) {
        await f.sql(`INSERT INTO busy SELECT g, 'v' FROM generate_series(${round * 100 + 1}, ${round * 100 + 100}) g`);
        await f.sql(`UPDATE busy SET v = 'w' WHERE id % 7 = 0`);
        await f.sql(`DELETE FROM busy WHERE id % 11 = 0`);
        // Scanned while the sequencer works: queued rows are pending, never findings.
        const report = await scanCapture(f.ledger.store);
        assert.equal(report.ok, true, JSON.stringify(report.findings));
        assert.deepEqual(report.ddlEvidence.filter((e) => !e.by_sealtrail), []);
      }
      await waitFor(async () => Number((await f.sql('SELECT count(*) AS n FROM capture_outbox')).rows[0].n) === 0);
      const drained = await scanCapture(f.ledger.store);
      assert.equal(drained.ok, true, JSON.stringify(drained));
      const reviewed = (await f.ledger.head()).size;
      assert.equal(await unwatchTable(f.ledger.store, 'busy'), true, 'busy was watched');
      const after = await scanCapture(f.ledger.store, undefined, { since: reviewed });
      assert.deepEqual(after.findings, []);
      const unwatch = await f.seqOf('sealtrail.capture.unwatch');
      assert.deepEqual(
        after.ddlEvidence.filter((e) => e.weakens_capture).map((e) => [e.seq, e.event_kind, e.by_sealtrail]),
        [[unwatch, 'sealtrail.capture.unwatch', true]],
      );
      assert.equal(after.ok, false, 'switching capture off is sealtrail\'s own operation, and still needs a look');
      const acknowledged = await scanCapture(f.ledger.store, undefined, { since: (await f.ledger.head()).size });
      assert.equal(acknowledged.ok, true, JSON.stringify(acknowledged));
      // The trigger drop of the unwatch is its DDL evidence, attributed to it.
      assert.ok(after.ddlEvidence.some((e) => e.event_kind === 'sealtrail.ddl' && e.payload.command_tag === 'DROP TRIGGER' && e.explained_by === unwatch));
    } finally {
      stop.abort();
      if (sequencer) await sequencer;
      await f.close();
    }
  });

  it('a dropped watched table can be unwatched by its name; scan then no longer expects it', async () => {
    const f = await fixture();
    try {
      await seededTable(f);
      await f.sql('DROP TABLE task_events');
      assert.equal((await scanCapture(f.ledger.store)).ok, false);
      const since = (await f.ledger.head()).size;
      assert.equal(await unwatchTable(f.ledger.store, 'task_events'), true);
      const report = await scanCapture(f.ledger.store, undefined, { since });
      assert.deepEqual(report.findings.filter((x) => x.type === 'capture_disabled'), []);
      await assert.rejects(unwatchTable(f.ledger.store, 'task_events'), (e) => isSealtrailError(e, 'table_not_found'));
    } finally {
      await f.close();
    }
  });

  it('sealtrail scan exits 1 with the JSON report, and --since must be a seq', async () => {
    const f = await fixture();
    try {
      const { watchSeq } = await seededTable(f);
      await f.sql('ALTER TABLE task_events DISABLE TRIGGER sealtrail_capture');
      const since = (await f.ledger.head()).size;
      const out = await cli(['scan', '--db', f.url, '--json', '--since', String(since)]);
      assert.equal(out.status, 1, out.stderr);
      const report = JSON.parse(out.stdout) as ScanReport;
      assert.equal(report.ok, false);
      assert.equal(report.since, since);
      assert.deepEqual(report.ddlEvidence, []);
      assert.deepEqual(summary(report.findings), [['capture_disabled', 'task_events', 'task_events', watchSeq, 'trigger_disabled']]);
      const human = await cli(['scan', '--db', f.url]);
      assert.equal(human.status, 1);
      assert.match(human.stdout, /capture_disabled: task_events task_events \[trigger_disabled\] \(seq \d+\)/);
      assert.match(human.stdout, /ddl evidence: seq \d+ sealtrail\.ddl ALTER TABLE public\.task_events by postgres/);
      for (const bad of ['-1', 'x', '1.5']) {
        const r = await cli(['scan', '--db', f.url, '--json', '--since', bad]);
        assert.equal(r.status, 2, bad);
        assert.match(r.stderr, /\[invalid_argument\]/);
      }
    } finally {
      await f.close();
    }
  });
});

async function cli(args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const status = await runCli(args, { stdout: { write: (t: string) => (stdout += t) }, stderr: { write: (t: string) => (stderr += t) }, env: {} });
  return { status, stdout, stderr };
}

/** Waits on the condition itself; the pause only spaces out the polls, it decides nothing. */
async function waitFor(check: () => Promise<boolean>): Promise<void> {
  for (;;) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
}
