/**
 * What the web explorer needs from the API: filtered and descending entry listings (SQLite and
 * PostgreSQL), the caller's session, the configured verifier keys, and the built files at `/`
 * with the right types and caching, and nothing else from the file system.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BACKENDS, sqliteUrl, tempDir } from '../helpers/databases.js';
import { startApi, type Api } from './api-client.js';

for (const backend of BACKENDS) {
  describe(`explorer routes (${backend.name})`, () => {
    let api: Api;
    before(async () => {
      api = await startApi(await backend.freshUrl(), { verifierKeys: ['example.com/log+01234567+AQ=='], witnessKeys: [], webRoot: false });
      for (let i = 1; i <= 12; i++) await api.ledger.append(i % 2 ? 'odd' : 'even', `k-${i}`, { i });
    });
    after(() => api.close());

    it('filters entries by kind and pk, pages a filter with its Link, and lists newest first', async () => {
      // The client's five token events come first (four created, one revoked): kind odd is seq 6, 8, …, 16.
      const page = await api.request('GET', '/api/entries?kind=odd&limit=4', { token: api.tokens.reader });
      assert.equal(page.status, 200);
      assert.deepEqual((page.json as Array<{ seq: number }>).map((e) => e.seq), [6, 8, 10, 12]);
      const next = /<([^>]+)>; rel="next"/.exec(page.headers.get('link') ?? '')![1]!;
      assert.equal(next, '/api/entries?from=13&limit=4&kind=odd');
      assert.deepEqual(((await api.request('GET', next)).json as Array<{ seq: number }>).map((e) => e.seq), [14, 16]);
      const one = await api.request('GET', '/api/entries?kind=even&pk=k-4');
      assert.deepEqual((one.json as Array<{ pk: string }>).map((e) => e.pk), ['k-4']);
      const desc = await api.request('GET', '/api/entries?order=desc&limit=3');
      assert.deepEqual((desc.json as Array<{ seq: number }>).map((e) => e.seq), [17, 16, 15]);
      assert.match(desc.headers.get('link') ?? '', /from=14&limit=3&order=desc/);
    });

    it('filters by time; a time that is not ISO 8601 is refused with invalid_argument', async () => {
      const all = (await api.request('GET', '/api/entries?limit=1000')).json as Array<{ seq: number; appended_at: string }>;
      const cut = all[9]!.appended_at;
      const since = (await api.request('GET', `/api/entries?since=${encodeURIComponent(cut)}&limit=1000`)).json as Array<{ appended_at: string }>;
      assert.ok(since.length >= 1 && since.every((e) => e.appended_at >= cut));
      const until = (await api.request('GET', `/api/entries?until=${encodeURIComponent(cut)}&limit=1000`)).json as Array<{ appended_at: string }>;
      assert.ok(until.every((e) => e.appended_at < cut));
      assert.equal(since.length + until.length, all.length);
      const bad = await api.request('GET', '/api/entries?since=yesterday');
      assert.equal(bad.status, 400);
      assert.equal((bad.json as { code: string }).code, 'invalid_argument');
    });

    it("answers the caller's role and the configured keys, never a secret", async () => {
      const me = await api.request('GET', '/api/session', { token: api.tokens.reader });
      assert.equal(me.status, 200);
      assert.equal((me.json as { role: string }).role, 'reader');
      assert.ok(!me.text.includes(api.tokens.reader));
      assert.equal((await api.request('GET', '/api/session', { token: null })).status, 401);
      const keys = await api.request('GET', '/api/keys', { token: api.tokens.reader });
      assert.deepEqual(keys.json, { vkeys: ['example.com/log+01234567+AQ=='], witness_vkeys: [] });
    });
  });
}

describe('the explorer files at /', () => {
  let api: Api;
  let root: string;
  before(async () => {
    root = tempDir('sealtrail-web-');
    mkdirSync(join(root, 'assets'));
    writeFileSync(join(root, 'index.html'), '<!doctype html><title>x</title>');
    writeFileSync(join(root, 'assets', 'index-abc123.js'), 'console.log(1)');
    writeFileSync(join(root, 'assets', 'index-abc123.css'), 'body{}');
    writeFileSync(join(tempDir('sealtrail-secret-'), 'secret.txt'), 'secret');
    api = await startApi(sqliteUrl(), { webRoot: root });
  });
  after(() => api.close());

  it('serves index.html uncached and hashed assets immutable, with their types and a same-origin CSP', async () => {
    const index = await fetch(`${api.base}/`);
    assert.equal(index.status, 200);
    assert.match(index.headers.get('content-type') ?? '', /^text\/html/);
    assert.equal(index.headers.get('cache-control'), 'no-cache');
    assert.match(index.headers.get('content-security-policy') ?? '', /default-src 'self'/);
    const js = await fetch(`${api.base}/assets/index-abc123.js`);
    assert.equal(await js.text(), 'console.log(1)');
    assert.match(js.headers.get('content-type') ?? '', /^text\/javascript/);
    assert.equal(js.headers.get('cache-control'), 'public, max-age=31536000, immutable');
    assert.match((await fetch(`${api.base}/assets/index-abc123.css`)).headers.get('content-type') ?? '', /^text\/css/);
  });

  it('answers not_found for anything else, traversal included', async () => {
    for (const path of ['/assets/missing.js', '/assets/..%2f..%2fsecret.txt', '/..%2fsecret.txt', '/assets/../../etc/passwd', '/%2e%2e/%2e%2e/etc/passwd']) {
      const res = await fetch(`${api.base}${path}`);
      assert.equal(res.status, 404, path);
      assert.equal(((await res.json()) as { code: string }).code, 'not_found');
    }
  });
});
