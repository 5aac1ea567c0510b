/// <reference lib="dom" />
/**
 * The explorer's in-browser checks (web/src/verify.ts, WebCrypto only) agree with the library's:
 * canonical JSON, leaf and chain hashes, inclusion and consistency proofs from a real ledger, and
 * note signatures; and each refuses what the library refuses. Node's WebCrypto stands in for the
 * browser's (the browser tests run the same code in chromium).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import '../helpers/replay.js';
import { canonicalize as coreCanonicalize } from '../../src/core/canonical-json.js';
import { chainHash as coreChainHash } from '../../src/core/chain.js';
import { ledgerLeafHash as coreLeafHash } from '../../src/core/ledger-leaf.js';
import { generateSignerKey, NoteSigner, signNote } from '../../src/core/note.js';
import { openLedger, type Ledger } from '../../src/ledger/ledger.js';
import { sqliteUrl } from '../helpers/databases.js';
import { canonicalize, chainHash, ledgerLeafHash, parseCheckpoint, rootFromInclusion, verifyConsistency, verifyNoteSignature, type Step } from '../../web/src/verify.js';

const bytes32 = fc.uint8Array({ minLength: 32, maxLength: 32 });

describe('the explorer’s checks agree with the library', () => {
  it('canonical JSON is the library’s for any JSON value', () => {
    fc.assert(fc.property(fc.jsonValue(), (v) => canonicalize(v) === coreCanonicalize(v)));
  });

  it('leaf and chain hashes are the library’s', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ minLength: 1 }), fc.string({ minLength: 1 }), bytes32, bytes32, fc.bigInt({ min: 0n, max: 1n << 62n }), fc.integer({ min: 1, max: 2 ** 40 }), async (kind, pk, event, prev, micros, seq) => {
        fc.pre(!/\p{Cs}/u.test(kind + pk));
        assert.deepEqual(Buffer.from(await ledgerLeafHash(kind, pk, event, micros)), coreLeafHash({ kind, pk, eventHash: event, appendedAtMicros: micros }));
        assert.deepEqual(Buffer.from(await chainHash(prev, event, seq)), coreChainHash(prev, event, seq));
      }),
      { numRuns: 50 },
    );
  });

  describe('proofs from a real ledger', () => {
    let ledger: Ledger;
    before(async () => {
      ledger = await openLedger({ url: sqliteUrl() });
      await ledger.appendBatch(Array.from({ length: 70 }, (_, i) => ({ kind: 'k', pk: `p-${i}`, payload: { i } })));
    });
    after(() => ledger.close());

    it('every inclusion proof leads to the root; a wrong sibling or index does not', async () => {
      for (const size of [1, 2, 3, 7, 8, 16, 33, 70]) {
        const root = await ledger.rootAt(size);
        for (let index = 0; index < size; index += Math.max(1, Math.floor(size / 5))) {
          const p = await ledger.proveInclusion(index + 1, size);
          const steps: Step[] = [];
          assert.deepEqual(Buffer.from((await rootFromInclusion(p.index, size, p.leafHash, p.proof, steps))!), root, `index ${index} of ${size}`);
          assert.equal(steps.length, p.proof.length);
          if (p.proof.length > 0) {
            const bad = p.proof.map((h) => Buffer.from(h));
            bad[0]![0]! ^= 1;
            assert.notDeepEqual(Buffer.from((await rootFromInclusion(p.index, size, p.leafHash, bad, []))!), root);
          }
          if (size > 1) {
            const other = await rootFromInclusion((p.index + 1) % size, size, p.leafHash, p.proof, []);
            assert.ok(other === null || !Buffer.from(other).equals(root), 'the proof fits only its own index');
          }
        }
      }
    });

    it('every consistency proof holds; an altered one or a wrong root does not', async () => {
      for (const [o, n] of [[1, 2], [1, 70], [2, 3], [4, 8], [7, 8], [8, 16], [16, 22], [22, 37], [33, 70], [70, 70]] as const) {
        const p = await ledger.proveConsistency(o, n);
        assert.ok(await verifyConsistency(o, n, p.oldRoot, p.newRoot, p.proof), `${o} → ${n}`);
        assert.ok(!(await verifyConsistency(o, n, p.newRoot.equals(p.oldRoot) ? Buffer.alloc(32) : p.newRoot, p.newRoot, p.proof)), `${o} → ${n} with a wrong old root`);
        if (p.proof.length > 0) {
          const bad = p.proof.map((h) => Buffer.from(h));
          bad[bad.length - 1]![5]! ^= 1;
          assert.ok(!(await verifyConsistency(o, n, p.oldRoot, p.newRoot, bad)), `${o} → ${n} altered`);
        }
      }
    });
  });

  it('a note signature verifies under its key only, and not once the text changes', async () => {
    const { signerKey, verifierKey } = generateSignerKey('example.com/log');
    const other = generateSignerKey('example.com/log').verifierKey;
    const note = signNote('example.com/log\n5\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n', [NoteSigner.fromKey(signerKey)]);
    assert.ok(await verifyNoteSignature(parseCheckpoint(note), [verifierKey], []));
    const steps: Step[] = [];
    assert.ok(!(await verifyNoteSignature(parseCheckpoint(note), [other], steps)));
    assert.match(steps[0]!.detail, /no signature by this key/);
    assert.ok(!(await verifyNoteSignature(parseCheckpoint(note.replace('\n5\n', '\n6\n')), [verifierKey], [])));
    assert.ok(!(await verifyNoteSignature(parseCheckpoint(note), [], [])), 'no key: never a pass');
    // Half of all keys have a '+' inside their base64: the key is split at its first two '+' only.
    let withPlus = 0;
    for (let i = 0; i < 24; i++) {
      const k = generateSignerKey('example.com/log');
      if (k.verifierKey.split('+').length > 3) withPlus++;
      assert.ok(await verifyNoteSignature(parseCheckpoint(signNote('example.com/log\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n', [NoteSigner.fromKey(k.signerKey)])), [k.verifierKey], []), k.verifierKey);
    }
    assert.ok(withPlus > 0, 'some key had a + in its base64');
  });
});
