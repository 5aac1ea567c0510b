import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { installCapture, watchTable } from '../../src/capture/capture.js';
import { generateSignerKey, NoteSigner } from '../../src/core/note.js';
import { checkProofBundle } from '../../src/ledger/proof-bundle.js';
import { postgresUrl, sqliteUrl } from '../helpers/databases.js';
import { startApi, type Api } from './api-client.js';

type Obj = Record<string, unknown>;
const BACKENDS = [
  ['sqlite', async () => sqliteUrl()],
  ['postgres', () => postgresUrl()],
] as const;

async function size(api: Api): Promise<number> {
  return (await api.ledger.head()).size;
}

for (const [backend, makeUrl] of BACKENDS) {
  describe(`HTTP API on ${backend}`, () => {
    let api: Api;
    before(async () => {
      api = await startApi(await makeUrl());
    });
    after(async () => {
      await api.close();
    });

    it('appends an event (201), answers the identical one 200 with the same entry, and refuses another payload under the same key (409)', async () => {
      const first = await api.request('POST', '/api/events', { token: api.tokens.writer, body: { kind: 'order', pk: 'o-1', payload: { total: 5 } } });
      assert.equal(first.status, 201);
      const again = await api.request('POST', '/api/events', { token: api.tokens.writer, body: { kind: 'order', pk: 'o-1', payload: { total: 5 } } });
      assert.equal(again.status, 200);
      assert.deepEqual(again.json, first.json);
      const before = await size(api);
      const other = await api.request('POST', '/api/events', { token: api.tokens.writer, body: { kind: 'order', pk: 'o-1', payload: { total: 6 } } });
      assert.equal(other.status, 409);
      assert.equal((other.json as Obj)['code'], 'duplicate_event');
      assert.equal(await size(api), before);
      const entry = await api.request('GET', `/api/entries/${(first.json as Obj)['seq'] as number}`, { token: api.tokens.reader });
      assert.equal(entry.status, 200);
      assert.deepEqual((entry.json as Obj)['payload'], { total: 5 });
      assert.equal((entry.json as Obj)['event_hash'], (first.json as Obj)['event_hash']);
    });

    it('appends a JSON Lines batch all or nothing', async () => {
      const start = await size(api);
      const lines = [0, 1, 2].map((i) => JSON.stringify({ kind: 'batch', pk: `b-${i}`, payload: { i } })).join('\n');
      const ok = await api.request('POST', '/api/events/batch', { token: api.tokens.writer, raw: `${lines}\n`, type: 'application/x-ndjson' });
      assert.equal(ok.status, 201);
      assert.deepEqual(((ok.json as Obj)['entries'] as Obj[]).map((e) => e['seq']), [start + 1, start + 2, start + 3]);
      const bad = await api.request('POST', '/api/events/batch', {
        token: api.tokens.writer,
        raw: `${JSON.stringify({ kind: 'batch', pk: 'b-9', payload: {} })}\n{not json\n`,
        type: 'application/x-ndjson',
      });
      assert.equal(bad.status, 400);
      assert.equal((bad.json as Obj)['code'], 'invalid_json');
      assert.match((bad.json as Obj)['detail'] as string, /line 2/);
      assert.equal(await size(api), start + 3, 'the valid first line was not written either');
    });

    it('serves head, entries with a next link, proofs and consistency proofs that check out', async () => {
      const head = await api.request('GET', '/api/head', { token: api.tokens.reader });
      const n = (head.json as Obj)['size'] as number;
      assert.ok(n >= 5);
      const page = await api.request('GET', '/api/entries?from=1&limit=2', { token: api.tokens.reader });
      assert.deepEqual((page.json as Obj[]).map((e) => e['seq']), [1, 2]);
      assert.equal(page.headers.get('link'), '</api/entries?from=3&limit=2>; rel="next"');
      const missing = await api.request('GET', `/api/entries/${n + 1}`, { token: api.tokens.reader });
      assert.equal(missing.status, 404);
      assert.equal((missing.json as Obj)['code'], 'out_of_range');

      const noCheckpoint = await api.request('GET', '/api/entries/1/proof', { token: api.tokens.reader });
      assert.equal(noCheckpoint.status, 404);
      const json = await api.request('GET', '/api/entries/2/proof', { token: api.tokens.reader, headers: { accept: 'application/json' } });
      assert.equal(json.status, 200);
      assert.equal((json.json as Obj)['size'], n);
      assert.equal((json.json as Obj)['checkpoint'], null);

      const signer = NoteSigner.fromKey(generateSignerKey('example.com/http-test').signerKey);
      await api.ledger.checkpoint(signer);
      const bundle = await api.request('GET', '/api/entries/2/proof', { token: api.tokens.reader });
      assert.equal(bundle.status, 200);
      assert.match(bundle.headers.get('content-type') ?? '', /^text\/plain/);
      const checked = checkProofBundle(bundle.text, [generateVkey(signer)]);
      assert.equal(checked.ok, true);
      assert.equal(checked.seq, 2);

      const consistency = await api.request('GET', `/api/proofs/consistency?old=2&new=${n}`, { token: api.tokens.reader });
      assert.equal(consistency.status, 200);
      assert.equal((consistency.json as Obj)['new_root'], (head.json as Obj)['root']);
      const inverted = await api.request('GET', `/api/proofs/consistency?old=${n}&new=2`, { token: api.tokens.reader });
      assert.equal(inverted.status, 404);
      const checkpoints = await api.request('GET', '/api/checkpoints', { token: api.tokens.reader });
      assert.equal((checkpoints.json as Obj[]).length, 1);
      assert.equal((checkpoints.json as Obj[])[0]!['size'], n);
      const alerts = await api.request('GET', '/api/alerts', { token: api.tokens.reader });
      assert.deepEqual(alerts.json, []);
      const verify = await api.request('POST', '/api/verify', { token: api.tokens.admin });
      assert.equal((verify.json as Obj)['ok'], true);
      assert.equal((verify.json as Obj)['checked'], n);
    });

    it('records task audits and artifacts, lists them newest first with seqs, and pages with before + Link', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        const r = await api.request('POST', '/api/tasks/t-1/audits', {
          token: api.tokens.writer,
          body: { repo_id: 'repo-a', operation: 'write', files_changed: [`f${i}.ts`], lines_added: i, payload: { step: i } },
        });
        assert.equal(r.status, 201);
        assert.equal((r.json as Obj)['event_type'], 'repo_write');
        assert.equal(typeof (r.json as Obj)['seq'], 'number');
        ids.push((r.json as Obj)['audit_id'] as string);
      }
      const first = await api.request('GET', '/api/tasks/t-1/audits?limit=2', { token: api.tokens.reader });
      assert.deepEqual((first.json as Obj[]).map((a) => a['audit_id']), [ids[4], ids[3]]);
      assert.equal((first.json as Obj[])[0]!['payload'], undefined, 'payload only with detailed=true');
      const link = first.headers.get('link') ?? '';
      const next = /^<([^>]+)>; rel="next"$/.exec(link)?.[1];
      assert.ok(next, `a next link: ${link}`);
      const second = await api.request('GET', next, { token: api.tokens.reader });
      assert.deepEqual((second.json as Obj[]).map((a) => a['audit_id']), [ids[2], ids[1]]);
      const detailed = await api.request('GET', '/api/repos/repo-a/audits?limit=1&detailed=true', { token: api.tokens.reader });
      assert.deepEqual((detailed.json as Obj[])[0]!['payload'], { step: 4 });

      const ref = await api.request('POST', '/api/tasks/t-1/artifacts', { token: api.tokens.writer, body: { repo_id: 'repo-a', ref_type: 'commit', ref_value: 'abc123', summary: 'fix' } });
      assert.equal(ref.status, 201);
      const same = await api.request('POST', '/api/tasks/t-1/artifacts', { token: api.tokens.writer, body: { repo_id: 'repo-a', ref_type: 'commit', ref_value: 'abc123' } });
      assert.equal(same.status, 200);
      assert.equal((same.json as Obj)['artifact_id'], (ref.json as Obj)['artifact_id']);
      await api.request('POST', '/api/tasks/t-2/artifacts', { token: api.tokens.writer, body: { repo_id: 'repo-b', ref_type: 'commit', ref_value: 'abc123' } });
      const byRef = await api.request('GET', '/api/artifacts?ref_type=commit&ref_value=abc123', { token: api.tokens.reader });
      assert.deepEqual((byRef.json as Obj[]).map((r) => r['task_id']), ['t-2', 't-1']);
      const task = await api.request('GET', '/api/tasks/t-1/artifacts?ref_type=commit', { token: api.tokens.reader });
      assert.equal((task.json as Obj[]).length, 1);
      const repo = await api.request('GET', '/api/repos/repo-a/artifacts?limit=10', { token: api.tokens.reader });
      assert.equal((repo.json as Obj[]).length, 1);
    });

    it('answers bad input with 4xx problems that name the field, and writes nothing', async () => {
      const start = await size(api);
      const cases: Array<[string, string, { raw?: string; body?: unknown; type?: string }, number, string]> = [
        ['POST', '/api/events', { raw: '{"kind": "x", "pk": ' }, 400, 'invalid_json'],
        ['POST', '/api/events', { raw: '{"kind":"x","kind":"y","pk":"1","payload":{}}' }, 400, 'invalid_json'],
        ['POST', '/api/events', { raw: '{"kind":"x","pk":"1","payload":{"n":9007199254740993}}' }, 400, 'unsafe_integer'],
        ['POST', '/api/events', { body: { kind: 5, pk: '1', payload: {} } }, 400, 'invalid_argument'],
        ['POST', '/api/events', { body: { kind: 'x', pk: '1' } }, 400, 'invalid_argument'],
        ['POST', '/api/events', { raw: 'kind=x', type: 'application/x-www-form-urlencoded' }, 415, 'unsupported_media_type'],
        ['POST', '/api/events', { body: { kind: 'x', pk: '1', payload: { blob: 'x'.repeat(1_200_000) } } }, 413, 'payload_too_large'],
        ['POST', '/api/tasks/t-1/audits', { body: { operation: 'write', lines_added: '5' } }, 400, 'invalid_argument'],
        ['POST', '/api/tasks/t-1/audits', { body: { operation: 'write', surprise: 1 } }, 400, 'invalid_argument'],
        ['POST', '/api/tasks/t-1/artifacts', { body: { repo_id: 'r', ref_type: 'wiki', ref_value: 'x' } }, 400, 'invalid_ref_type'],
        ['GET', '/api/tasks/t-1/audits?limit=0', {}, 400, 'invalid_limit'],
        ['GET', '/api/tasks/t-1/audits?limit=501', {}, 400, 'invalid_limit'],
        ['GET', '/api/tasks/t-1/audits?limit=ten', {}, 400, 'invalid_limit'],
        ['GET', '/api/tasks/t-1/audits?before=-3', {}, 400, 'invalid_argument'],
        ['GET', '/api/repos/r/artifacts?ref_type=wiki', {}, 400, 'invalid_ref_type'],
        ['GET', '/api/artifacts?ref_type=commit', {}, 400, 'invalid_argument'],
        ['GET', '/api/entries?limit=0', {}, 400, 'invalid_limit'],
        ['GET', '/api/entries/abc', {}, 400, 'invalid_argument'],
        ['GET', '/api/../../etc/passwd', {}, 404, 'not_found'],
      ];
      for (const [method, path, opts, status, code] of cases) {
        const r = await api.request(method, path, { token: api.tokens.admin, ...opts });
        assert.equal(r.status, status, `${method} ${path} ${JSON.stringify(opts).slice(0, 80)} -> ${r.text.slice(0, 200)}`);
        assert.equal((r.json as Obj)['code'], code, `${method} ${path}`);
        if ((r.json as Obj)['code'] === 'invalid_argument' && method === 'POST') assert.match(String((r.json as Obj)['field']), /^body\./);
      }
      assert.equal(await size(api), start, 'nothing was appended');
    });

    it('enforces roles on every route: 401 with WWW-Authenticate without a valid token, 403 for a weaker role', async () => {
      const routes: Array<[string, string, 'reader' | 'writer' | 'admin', unknown?]> = [
        ['GET', '/api/head', 'reader'],
        ['GET', '/api/entries', 'reader'],
        ['GET', '/api/entries/1', 'reader'],
        ['GET', '/api/entries/1/proof', 'reader'],
        ['GET', '/api/proofs/consistency?old=1&new=1', 'reader'],
        ['GET', '/api/checkpoints', 'reader'],
        ['GET', '/api/alerts', 'reader'],
        ['GET', '/api/tasks/t/audits', 'reader'],
        ['GET', '/api/repos/r/audits', 'reader'],
        ['GET', '/api/tasks/t/artifacts', 'reader'],
        ['GET', '/api/repos/r/artifacts', 'reader'],
        ['GET', '/api/artifacts?ref_type=commit&ref_value=x', 'reader'],
        ['GET', '/api/capture/tables', 'reader'],
        ['GET', '/metrics', 'reader'],
        ['GET', '/api/runs', 'reader'],
        ['GET', '/api/runs/r1', 'reader'],
        ['GET', '/api/runs/r1/graph', 'reader'],
        ['GET', '/api/runs/r1/rows/0/lineage', 'reader'],
        ['GET', '/api/runs/r1/sweep', 'reader'],
        ['GET', '/api/sinks', 'reader'],
        // Without server.publicLog the transparency-log reads need a reader token too.
        ['GET', '/log/checkpoint', 'reader'],
        ['GET', '/log/tile/0/000', 'reader'],
        ['POST', '/api/events', 'writer', { kind: 'auth', pk: 'a', payload: {} }],
        ['POST', '/api/tasks/t/audits', 'writer', { operation: 'auth' }],
        ['POST', '/api/tasks/t/artifacts', 'writer', { repo_id: 'r', ref_type: 'tag', ref_value: 'v1' }],
        ['POST', '/api/verify', 'admin'],
        ['POST', '/api/scan', 'admin'],
      ];
      const rank = { reader: 0, writer: 1, admin: 2 } as const;
      for (const [method, path, needed, body] of routes) {
        for (const token of [null, api.tokens.revoked, 'st_not-a-real-token']) {
          const r = await api.request(method, path, { token, ...(body === undefined ? {} : { body }) });
          assert.equal(r.status, 401, `${method} ${path} without a valid token`);
          assert.match(r.headers.get('www-authenticate') ?? '', /^Bearer/);
        }
        for (const role of ['reader', 'writer', 'admin'] as const) {
          const r = await api.request(method, path, { token: api.tokens[role], ...(body === undefined ? {} : { body }) });
          if (rank[role] < rank[needed]) {
            assert.equal(r.status, 403, `${method} ${path} as ${role}`);
            assert.equal((r.json as Obj)['code'], 'forbidden');
          } else assert.ok(r.status !== 401 && r.status !== 403, `${method} ${path} as ${role}: ${r.status}`);
        }
      }
      for (const open of ['/healthz', '/readyz', '/openapi.json', '/docs']) assert.equal((await api.request('GET', open, { token: null })).status, 200, open);
      const doc = (await api.request('GET', '/openapi.json', { token: null })).json as { paths: Record<string, Record<string, { security?: unknown[]; 'x-sealtrail-role'?: string }>> };
      for (const [method, path, needed] of routes) {
        const template = path.split('?')[0]!.replace('/api/tasks/t/', '/api/tasks/{task_id}/').replace('/api/repos/r/', '/api/repos/{repo_id}/').replace(/\/api\/entries\/1(?=\/|$)/, '/api/entries/{seq}')
          .replace(/^\/api\/runs\/r1/, '/api/runs/{run_id}')
          .replace('/rows/0/', '/rows/{row_index}/')
          .replace(/^\/log\/tile\/.*/, '/log/tile/{*}');
        const op = doc.paths[template]?.[method.toLowerCase()];
        assert.ok(op, `${method} ${template} is in the OpenAPI document`);
        assert.equal(op['x-sealtrail-role'], needed, `${method} ${template} documents its role`);
        assert.deepEqual(op.security, [{ bearer: [] }]);
      }
      assert.ok(!api.logs.some((l) => l.includes(api.tokens.admin) || l.includes(api.tokens.reader)), 'no token in the logs');
    });

    it('keeps 32 concurrent clients gap-free and verifiable', async () => {
      const start = await size(api);
      const results = await Promise.all(
        Array.from({ length: 32 }, (_, c) =>
          (async () => {
            const seqs: number[] = [];
            for (let i = 0; i < 5; i++) {
              const r = await api.request('POST', '/api/events', { token: api.tokens.writer, body: { kind: 'load', pk: `${c}-${i}`, payload: { c, i } } });
              assert.equal(r.status, 201);
              seqs.push((r.json as Obj)['seq'] as number);
            }
            return seqs;
          })(),
        ),
      );
      const seqs = results.flat().sort((a, b) => a - b);
      assert.deepEqual(seqs, Array.from({ length: 160 }, (_, i) => start + 1 + i));
      const report = await api.ledger.verify();
      assert.equal(report.ok, true);
    });

    it('streams new entries as Server-Sent Events and resumes after Last-Event-ID', async () => {
      const startSeq = await size(api);
      const controller = new AbortController();
      const res = await fetch(`${api.base}/api/stream`, { headers: { authorization: `Bearer ${api.tokens.reader}`, 'last-event-id': String(startSeq - 1) }, signal: controller.signal });
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
      await api.request('POST', '/api/events', { token: api.tokens.writer, body: { kind: 'live', pk: 'l-1', payload: { live: true } } });
      const reader = res.body!.getReader();
      let text = '';
      while ((text.match(/\nevent: entry\n/g) ?? []).length < 2 && !text.includes(`id: ${startSeq + 1}\n`)) {
        const { value, done } = await reader.read();
        if (done) break;
        text += Buffer.from(value).toString('utf8');
      }
      controller.abort();
      const ids = [...text.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
      assert.deepEqual(ids.slice(0, 2), [startSeq, startSeq + 1], 'resumed right after the Last-Event-ID');
      assert.match(text, /"payload":\{"live":true\}/);
    });

    it('serves capture only on PostgreSQL (a 409 unsupported_backend problem on SQLite), metrics and readiness', async () => {
      if (backend === 'postgres') {
        assert.deepEqual((await api.request('GET', '/api/capture/tables', { token: api.tokens.reader })).json, [], 'nothing watched before capture is installed');
        await installCapture(api.ledger.store);
        await api.ledger.store.run('CREATE TABLE orders (id INTEGER PRIMARY KEY, total INTEGER)');
        await watchTable(api.ledger.store, 'orders');
        await api.ledger.store.run('INSERT INTO orders VALUES (1, 10)');
      }
      const tables = await api.request('GET', '/api/capture/tables', { token: api.tokens.reader });
      const scan = await api.request('POST', '/api/scan', { token: api.tokens.admin });
      if (backend === 'sqlite') {
        assert.equal(tables.status, 409);
        assert.equal((tables.json as Obj)['code'], 'unsupported_backend');
        assert.equal(scan.status, 409);
      } else {
        assert.equal(tables.status, 200);
        assert.deepEqual((tables.json as Obj[]).map((t) => [t['table'], t['kind'], t['pk_columns']]), [['orders', 'orders', ['id']]]);
        assert.equal(scan.status, 200);
        assert.equal((scan.json as Obj)['ok'], true);
      }
      const metrics = await api.request('GET', '/metrics', { token: api.tokens.reader });
      assert.match(metrics.text, /^sealtrail_http_requests_total\{route="\/api\/events",method="POST",status="201"\} \d+$/m);
      assert.match(metrics.text, /^sealtrail_ledger_size \d+$/m);
      assert.match(metrics.text, /^sealtrail_verify_runs_total\{result="ok"\} [1-9]/m);
      const ready = await api.request('GET', '/readyz', { token: null });
      assert.equal((ready.json as Obj)['size'], await size(api));
    });
  });
}

