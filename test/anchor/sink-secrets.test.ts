/**
 * Webhook and witness URLs carry tokens in the path or query. anchor_sinks is keyed by a hash of
 * the spec, never the spec; nothing sealtrail stores or reports shows the token; rows written under
 * a raw URL by an earlier version are re-keyed and carry on where they were.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { issueCheckpoint, publishPending } from '../../src/anchor/publish.js';
import { sinkKey } from '../../src/anchor/sinks/sink-key.js';
import { verifyAgainstSinks } from '../../src/anchor/verify-sinks.js';
import { openLedger } from '../../src/ledger/ledger.js';
import { BACKENDS } from '../helpers/databases.js';
import { FAST_RETRY, appendEvents, logKeys, seededLedger, startRecorder } from './helpers.js';

const PATH_TOKEN = 'T0KEN0pathA1b2C3d4E5';
const QUERY_TOKEN = 'qs-secret-9f8e7d6c';

for (const backend of BACKENDS) {
  describe(`sink secrets on ${backend.name}`, () => {
    it('keeps no token in anchor_sinks, results, errors or cosignature records', async () => {
      const url = await backend.freshUrl();
      const keys = logKeys();
      const recorder = await startRecorder();
      const spec = `webhook:${recorder.url}/${PATH_TOKEN}?token=${QUERY_TOKEN}`;
      const dead = `webhook:http://127.0.0.1:9/${PATH_TOKEN}?token=${QUERY_TOKEN}`;
      let ledger = await seededLedger(url, 4);
      try {
        const { publish } = await issueCheckpoint(ledger, keys.signer, { sinks: [spec, dead], retry: FAST_RETRY });
        assert.equal(publish.results[0]!.status, 'published');
        assert.equal(publish.results[1]!.status, 'failed');
        const rows = await ledger.store.query<Record<string, unknown>>('SELECT * FROM anchor_sinks');
        const report = await verifyAgainstSinks(ledger, { sinks: [spec], vkeys: [keys.verifierKey], retry: FAST_RETRY });
        const everything = JSON.stringify({ publish, rows, report });
        assert.ok(!everything.includes(PATH_TOKEN) && !everything.includes(QUERY_TOKEN), everything);
        assert.deepEqual(rows.map((r) => r['sink']).sort(), [sinkKey(spec), sinkKey(dead)].sort());
        assert.ok(rows.every((r) => /^webhook:http:\/\/127\.0\.0\.1:\d+\/(hook\/…|\*\*\*)\?token=\*\*\*$/.test(String(r['label']))), JSON.stringify(rows));
        assert.equal(recorder.posts.length, 1);

        // As an earlier version left it: the row keyed by the raw spec, token and all.
        await ledger.store.run('UPDATE anchor_sinks SET sink = ?, label = NULL WHERE sink = ?', [spec, sinkKey(spec)]);
        await ledger.close();
        ledger = await openLedger({ url });
        await appendEvents(ledger, 2, 'g');
        await ledger.checkpoint(keys.signer);
        assert.ok((await publishPending(ledger, [spec], { retry: FAST_RETRY, vkeys: [keys.verifierKey] })).ok);
        const after = await ledger.store.query<{ sink: string }>('SELECT sink FROM anchor_sinks ORDER BY sink');
        assert.ok(!JSON.stringify(after).includes(PATH_TOKEN));
        assert.equal(recorder.posts.length, 2, 're-keyed, it carried on after the checkpoint it had acknowledged');
      } finally {
        await ledger.close();
        await recorder.close();
      }
    });
  });
}
