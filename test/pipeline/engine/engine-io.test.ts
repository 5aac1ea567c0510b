/**
 * The engine against real I/O: the http transform against a loopback HTTP server (calls recorded
 * with request/response hashes, 5xx and timeouts retried, 4xx an error result), the database sink
 * into a table of the ledger database, and a plugin bug failing the run with the failure recorded.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { openLedger } from '../../../src/ledger/ledger.js';
import type { TransformDefinition } from '../../../src/pipeline/engine/plugin-api.js';
import { PipelineRecorder } from '../../../src/pipeline/pipeline-recorder.js';
import { stableHash } from '../../../src/pipeline/stable-hash.js';
import { BACKENDS } from '../../helpers/databases.js';
import { assertSweepEmpty, countBy, csv, runIn, workDir } from './engine-fixtures.js';

let server: Server;
let base = '';
const hits = new Map<string, number>();

before(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const row = JSON.parse(body || '{}') as { id?: string };
      const key = `${req.url}:${row.id}`;
      const n = (hits.get(key) ?? 0) + 1;
      hits.set(key, n);
      if (req.url!.startsWith('/flaky') && n <= 2) {
        res.writeHead(503).end('busy');
        return;
      }
      if (req.url!.startsWith('/missing')) {
        res.writeHead(404).end('{"error":"not found"}');
        return;
      }
      if (req.url!.startsWith('/slow')) {
        setTimeout(() => res.writeHead(200).end('{}'), 3000).unref();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ score: Number(row.id) * 10 }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

const httpSettings = (path: string, retry: unknown, extra: Record<string, unknown> = {}) => ({
  source: { plugin: 'csv', on_success: 'raw', options: { path: 'in.csv', on_validation_failure: 'discard' } },
  transforms: [{ name: 'score', plugin: 'http', input: 'raw', on_success: 'out', on_error: 'errors', options: { url: `${base}${path}`, timeout_ms: path === '/slow' ? 300 : 10_000, ...extra } }],
  sinks: { out: { plugin: 'json', options: { path: 'out.jsonl' } }, errors: { plugin: 'json', options: { path: 'errors.jsonl' } } },
  ...(retry === undefined ? {} : { retry }),
});

const bug: TransformDefinition = {
  kind: 'transform',
  name: 'buggy',
  version: '1',
  determinism: 'deterministic',
  create(options) {
    options.done();
    return {
      process(row) {
        if (row.id === '2') throw new TypeError('cannot read properties of undefined');
        return { row };
      },
    };
  },
};

for (const backend of BACKENDS) {
  describe(`pipeline engine I/O (${backend.name})`, () => {
    it('http: 503 twice then 200 is retried, every attempt a call with its hashes', async () => {
      const tag = `/flaky-${backend.name}`;
      const r = await runIn(await backend.freshUrl(), workDir({ 'in.csv': csv('id', '1', '2') }), httpSettings(tag, { max_attempts: 3, initial_delay_ms: 1, max_delay_ms: 2, jitter_ms: 1 }));
      try {
        const rec = r.audit.records;
        assert.deepEqual(countBy([...r.outcomeOf.values()], (o) => o), { completed: 2 });
        assert.equal(rec.pipeline_calls.length, 6);
        assert.deepEqual(countBy(rec.pipeline_calls, (c) => String(c.status)), { error: 4, success: 2 });
        assert.equal(rec.pipeline_node_states.filter((s) => s.step_index === 1).length, 6);
        const ok = rec.pipeline_calls.find((c) => c.status === 'success')!;
        assert.ok(ok.request_hash && ok.response_hash && ok.request_ref && ok.response_ref);
        const out = r.read('out.jsonl').trim().split('\n').map((l) => JSON.parse(l) as { id: string; response: { score: number } });
        assert.deepEqual(out.map((o) => o.response.score), [10, 20]);
        // The response recorded is the one the row carries on.
        const first = rec.pipeline_calls.filter((c) => c.status === 'success')[0]!;
        assert.equal(first.response_hash, stableHash({ status: 200, body: { score: 10 } }));
        await assertSweepEmpty(r.ledger, r.result.runId);
      } finally {
        await r.ledger.close();
      }
    });

    it('http: a 404 is an error result (never retried) routed by on_error; a timeout without retry becomes one too', async () => {
      for (const path of ['/missing', '/slow']) {
        const r = await runIn(await backend.freshUrl(), workDir({ 'in.csv': csv('id', '1') }), httpSettings(path, path === '/missing' ? { max_attempts: 3, initial_delay_ms: 1 } : undefined));
        try {
          const rec = r.audit.records;
          assert.equal(rec.pipeline_calls.length, 1, path);
          assert.equal(rec.pipeline_calls[0]!.status, 'error');
          assert.deepEqual([...r.outcomeOf.values()], ['routed']);
          assert.equal(rec.pipeline_transform_errors.length, 1);
          await assertSweepEmpty(r.ledger, r.result.runId);
        } finally {
          await r.ledger.close();
        }
      }
    });

    it('database sink: rows into a table of the ledger database, unknown fields diverted', async () => {
      const url = await backend.freshUrl();
      const settings = {
        source: { plugin: 'json', on_success: 'out', options: { path: 'in.json', on_validation_failure: 'discard' } },
        sinks: { out: { plugin: 'database', options: { table: 'scored_rows', columns: ['id', 'name'] } } },
      };
      const r = await runIn(url, workDir({ 'in.json': JSON.stringify([{ id: 1, name: 'a' }, { id: 2, name: 'b', x: 1 }]) }), settings);
      try {
        assert.deepEqual(await r.ledger.store.query('SELECT id, name FROM scored_rows ORDER BY id'), [{ id: '1', name: 'a' }]);
        assert.deepEqual(countBy(r.audit.records.pipeline_token_outcomes, (o) => `${String(o.outcome)}@${String(o.sink_name)}`), { 'completed@out': 1, 'diverted@__discard__': 1 });
        assert.equal(r.audit.records.pipeline_artifacts[0]!.path_or_uri, 'table:scored_rows');
        await assertSweepEmpty(r.ledger, r.result.runId);
      } finally {
        await r.ledger.close();
      }
    });

    it('a plugin bug fails the run: its state failed with the exception, earlier rows written and audited', async () => {
      const url = await backend.freshUrl();
      const dir = workDir({ 'in.csv': csv('id', '1', '2', '3') });
      const settings = {
        source: { plugin: 'csv', on_success: 'raw', options: { path: 'in.csv', on_validation_failure: 'discard' } },
        transforms: [{ name: 'b', plugin: 'buggy', input: 'raw', on_success: 'out', on_error: 'discard' }],
        sinks: { out: { plugin: 'json', options: { path: 'out.jsonl' } } },
      };
      await assert.rejects(runIn(url, dir, settings, { plugins: [bug] }), (e: { code?: string; details?: { plugin?: string } }) => e.code === 'pipeline_plugin_failed' && e.details?.plugin === 'buggy');
      const ledger = await openLedger({ url });
      try {
        const recorder = new PipelineRecorder(ledger);
        const [run] = await recorder.listRuns();
        assert.equal(run!.status, 'failed');
        const rec = (await recorder.runAudit(run!.run_id as string)).records;
        const failed = rec.pipeline_node_states.filter((s) => s.status === 'failed');
        assert.equal(failed.length, 1);
        assert.deepEqual(JSON.parse(String(failed[0]!.error_json)), { exception: 'cannot read properties of undefined', type: 'TypeError', phase: 'process' });
        assert.deepEqual(rec.pipeline_token_outcomes.map((o) => o.outcome), ['completed']);
        assert.equal(rec.pipeline_rows.length, 2, 'the source stopped at the failing row');
      } finally {
        await ledger.close();
      }
    });
  });
}
