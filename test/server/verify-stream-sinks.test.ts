/**
 * The streamed form of POST /api/verify (progress then the report) and GET /api/sinks (each
 * sink's last acknowledged checkpoint, labels only), over real HTTP on both backends.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { issueCheckpoint } from '../../src/anchor/publish.js';
import { postgresUrl, sqliteUrl } from '../helpers/databases.js';
import { FAST_RETRY, logKeys, startRecorder } from '../anchor/helpers.js';
import { startApi, type Api } from './api-client.js';

const BACKENDS = [
  ['sqlite', async () => sqliteUrl()],
  ['postgres', () => postgresUrl()],
] as const;

const PATH_TOKEN = 'S3cretPathT0kenAbCdEf';

/** Parses a text/event-stream body into its events. */
function events(text: string): Array<{ event: string; data: unknown }> {
  return text
    .split('\n\n')
    .filter((b) => b.trim() !== '')
    .map((b) => {
      const event = /^event: (.*)$/m.exec(b)?.[1] ?? 'message';
      const data = /^data: (.*)$/m.exec(b)?.[1] ?? 'null';
      return { event, data: JSON.parse(data) as unknown };
    });
}

for (const [backend, makeUrl] of BACKENDS) {
  describe(`verify stream and sinks on ${backend}`, () => {
    let api: Api;
    let size = 0;
    before(async () => {
      api = await startApi(await makeUrl());
      for (let i = 0; i < 20; i++) await api.ledger.append('order', `o-${i}`, { i });
      // Token creation is audited too: the ledger holds those entries as well.
      size = (await api.ledger.head()).size;
    });
    after(async () => {
      await api.close();
    });

    it('streams progress {checked, total} rising to the size, then the same report as the JSON form', async () => {
      const previous = process.env['SEALTRAIL_VERIFY_SEGMENT_LOG2'];
      // Segments of 4 entries: several progress events.
      process.env['SEALTRAIL_VERIFY_SEGMENT_LOG2'] = '2';
      try {
        const res = await api.request('POST', '/api/verify', { token: api.tokens.admin, headers: { accept: 'text/event-stream' } });
        assert.equal(res.status, 200);
        assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
        const got = events(res.text);
        const progress = got.filter((e) => e.event === 'progress').map((e) => e.data as { checked: number; total: number });
        assert.ok(progress.length >= 3, JSON.stringify(progress));
        assert.deepEqual(progress[0], { checked: 0, total: size });
        assert.deepEqual(progress[progress.length - 1], { checked: size, total: size });
        for (let i = 1; i < progress.length; i++) assert.ok(progress[i]!.checked >= progress[i - 1]!.checked, 'progress never goes back');
        const last = got[got.length - 1]!;
        assert.equal(last.event, 'report');
        const json = await api.request('POST', '/api/verify', { token: api.tokens.admin });
        assert.deepEqual(last.data, json.json, 'the streamed report is the JSON form');
        assert.equal((json.json as { ok: boolean }).ok, true);
      } finally {
        if (previous === undefined) delete process.env['SEALTRAIL_VERIFY_SEGMENT_LOG2'];
        else process.env['SEALTRAIL_VERIFY_SEGMENT_LOG2'] = previous;
      }
      // A reader or writer gets no stream either.
      assert.equal((await api.request('POST', '/api/verify', { token: api.tokens.writer, headers: { accept: 'text/event-stream' } })).status, 403);
    });

    it('lists each sink with its last acknowledged checkpoint, never a URL secret', async () => {
      assert.deepEqual((await api.request('GET', '/api/sinks', { token: api.tokens.reader })).json, [], 'before any anchoring');
      const keys = logKeys();
      const recorder = await startRecorder();
      const spec = `webhook:${recorder.url}/${PATH_TOKEN}?token=${PATH_TOKEN}`;
      const dead = `webhook:http://127.0.0.1:9/${PATH_TOKEN}`;
      try {
        const { publish } = await issueCheckpoint(api.ledger, keys.signer, { sinks: [spec, dead], retry: FAST_RETRY });
        assert.deepEqual(publish.results.map((r) => r.status), ['published', 'failed']);
      } finally {
        await recorder.close();
      }
      const res = await api.request('GET', '/api/sinks', { token: api.tokens.reader });
      assert.equal(res.status, 200);
      assert.ok(!res.text.includes(PATH_TOKEN), res.text);
      const sinks = res.json as Array<{ sink: string; label: string; last_size: number | null; last_published_at: string | null; last_error: string | null }>;
      assert.equal(sinks.length, 2);
      const ok = sinks.find((s) => s.label.startsWith(`webhook:${recorder.url.replace(/\/[^/]*$/, '')}`) && s.last_error === null)!;
      const failed = sinks.find((s) => s !== ok)!;
      assert.match(ok.sink, /^webhook:sha256:[0-9a-f]{64}$/);
      assert.equal(ok.last_size, size);
      assert.ok(ok.last_published_at !== null);
      assert.equal(failed.last_size, null, 'a sink that never acknowledged has no checkpoint');
      assert.ok(failed.last_error !== null);
    });
  });
}
