import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { runCli } from '../../src/cli/program.js';
import { generateSignerKey, NoteSigner } from '../../src/core/note.js';
import { openLedger } from '../../src/ledger/ledger.js';
import { checkProofBundle } from '../../src/ledger/proof-bundle.js';
import { BACKENDS, tempDir } from '../helpers/databases.js';
import { tamper } from './db-tamper.js';
import { lifecycle, linearRun, withRecorder } from './pipeline-fixtures.js';

async function cli(args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const status = await runCli(args, { env: {}, stdout: { write: (t: string) => (stdout += t) }, stderr: { write: (t: string) => (stderr += t) } });
  return { status, stdout, stderr };
}

for (const backend of BACKENDS) {
  describe(`pipeline commands on ${backend.name}`, () => {
    it('runs, sweep, explain, export and scan over a recorded run', async () => {
      const db = await backend.freshUrl();
      const payloads = join(tempDir(), 'payloads');
      const made = await withRecorder(db, async (recorder) => {
        const g = await linearRun(recorder);
        const rows = [await lifecycle(recorder, g, 0, { id: 0, name: 'Ada' }), await lifecycle(recorder, g, 1)];
        // Row 2 forks and reaches two sinks.
        const runId = g.run.run_id as string;
        const { token } = await recorder.createRow(runId, { sourceNodeId: g.source.node_id as string, rowIndex: 2, data: { id: 2 } });
        const [a, b] = await recorder.forkToken(runId, token.token_id as string, { branches: ['a', 'b'] });
        await recorder.recordOutcome(runId, a!.token_id as string, { outcome: 'routed', sinkName: 'left' });
        await recorder.recordOutcome(runId, b!.token_id as string, { outcome: 'routed', sinkName: 'right' });
        await recorder.finishRun(runId, 'completed');
        return { g, rows, runId, b: b! };
      }, payloads);

      const runs = await cli(['runs', '--json', '--db', db]);
      assert.equal(runs.status, 0, runs.stderr);
      const listed = (JSON.parse(runs.stdout) as { runs: Array<{ run_id: string; status: string; rows: number; outcomes: Record<string, number> }> }).runs;
      assert.deepEqual(listed.map((r) => [r.run_id, r.status, r.rows, r.outcomes.completed, r.outcomes.routed, r.outcomes.forked]), [[made.runId, 'completed', 3, 2, 2, 1]]);

      const healthy = await cli(['sweep', '--run', 'latest', '--db', db]);
      assert.equal(healthy.status, 0, healthy.stdout + healthy.stderr);
      assert.match(healthy.stdout, /sweep: ok/);

      const lineage = await cli(['explain', '--run', made.runId, '--row', '0', '--payloads', payloads, '--json', '--db', db]);
      assert.equal(lineage.status, 0, lineage.stderr);
      const l = JSON.parse(lineage.stdout) as { row: { data: unknown; data_status: string }; ancestry: Array<{ states: Array<{ step_index: number; status: string }> }>; outcome: { outcome: string; sink_name: string } };
      assert.deepEqual(l.row.data, { id: 0, name: 'Ada' });
      assert.deepEqual(l.ancestry[0]!.states.map((s) => [s.step_index, s.status]), [[0, 'completed'], [1, 'completed'], [2, 'completed']]);
      assert.deepEqual([l.outcome.outcome, l.outcome.sink_name], ['completed', 'jsonl']);

      const ambiguous = await cli(['explain', '--run', made.runId, '--row', '2', '--json', '--db', db]);
      assert.equal(ambiguous.status, 2);
      assert.deepEqual((JSON.parse(ambiguous.stdout) as { error: { details: { sinks: string[] } } }).error.details.sinks, ['left', 'right']);
      const picked = JSON.parse((await cli(['explain', '--run', made.runId, '--row', '2', '--sink', 'right', '--json', '--db', db])).stdout) as { token_id: string; ancestry: Array<{ parents: string[] }>; row: { data_status: string } };
      assert.equal(picked.token_id, made.b.token_id);
      assert.equal(picked.ancestry.length, 2, 'the branch token and its forked parent');
      assert.equal(picked.row.data_status, 'not_stored', 'no payload store given');

      const jsonl = await cli(['export', '--run', made.runId, '--db', db]);
      assert.equal(jsonl.status, 0, jsonl.stderr);
      const records = jsonl.stdout.trimEnd().split('\n').map((line) => JSON.parse(line) as { table: string; seq: number; record: Record<string, unknown> });
      assert.ok(records.every((r) => Number.isSafeInteger(r.seq) && r.seq > 0));
      assert.equal(records.filter((r) => r.table === 'pipeline_node_states').length, 6);
      assert.equal(records.find((r) => r.table === 'pipeline_runs')!.record.status, 'completed');

      const received: unknown[] = [];
      const server = createServer((req, res) => {
        let body = '';
        req.on('data', (c: Buffer) => (body += c.toString()));
        req.on('end', () => {
          received.push(JSON.parse(body));
          res.writeHead(201).end();
        });
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      try {
        const { port } = server.address() as AddressInfo;
        const posted = await cli(['export', '--run', made.runId, '--format', 'openlineage', '--post', `http://127.0.0.1:${port}/api/v1/lineage`, '--db', db]);
        assert.equal(posted.status, 0, posted.stderr);
      } finally {
        server.close();
      }
      const events = received as Array<{ eventType: string; run: { runId: string; facets: { sealtrail_rowLineage: { outcomes: Record<string, number> } } }; schemaURL: string; inputs: unknown[]; outputs: unknown[] }>;
      assert.deepEqual(events.map((e) => e.eventType), ['START', 'COMPLETE']);
      assert.match(events[0]!.run.runId, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      assert.equal(events[1]!.run.facets.sealtrail_rowLineage.outcomes.completed, 2);
      assert.match(events[0]!.schemaURL, /2-0-2/);
      assert.deepEqual([events[0]!.inputs.length, events[0]!.outputs.length], [1, 1]);

      // --prove: read-only, so it needs a recorded checkpoint; every proof checks offline.
      const unsigned = await cli(['explain', '--run', made.runId, '--row', '2', '--sink', 'left', '--prove', '--db', db]);
      assert.equal(unsigned.status, 2);
      const key = generateSignerKey('pipeline.test/log');
      const signing = await openLedger({ url: db });
      await signing.checkpoint(NoteSigner.fromKey(key.signerKey));
      await signing.close();
      const proved = await cli(['explain', '--run', made.runId, '--row', '2', '--sink', 'left', '--prove', '--json', '--db', db]);
      assert.equal(proved.status, 0, proved.stderr);
      const bundle = JSON.parse(proved.stdout) as { proofs: Array<{ table: string; seq: number; proof: string }> };
      // row, 2 tokens, 1 parent link, outcomes of both tokens.
      assert.deepEqual(bundle.proofs.map((p) => p.table).sort(), ['pipeline_rows', 'pipeline_token_outcomes', 'pipeline_token_outcomes', 'pipeline_token_parents', 'pipeline_tokens', 'pipeline_tokens'].sort());
      for (const p of bundle.proofs) {
        const checked = checkProofBundle(p.proof, [key.verifierKey]);
        assert.equal(checked.ok, true, checked.reason ?? '');
        assert.equal(checked.seq, p.seq);
      }

      assert.equal((await cli(['init', '--db', db])).status, 0);
      const cleanScan = await cli(['scan', '--db', db]);
      assert.equal(cleanScan.status, 0, cleanScan.stdout + cleanScan.stderr);
      // An edit nobody chained: scan and sweep both see it.
      await tamper(db, "UPDATE pipeline_node_states SET status = 'open', output_hash = NULL, completed_at = NULL, duration_ms = NULL WHERE state_id = ?", [made.rows[1]!.states[0]!.state_id]);
      const scan = await cli(['scan', '--json', '--db', db]);
      assert.equal(scan.status, 1);
      assert.deepEqual((JSON.parse(scan.stdout) as { findings: Array<{ type: string; event_kind: string }> }).findings.map((f) => [f.type, f.event_kind]), [['edited', 'pipeline_node_states']]);
      const sweep = await cli(['sweep', '--run', made.runId, '--json', '--db', db]);
      assert.equal(sweep.status, 1);
      const report = JSON.parse(sweep.stdout) as { queries: Array<{ query: string; ids: string[] }> };
      assert.deepEqual(report.queries.filter((q) => q.ids.length > 0), [{ query: 'node_state_still_open', ids: [made.rows[1]!.states[0]!.state_id] }]);
    });
  });
}
