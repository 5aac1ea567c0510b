/** One conformance suite for the ledger, run against each backend. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import '../helpers/replay.js';
import { openLedger, type Ledger } from '../../src/ledger/ledger.js';
import { verifyConsistency, verifyInclusion, merkleRoot } from '../../src/core/merkle.js';
import { generateSignerKey, NoteSigner, NoteVerifier } from '../../src/core/note.js';
import { openCheckpoint } from '../../src/core/checkpoint.js';
import { isSealtrailError } from '../../src/core/errors.js';
import { BACKENDS } from '../helpers/databases.js';

async function withLedger(url: string, fn: (l: Ledger) => Promise<void>, opts: { maxPayloadBytes?: number } = {}) {
  const ledger = await openLedger({ url, ...opts });
  try {
    await fn(ledger);
  } finally {
    await ledger.close();
  }
}

for (const backend of BACKENDS) {
  describe(`ledger on ${backend.name}`, () => {
    it('appends gap-free entries whose hashes, proofs and root all verify', async () => {
      await withLedger(await backend.freshUrl(), async (ledger) => {
        const results = await Promise.all(Array.from({ length: 40 }, (_, i) => ledger.append('deploy', `d-${i}`, { i, who: 'agent-7', note: 'héllo "x"' })));
        assert.deepEqual(results.map((r) => r.seq).sort((a, b) => a - b), Array.from({ length: 40 }, (_, i) => i + 1));
        const head = await ledger.head();
        assert.equal(head.size, 40);
        const leaves: Buffer[] = [];
        for await (const e of ledger.entries()) leaves.push(e.leafHash);
        assert.deepEqual(merkleRoot(leaves), head.root);
        for (const seq of [1, 2, 17, 40]) {
          const p = await ledger.proveInclusion(seq);
          assert.ok(verifyInclusion(p.index, p.size, p.leafHash, p.proof, p.root));
          const old = await ledger.proveInclusion(seq, 20 > seq ? 20 : seq);
          assert.ok(verifyInclusion(old.index, old.size, old.leafHash, old.proof, old.root));
        }
        for (const oldSize of [1, 7, 32, 39, 40]) {
          const c = await ledger.proveConsistency(oldSize, 40);
          assert.ok(verifyConsistency(oldSize, 40, c.oldRoot, c.newRoot, c.proof));
          assert.deepEqual(c.oldRoot, merkleRoot(leaves.slice(0, oldSize)));
        }
        const report = await ledger.verify();
        assert.deepEqual({ ok: report.ok, checked: report.checked, divergence: report.divergence }, { ok: true, checked: 40, divergence: null });
      });
    });

    it('returns the existing entry for an identical event and refuses a different payload under the same key', async () => {
      await withLedger(await backend.freshUrl(), async (ledger) => {
        const first = await ledger.append('task', 't1', { a: 1, b: [1, 2] });
        const again = await ledger.append('task', 't1', { b: [1, 2], a: 1 });
        assert.equal(again.seq, first.seq);
        assert.equal(again.existing, true);
        await assert.rejects(ledger.append('task', 't1', { a: 2 }), (e) => isSealtrailError(e, 'duplicate_event'));
        assert.equal((await ledger.head()).size, 1);
      });
    });

    it('refuses bad input with a coded error and writes nothing', async () => {
      await withLedger(
        await backend.freshUrl(),
        async (ledger) => {
          const cases: Array<[string, string, unknown, string]> = [
            ['', 'pk', {}, 'invalid_event'],
            ['kind', '', {}, 'invalid_event'],
            ['kind', 'nan', { x: NaN }, 'non_canonical_value'],
            ['kind', 'inf', [Infinity], 'non_canonical_value'],
            ['kind', 'surrogate', { s: 'a\ud800b' }, 'non_canonical_value'],
            ['kind', 'undef', { u: undefined }, 'non_canonical_value'],
            ['kind', 'big', { s: 'x'.repeat(2000) }, 'payload_too_large'],
          ];
          for (const [kind, pk, payload, code] of cases) {
            await assert.rejects(ledger.append(kind, pk, payload), (e) => isSealtrailError(e) && e.code === code, `${kind}/${pk}`);
          }
          // A batch with one bad event is refused whole.
          await assert.rejects(
            ledger.appendBatch([
              { kind: 'k', pk: 'ok', payload: 1 },
              { kind: 'k', pk: 'bad', payload: NaN },
            ]),
            (e) => isSealtrailError(e, 'non_canonical_value') && e.details?.index === 1,
          );
          assert.equal((await ledger.head()).size, 0);
        },
        { maxPayloadBytes: 1000 },
      );
    });

    it('keeps a failing domain write and its events out, while the rest of the group commits', async () => {
      await withLedger(await backend.freshUrl(), async (ledger) => {
        await ledger.store.exec('CREATE TABLE side_rows (id TEXT PRIMARY KEY)');
        const ok = ledger.appendWith([{ kind: 'side_rows', pk: 'a', payload: { id: 'a' } }], async (tx) => {
          await tx.run('INSERT INTO side_rows (id) VALUES (?)', ['a']);
        });
        const failing = ledger.appendWith([{ kind: 'side_rows', pk: 'b', payload: { id: 'b' } }], async (tx) => {
          await tx.run('INSERT INTO side_rows (id) VALUES (?)', ['b']);
          throw new Error('domain failure');
        });
        const plain = ledger.append('other', 'c', { c: 1 });
        const [r1, r2, r3] = await Promise.allSettled([ok, failing, plain]);
        assert.equal(r1.status, 'fulfilled');
        assert.equal(r2.status, 'rejected');
        assert.equal(r3.status, 'fulfilled');
        const rows = await ledger.store.query<{ id: string }>('SELECT id FROM side_rows ORDER BY id');
        assert.deepEqual(rows.map((r) => r.id), ['a']);
        assert.equal((await ledger.head()).size, 2);
        assert.equal((await ledger.verify()).ok, true);
      });
    });

    it('streams entries in order and reports out-of-range proofs with a code', async () => {
      await withLedger(await backend.freshUrl(), async (ledger) => {
        await ledger.appendBatch(Array.from({ length: 25 }, (_, i) => ({ kind: 'e', pk: String(i), payload: { i } })));
        const seqs: number[] = [];
        for await (const e of ledger.entries(5, 9)) seqs.push(e.seq);
        assert.deepEqual(seqs, [5, 6, 7, 8, 9]);
        await assert.rejects(ledger.proveInclusion(26), (e) => isSealtrailError(e, 'out_of_range'));
        await assert.rejects(ledger.proveInclusion(3, 2), (e) => isSealtrailError(e, 'out_of_range'));
        await assert.rejects(ledger.proveConsistency(0, 5), (e) => isSealtrailError(e, 'out_of_range'));
        await assert.rejects(ledger.proveConsistency(5, 30), (e) => isSealtrailError(e, 'out_of_range'));
      });
    });

    it('issues signed checkpoints of the head that verify with the public key', async () => {
      await withLedger(await backend.freshUrl(), async (ledger) => {
        await ledger.append('e', '1', { x: 1 });
        const keys = generateSignerKey('audit.example/log');
        const cp = await ledger.checkpoint(NoteSigner.fromKey(keys.signerKey));
        const { checkpoint } = openCheckpoint(cp.note, [NoteVerifier.fromKey(keys.verifierKey)]);
        assert.equal(Number(checkpoint.size), 1);
        assert.deepEqual(Buffer.from(checkpoint.rootHash), (await ledger.head()).root);
        assert.equal((await ledger.checkpoints()).length, 1);
      });
    });

    it('property: any interleaving of single and batch appends yields a ledger whose proofs verify at every size', async () => {
      await withLedger(await backend.freshUrl(), async (ledger) => {
        let pk = 0;
        await fc.assert(
          fc.asyncProperty(fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 6 }), fc.nat(), fc.nat(), async (batches, pickSeq, pickOld) => {
            await Promise.all(batches.map((n) => ledger.appendBatch(Array.from({ length: n }, () => ({ kind: 'p', pk: String(pk++), payload: { pk } })))));
            const head = await ledger.head();
            const seq = 1 + (pickSeq % head.size);
            const p = await ledger.proveInclusion(seq);
            assert.ok(verifyInclusion(p.index, p.size, p.leafHash, p.proof, p.root));
            const old = 1 + (pickOld % head.size);
            const c = await ledger.proveConsistency(old, head.size);
            assert.ok(verifyConsistency(old, head.size, c.oldRoot, c.newRoot, c.proof));
          }),
          { numRuns: 15 },
        );
        assert.equal((await ledger.verify()).ok, true);
      });
    });
  });
}
