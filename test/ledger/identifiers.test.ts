/**
 * kind and pk are identifiers: U+0000 and unpaired surrogates are refused with invalid_event
 * before any database work, identically on both backends, and never disturb other callers of
 * the same group commit. Payload strings with U+0000 are stored identically on both backends.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import '../helpers/replay.js';
import { isSealtrailError } from '../../src/core/errors.js';
import { eventHash } from '../../src/core/canonical-json.js';
import { openLedger } from '../../src/ledger/ledger.js';
import { prepareEvent } from '../../src/ledger/prepare-event.js';
import { BACKENDS } from '../helpers/databases.js';

const BAD_IDENTIFIERS = ['a\u0000b', '\u0000', 'x\ud800', '\udc00y', 'a\udbff\u0000', 'tail\ud83d'];

const isInvalidEvent = (e: unknown) => isSealtrailError(e, 'invalid_event');

describe('identifier rules (pure)', () => {
  it('property: an identifier with U+0000 or an unpaired surrogate anywhere is invalid_event, in kind and in pk', () => {
    const bad = fc.constantFrom('\u0000', '\ud800', '\udbff', '\udc00', '\udfff');
    fc.assert(
      fc.property(fc.string({ maxLength: 20 }), bad, fc.string({ maxLength: 20 }), fc.boolean(), (before, char, after, inKind) => {
        // A surrogate next to its partner would form a pair; keep the inserted one unpaired.
        const id = `${before.replace(/[\ud800-\udfff]/g, '')}${char}${after.replace(/[\ud800-\udfff]/g, '')}`;
        const event = inKind ? { kind: id, pk: 'p', payload: {} } : { kind: 'k', pk: id, payload: {} };
        assert.throws(() => prepareEvent(event, 1024), isInvalidEvent);
      }),
      { seed: 20261201, numRuns: 300 },
    );
  });

  it('property: identifiers of any other Unicode text (surrogate pairs included) are accepted unchanged', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 30 }), (id) => {
        fc.pre(!id.includes('\u0000'));
        const prepared = prepareEvent({ kind: id, pk: `${id}😀`, payload: null }, 1024);
        assert.deepEqual([prepared.kind, prepared.pk], [id, `${id}😀`]);
      }),
      { seed: 20261202, numRuns: 300 },
    );
  });
});

for (const backend of BACKENDS) {
  describe(`identifier rules on ${backend.name}`, () => {
    it('a NUL pk in a busy group commit is refused alone: every other caller succeeds', async () => {
      const ledger = await openLedger({ url: await backend.freshUrl() });
      try {
        const calls = Array.from({ length: 40 }, (_, i) => (i === 17 ? ledger.append('job', 'bad\u0000pk', { i }) : ledger.append('job', `j${i}`, { i })));
        const withDomain = ledger.appendWith([{ kind: 'job', pk: 'with-domain', payload: {} }], async (tx) => tx.query('SELECT 1 AS one'));
        const settled = await Promise.allSettled([...calls, withDomain]);
        const rejected = settled.flatMap((s, i) => (s.status === 'rejected' ? [i] : []));
        assert.deepEqual(rejected, [17]);
        assert.ok(isInvalidEvent((settled[17] as PromiseRejectedResult).reason));
        const head = await ledger.head();
        assert.equal(head.size, 40);
        assert.equal((await ledger.verify()).ok, true);
      } finally {
        await ledger.close();
      }
    });

    it('refuses every bad kind and pk the same way, in single appends and in batches, writing nothing', async () => {
      const ledger = await openLedger({ url: await backend.freshUrl() });
      try {
        await ledger.append('seed', '1', {});
        for (const id of BAD_IDENTIFIERS) {
          await assert.rejects(ledger.append(id, 'p', {}), isInvalidEvent, JSON.stringify(id));
          await assert.rejects(ledger.append('k', id, {}), isInvalidEvent, JSON.stringify(id));
          await assert.rejects(
            ledger.appendBatch([
              { kind: 'k', pk: 'fine', payload: 1 },
              { kind: 'k', pk: id, payload: 2 },
            ]),
            (e) => isInvalidEvent(e) && (e as { details?: { index?: number } }).details?.index === 1,
          );
        }
        assert.equal((await ledger.head()).size, 1);
      } finally {
        await ledger.close();
      }
    });
  });
}

describe('payload strings with U+0000', () => {
  it('are stored as the canonical escape, byte for byte the same on both backends, and verify', async () => {
    const payload = { 'key\u0000': 'a\u0000b', list: ['\u0000', 'ok'] };
    const stored: Array<{ payload: string | null; eventHash: string }> = [];
    for (const backend of BACKENDS) {
      const ledger = await openLedger({ url: await backend.freshUrl() });
      try {
        const entry = await ledger.append('nul', '1', payload);
        const back = (await ledger.entry(entry.seq))!;
        stored.push({ payload: back.payload, eventHash: back.eventHash.toString('hex') });
        assert.equal((await ledger.verify()).ok, true, backend.name);
        // The same payload again is recognised as the same event.
        assert.equal((await ledger.append('nul', '1', payload)).existing, true);
      } finally {
        await ledger.close();
      }
    }
    assert.equal(stored[0]!.payload, '{"key\\u0000":"a\\u0000b","list":["\\u0000","ok"]}');
    assert.ok(!stored[0]!.payload!.includes('\u0000'), 'no NUL byte reaches the database');
    assert.deepEqual(stored[1], stored[0]);
    assert.equal(stored[0]!.eventHash, eventHash(payload).toString('hex'));
  });
});
