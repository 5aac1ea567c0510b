/**
 * Ledger.appendPrepared, the entry features use for events they canonicalised themselves (capture's
 * sequencer and backfill), run against each backend: the events and the caller's own write in the
 * same transaction commit together or not at all.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalHash, canonicalize } from '../../src/core/canonical-json.js';
import { isSealtrailError } from '../../src/core/errors.js';
import { openLedger, type Ledger, type PreparedEvent } from '../../src/ledger/ledger.js';
import { BACKENDS } from '../helpers/databases.js';

async function withLedger(url: string, fn: (l: Ledger) => Promise<void>) {
  const ledger = await openLedger({ url, maxPayloadBytes: 64 });
  try {
    await fn(ledger);
  } finally {
    await ledger.close();
  }
}

function prepared(kind: string, pk: string, payload: unknown, extra: Partial<PreparedEvent> = {}): PreparedEvent {
  const canonical = canonicalize(payload);
  return { kind, pk, canonical, eventHash: canonicalHash(canonical), ...extra };
}

/** A queue the caller drains in the same transaction as the entries, as the capture sequencer does. */
async function queueTable(ledger: Ledger, ids: number[]): Promise<void> {
  await ledger.store.exec('CREATE TABLE work_queue (id BIGINT PRIMARY KEY)');
  for (const id of ids) await ledger.store.run('INSERT INTO work_queue (id) VALUES (?)', [id]);
}

const queued = async (ledger: Ledger) => (await ledger.store.query<{ id: number }>('SELECT id FROM work_queue ORDER BY id')).map((r) => Number(r.id));

for (const backend of BACKENDS) {
  describe(`Ledger.appendPrepared on ${backend.name}`, () => {
    it('chains prepared events and commits the caller\'s write in the same transaction', async () => {
      await withLedger(await backend.freshUrl(), async (ledger) => {
        await queueTable(ledger, [1, 2, 3]);
        // Bigger than maxPayloadBytes (64): prepared events are not held to the append limit.
        const big = { text: 'x'.repeat(200) };
        const { entries, result } = await ledger.appendPrepared([prepared('row', '1', { id: 1 }), prepared('row', '2', big)], {
          inTransaction: async (tx) => tx.run('DELETE FROM work_queue WHERE id IN (1, 2)'),
        });
        assert.equal(result, 2);
        assert.deepEqual(entries.map((e) => [e.seq, e.kind, e.pk, e.existing]), [[1, 'row', '1', false], [2, 'row', '2', false]]);
        assert.equal(entries[1]!.payload, canonicalize(big));
        // The results are what the ledger stored, as append returns them.
        for (const e of entries) {
          const stored = await ledger.entry(e.seq);
          const { existing, ...rest } = e;
          assert.equal(existing, false);
          assert.deepEqual(rest, stored);
        }
        assert.deepEqual(await queued(ledger), [3]);
        // The same event again is the existing entry; a version chains a new row version.
        const again = await ledger.appendPrepared([prepared('row', '1', { id: 1 }), prepared('row', '1', { id: 1, v: 2 }, { version: '#update@' })]);
        assert.deepEqual(again.entries.map((e) => [e.seq, e.pk, e.existing]), [[1, '1', true], [3, '1#update@3', false]]);
        const report = await ledger.verify();
        assert.deepEqual({ ok: report.ok, checked: report.checked }, { ok: true, checked: 3 });
      });
    });

    it('keeps neither the entries nor the caller\'s write when inTransaction throws, while other appends commit', async () => {
      await withLedger(await backend.freshUrl(), async (ledger) => {
        await queueTable(ledger, [1, 2]);
        await ledger.append('before', 'b', { n: 0 });
        const boom = new Error('domain failure');
        const failing = ledger.appendPrepared([prepared('row', '1', { id: 1 }), prepared('row', '2', { id: 2 })], {
          inTransaction: async (tx) => {
            await tx.run('DELETE FROM work_queue WHERE id = 1');
            await tx.run('INSERT INTO work_queue (id) VALUES (99)');
            throw boom;
          },
        });
        const plain = ledger.append('other', 'c', { c: 1 });
        const [r1, r2] = await Promise.allSettled([failing, plain]);
        assert.equal(r1.status, 'rejected');
        assert.equal((r1 as PromiseRejectedResult).reason, boom);
        assert.equal(r2.status, 'fulfilled');
        assert.deepEqual(await queued(ledger), [1, 2]);
        const kinds: string[] = [];
        for await (const e of ledger.entries()) kinds.push(`${e.seq}:${e.kind}/${e.pk}`);
        assert.deepEqual(kinds, ['1:before/b', '2:other/c']);
        assert.equal((await ledger.verify()).ok, true);
      });
    });

    it('refuses malformed prepared events with invalid_event and writes nothing', async () => {
      await withLedger(await backend.freshUrl(), async (ledger) => {
        await queueTable(ledger, [1]);
        const good = prepared('row', 'ok', { ok: true });
        const cases: Array<[string, unknown]> = [
          ['not an object', 'row'],
          ['empty kind', { ...good, kind: '' }],
          ['NUL in pk', { ...good, pk: 'a\u0000b' }],
          ['canonical missing', { ...good, canonical: undefined }],
          ['short hash', { ...good, eventHash: Buffer.alloc(31) }],
          ['hash as hex', { ...good, eventHash: good.eventHash.toString('hex') }],
          ['empty version', { ...good, version: '' }],
          ['unknown onConflict', { ...good, onConflict: 'overwrite' }],
        ];
        let wrote = false;
        for (const [what, bad] of cases) {
          await assert.rejects(
            ledger.appendPrepared([good, bad as PreparedEvent], { inTransaction: async () => void (wrote = true) }),
            (e) => isSealtrailError(e, 'invalid_event') && e.details?.index === 1,
            what,
          );
        }
        await assert.rejects(ledger.appendPrepared('row' as unknown as PreparedEvent[]), (e) => isSealtrailError(e, 'invalid_argument'));
        assert.equal(wrote, false);
        assert.equal((await ledger.head()).size, 0);
        assert.deepEqual(await queued(ledger), [1]);
      });
    });

    it('chains the events as they were when handed over, whatever the caller changes afterwards', async () => {
      await withLedger(await backend.freshUrl(), async (ledger) => {
        const event = prepared('row', 'kept', { id: 1 });
        const pending = ledger.appendPrepared([event]);
        event.pk = 'changed';
        const { entries } = await pending;
        assert.equal(entries[0]!.pk, 'kept');
        assert.equal((await ledger.verify()).ok, true);
      });
    });
  });
}
