import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isSealtrailError } from '../../src/core/errors.js';
import { PayloadStore } from '../../src/pipeline/payload-store.js';
import { stableHash } from '../../src/pipeline/stable-hash.js';
import { BACKENDS, tempDir } from '../helpers/databases.js';
import { tamper } from './db-tamper.js';
import { lifecycle, linearRun, withRecorder } from './pipeline-fixtures.js';

describe('payload store', () => {
  it('keys a payload by the SHA-256 of its canonical JSON and reads it back verified', () => {
    const store = new PayloadStore(join(tempDir(), 'p'));
    const key = store.put({ b: 1, a: [1, 'x'] });
    assert.equal(key, stableHash({ a: [1, 'x'], b: 1 }));
    assert.equal(store.put({ a: [1, 'x'], b: 1 }), key, 'the same content is the same key');
    assert.deepEqual(store.get(key), { available: true, value: { a: [1, 'x'], b: 1 } });
    assert.equal(readFileSync(join(store.dir, key.slice(0, 2), key), 'utf8'), '{"a":[1,"x"],"b":1}');
    assert.deepEqual(readdirSync(join(store.dir, key.slice(0, 2))), [key], 'no temp file is left behind');
  });

  it('refuses a payload whose file was changed, and says purged for one that is gone', () => {
    const store = new PayloadStore(join(tempDir(), 'p'));
    const key = store.put({ v: 1 });
    writeFileSync(join(store.dir, key.slice(0, 2), key), '{"v":2}');
    assert.throws(() => store.get(key), (err: unknown) => isSealtrailError(err, 'audit_integrity') && err.details?.rule === 'payload_hash');
    assert.equal(store.delete(key), true);
    assert.deepEqual(store.get(key), { available: false, reason: 'purged' });
  });

  it('refuses keys that are not a SHA-256 (no path traversal) and values that are not canonical', () => {
    const store = new PayloadStore(join(tempDir(), 'p'));
    for (const key of ['../../etc/passwd', `${'a'.repeat(63)}/`, 'A'.repeat(64), '', '..']) {
      assert.throws(() => store.get(key), (err: unknown) => isSealtrailError(err, 'invalid_argument'), key);
    }
    assert.throws(() => store.put({ v: NaN }), (err: unknown) => isSealtrailError(err, 'non_canonical_value'));
    assert.throws(() => store.put({ v: 2 ** 60 }), (err: unknown) => isSealtrailError(err, 'unsafe_integer'));
  });
});

for (const backend of BACKENDS) {
  describe(`payloads and failure paths on ${backend.name}`, () => {
    it('a payload store that cannot write fails the write that needed it, recording nothing', async () => {
      const blocked = join(tempDir(), 'not-a-dir');
      writeFileSync(blocked, 'a file where the store wants a directory');
      await withRecorder(await backend.freshUrl(), async (recorder, ledger) => {
        const g = await linearRun(recorder);
        const before = (await ledger.head()).size;
        await assert.rejects(
          () => recorder.createRow(g.run.run_id as string, { sourceNodeId: g.source.node_id as string, rowIndex: 0, data: { v: 1 } }),
          (err: unknown) => isSealtrailError(err, 'payload_store_failed'),
        );
        assert.equal((await ledger.head()).size, before);
        const [rows] = await ledger.store.query<{ n: unknown }>('SELECT COUNT(*) AS n FROM pipeline_rows');
        assert.equal(Number(rows!.n), 0);
      }, blocked);
    });

    it('retention purge deletes the payloads only old runs use, keeps shared ones and every hash, and degrades the grade', async () => {
      await withRecorder(await backend.freshUrl(), async (recorder) => {
        const old = await linearRun(recorder);
        const shared = { id: 1, name: 'shared' };
        const a = await lifecycle(recorder, old, 0, shared);
        const b = await lifecycle(recorder, old, 1, { id: 2, name: 'only old' });
        await recorder.finishRun(old.run.run_id as string, 'completed');
        const kept = await linearRun(recorder);
        await lifecycle(recorder, kept, 0, shared);
        const result = await recorder.purgePayloads(0);
        assert.deepEqual(result.runs, [old.run.run_id]);
        assert.deepEqual(recorder.readPayload(a.row.source_data_ref as string), { available: true, value: shared });
        assert.deepEqual(recorder.readPayload(b.row.source_data_ref as string), { available: false, reason: 'purged' });
        const audit = await recorder.runAudit(old.run.run_id as string);
        assert.equal(audit.run.reproducibility_grade, 'attributable_only');
        assert.equal(audit.records.pipeline_rows[1]!.source_data_hash, stableHash({ id: 2, name: 'only old' }), 'the hash stays');
      });
    });

    if (backend.name === 'postgres') {
      it('a connection lost in the middle of a fork leaves nothing partial and surfaces as a coded error', async () => {
        const url = await backend.freshUrl();
        await withRecorder(url, async (recorder, ledger) => {
          const g = await linearRun(recorder);
          const runId = g.run.run_id as string;
          const { token } = await recorder.createRow(runId, { sourceNodeId: g.source.node_id as string, rowIndex: 0, data: { v: 1 } });
          // The recorder's own backend is terminated while it inserts the second parent link.
          await tamper(url, `CREATE FUNCTION cut_connection() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN IF NEW.ordinal = 0 AND EXISTS (SELECT 1 FROM pipeline_tokens WHERE token_id = NEW.token_id AND branch_name = 'cut') THEN
              PERFORM pg_terminate_backend(pg_backend_pid()); PERFORM pg_sleep(5); END IF; RETURN NEW; END $$`);
          await tamper(url, 'CREATE TRIGGER cut_connection BEFORE INSERT ON pipeline_token_parents FOR EACH ROW EXECUTE FUNCTION cut_connection()');
          const before = (await ledger.head()).size;
          await assert.rejects(
            () => recorder.forkToken(runId, token.token_id as string, { branches: ['a', 'cut'] }),
            (err: unknown) => isSealtrailError(err) && ['database_unreachable', 'database_error'].includes(err.code),
          );
          assert.equal((await ledger.head()).size, before, 'no ledger entry of the fork');
          const [tokens] = await ledger.store.query<{ n: unknown }>('SELECT COUNT(*) AS n FROM pipeline_tokens');
          const [links] = await ledger.store.query<{ n: unknown }>('SELECT COUNT(*) AS n FROM pipeline_token_parents');
          assert.deepEqual([Number(tokens!.n), Number(links!.n)], [1, 0], 'no child token and no link');
          assert.equal(await recorder.getTerminalOutcome(runId, token.token_id as string), null, 'the parent is not marked forked');
          // The recorder recovers on a new connection, and the fork can be retried.
          const children = await recorder.forkToken(runId, token.token_id as string, { branches: ['a', 'b'] });
          assert.equal(children.length, 2);
          assert.equal((await ledger.verify()).ok, true);
        });
      });
    }
  });
}