describe('HTTP API limits', () => {
  it('rate-limits per token with 429 and Retry-After', async () => {
    const api = await startApi(sqliteUrl(), { rateLimitMax: 3, rateLimitWindowMs: 60_000 });
    try {
      const statuses: number[] = [];
      let retryAfter: string | null = null;
      for (let i = 0; i < 5; i++) {
        const r = await api.request('GET', '/api/head', { token: api.tokens.reader });
        statuses.push(r.status);
        if (r.status === 429) {
          retryAfter = r.headers.get('retry-after');
          assert.equal((r.json as Obj)['code'], 'rate_limited');
        }
      }
      assert.deepEqual(statuses, [200, 200, 200, 429, 429]);
      assert.match(retryAfter ?? '', /^\d+$/);
      assert.equal((await api.request('GET', '/api/head', { token: api.tokens.writer })).status, 200, 'another token has its own budget');
    } finally {
      await api.close();
    }
  });
});

describe('HTTP API shutdown', () => {
  it('ends open entry streams when the server closes, so shutdown is not held open', async () => {
    const api = await startApi(sqliteUrl());
    const res = await fetch(`${api.base}/api/stream`, { headers: { authorization: `Bearer ${api.tokens.reader}` } });
    assert.equal(res.status, 200);
    const reader = res.body!.getReader();
    await reader.read(); // the stream's opening comment: it is live
    await api.close();
    let done = false;
    while (!done) done = (await reader.read()).done;
    assert.equal(done, true, 'the stream ended with the server');
  });
});

describe('HTTP API configuration', () => {
  it('holds bodies to the configured limit (413) and answers readyz 503 with the cause when the schema is not current', async () => {
    const api = await startApi(sqliteUrl(), { bodyLimit: 2048 });
    try {
      const start = await size(api);
      const big = await api.request('POST', '/api/events', { token: api.tokens.writer, body: { kind: 'big', pk: '1', payload: { blob: 'x'.repeat(4096) } } });
      assert.equal(big.status, 413);
      assert.equal((big.json as Obj)['code'], 'payload_too_large');
      assert.equal((await api.request('POST', '/api/events', { token: api.tokens.writer, body: { kind: 'small', pk: '1', payload: {} } })).status, 201);
      assert.equal(await size(api), start + 1);

      await api.ledger.store.run("DELETE FROM sealtrail_migrations WHERE component = 'ledger'");
      const ready = await api.request('GET', '/readyz', { token: null });
      assert.equal(ready.status, 503);
      assert.equal((ready.json as Obj)['code'], 'schema_missing');
      assert.equal((await api.request('GET', '/healthz', { token: null })).status, 200, 'alive even when not ready');
    } finally {
      await api.close();
    }
  });
});

function generateVkey(signer: NoteSigner): string {
  return signer.verifierKey;
}
