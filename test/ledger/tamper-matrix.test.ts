/**
 * The tamper matrix: every way someone with write access can alter the ledger tables, each
 * caught with the right seq and reason, on both backends; intact ledgers raise no false alarm.
 * Each case is verified three ways: table only, against a trusted head (whole ledger re-read),
 * and against the trusted head with the prefix skipped, whose blind spot is asserted too.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { openLedger, headToJson, type Ledger } from '../../src/ledger/ledger.js';
import { tamper, type Tampering } from '../../src/ledger/tamper-simulator.js';
import { parseTrustedState } from '../../src/ledger/trusted-state.js';
import { generateSignerKey, NoteSigner, NoteVerifier } from '../../src/core/note.js';
import type { DivergenceReason, VerifyReport } from '../../src/ledger/verifier.js';
import { BACKENDS } from '../helpers/databases.js';
import { redactForTest } from '../helpers/redaction.js';
import { seededLedger } from '../helpers/ledgers.js';

const SIZE = 12;

const seeded = (url: string): Promise<Ledger> => seededLedger(url, SIZE, (i) => ({ kind: i % 2 ? 'deploy' : 'login', pk: `e${i + 1}`, payload: { n: i + 1, user: `u${i % 3}` } }));

type Expected = { seq: number; reason: DivergenceReason } | null;

interface Case {
  name: string;
  tampering: Tampering;
  /** Without a trusted state (null: invisible to a table-only check). */
  tableOnly: Expected;
  /** Against the trusted head taken before tampering, whole ledger re-read. */
  trusted: Expected;
  /** Against the trusted head with skipPrefix (null: the documented blind spot). */
  skipPrefix: Expected;
}

const at = (seq: number, reason: DivergenceReason) => ({ seq, reason });

const CASES: Case[] = [
  { name: 'edit a payload', tampering: { type: 'edit_payload', seq: 5, payload: { n: 500 } }, tableOnly: at(5, 'event_hash_mismatch'), trusted: at(5, 'event_hash_mismatch'), skipPrefix: null },
  { name: 'edit an event_hash', tampering: { type: 'edit_event_hash', seq: 7 }, tableOnly: at(7, 'event_hash_mismatch'), trusted: at(7, 'event_hash_mismatch'), skipPrefix: null },
  { name: 'edit a prev_hash', tampering: { type: 'edit_prev_hash', seq: 4 }, tableOnly: at(4, 'prev_hash_mismatch'), trusted: at(4, 'prev_hash_mismatch'), skipPrefix: null },
  { name: 'edit a chain_hash', tampering: { type: 'edit_chain_hash', seq: 9 }, tableOnly: at(9, 'chain_hash_mismatch'), trusted: at(9, 'chain_hash_mismatch'), skipPrefix: null },
  { name: 'delete a middle row', tampering: { type: 'delete_row', seq: 6 }, tableOnly: at(6, 'seq_gap'), trusted: at(6, 'seq_gap'), skipPrefix: null },
  { name: 'delete the first row', tampering: { type: 'delete_row', seq: 1 }, tableOnly: at(1, 'seq_gap'), trusted: at(1, 'seq_gap'), skipPrefix: null },
  { name: 'truncate the tail, head left alone', tampering: { type: 'truncate_tail', keep: 8, rewindHead: false }, tableOnly: at(9, 'truncated'), trusted: at(9, 'truncated'), skipPrefix: at(SIZE, 'truncated') },
  { name: 'truncate the tail and rewind the head', tampering: { type: 'truncate_tail', keep: 8, rewindHead: true }, tableOnly: null, trusted: at(9, 'truncated'), skipPrefix: at(9, 'truncated') },
  { name: 'swap two rows', tampering: { type: 'swap_rows', a: 3, b: 10 }, tableOnly: at(3, 'prev_hash_mismatch'), trusted: at(3, 'prev_hash_mismatch'), skipPrefix: null },
  { name: 'slip in a phantom row after the head', tampering: { type: 'phantom_row', kind: 'login', pk: 'ghost', payload: { n: 0 } }, tableOnly: at(SIZE + 1, 'root_mismatch'), trusted: at(SIZE + 1, 'root_mismatch'), skipPrefix: at(SIZE + 1, 'root_mismatch') },
  { name: 're-chain everything after an edit, tree rebuilt', tampering: { type: 'rechain', seq: 5, payload: { n: 5, user: 'someone-else' } }, tableOnly: null, trusted: at(SIZE, 'checkpoint_mismatch'), skipPrefix: at(SIZE, 'checkpoint_mismatch') },
  { name: 'lazy re-chain, Merkle storage left stale', tampering: { type: 'lazy_rechain', seq: 5, payload: { n: 5, user: 'someone-else' } }, tableOnly: at(5, 'tree_mismatch'), trusted: at(5, 'tree_mismatch'), skipPrefix: at(SIZE, 'checkpoint_mismatch') },
  // A stored tile hash is reported at the seq whose append completes it: leaf hash i at seq i + 1.
  // SIZE leaves fit one partial level-0 tile, so every hash in it is also on the frontier.
  { name: 'edit a leaf hash in the partial tile', tampering: { type: 'edit_tile', level: 0, index: 0, position: 2 }, tableOnly: at(3, 'tree_mismatch'), trusted: at(3, 'tree_mismatch'), skipPrefix: at(SIZE, 'checkpoint_mismatch') },
  { name: 'edit the last leaf hash in the partial tile', tampering: { type: 'edit_tile', level: 0, index: 0, position: SIZE - 1 }, tableOnly: at(SIZE, 'tree_mismatch'), trusted: at(SIZE, 'tree_mismatch'), skipPrefix: at(SIZE, 'checkpoint_mismatch') },
  { name: 'delete the tile', tampering: { type: 'delete_tile', level: 0, index: 0 }, tableOnly: at(1, 'tree_mismatch'), trusted: at(1, 'tree_mismatch'), skipPrefix: at(SIZE, 'checkpoint_mismatch') },
  { name: 'truncate the partial tile', tampering: { type: 'truncate_tile', level: 0, index: 0, width: 10 }, tableOnly: at(11, 'tree_mismatch'), trusted: at(11, 'tree_mismatch'), skipPrefix: at(SIZE, 'checkpoint_mismatch') },
  { name: "edit the head row's chain_hash", tampering: { type: 'edit_head', field: 'chain_hash' }, tableOnly: at(SIZE, 'root_mismatch'), trusted: at(SIZE, 'root_mismatch'), skipPrefix: at(SIZE, 'root_mismatch') },
  { name: "edit the head row's root", tampering: { type: 'edit_head', field: 'root' }, tableOnly: at(SIZE, 'root_mismatch'), trusted: at(SIZE, 'root_mismatch'), skipPrefix: at(SIZE, 'root_mismatch') },
  { name: "shrink the head row's size", tampering: { type: 'set_head_size', size: 10 }, tableOnly: at(11, 'root_mismatch'), trusted: at(11, 'root_mismatch'), skipPrefix: at(11, 'root_mismatch') },
  { name: "grow the head row's size", tampering: { type: 'set_head_size', size: 14 }, tableOnly: at(13, 'truncated'), trusted: at(13, 'truncated'), skipPrefix: at(13, 'truncated') },
  { name: 'blank a payload without a redaction event', tampering: { type: 'blank_payload', seq: 6 }, tableOnly: at(6, 'unrecorded_redaction'), trusted: at(6, 'unrecorded_redaction'), skipPrefix: null },
];

function found(report: VerifyReport): Expected {
  return report.divergence ? { seq: report.divergence.seq, reason: report.divergence.reason } : null;
}

for (const backend of BACKENDS) {
  describe(`tamper matrix on ${backend.name}`, () => {
    it('raises no alarm on an intact ledger, with or without a trusted state, and reports what it recomputed', async () => {
      const ledger = await seeded(await backend.freshUrl());
      try {
        const trustedHead = await ledger.head();
        const trusted = parseTrustedState(JSON.stringify(headToJson(trustedHead)));
        await ledger.append('login', 'later', { n: 99 });
        const head = await ledger.head();
        const plain = await ledger.verify();
        assert.equal(plain.divergence, null);
        assert.deepEqual({ size: plain.size, chainHash: plain.chainHash, root: plain.root, headSize: plain.headSize }, { size: SIZE + 1, chainHash: head.chainHash, root: head.root, headSize: SIZE + 1 });
        const fromTrusted = await ledger.verify({ trusted });
        assert.equal(fromTrusted.divergence, null);
        assert.equal(fromTrusted.checked, SIZE + 1, 'a trusted state re-reads the whole ledger by default');
        assert.equal(fromTrusted.skippedPrefix, false);
        const skipped = await ledger.verify({ trusted, skipPrefix: true });
        assert.deepEqual({ ok: skipped.ok, checked: skipped.checked, from: skipped.from, skippedPrefix: skipped.skippedPrefix }, { ok: true, checked: 1, from: SIZE + 1, skippedPrefix: true });
        // The recomputed frontier is a trusted state of its own: skipping from it needs no stored tree.
        const fromFrontier = await ledger.verify({ trusted: { size: SIZE, root: trustedHead.root, chainHash: trustedHead.chainHash, frontier: (await ledger.verify({ to: SIZE })).frontier! }, skipPrefix: true });
        assert.equal(fromFrontier.ok, true);
        assert.deepEqual(fromFrontier.root, head.root);
      } finally {
        await ledger.close();
      }
    });

    for (const c of CASES) {
      it(`catches: ${c.name}`, async () => {
        const ledger = await seeded(await backend.freshUrl());
        try {
          const trusted = parseTrustedState(JSON.stringify(headToJson(await ledger.head())));
          await tamper(ledger.store, c.tampering);
          assert.deepEqual(found(await ledger.verify()), c.tableOnly, 'table only');
          assert.deepEqual(found(await ledger.verify({ trusted })), c.trusted, 'against the trusted head');
          const skipped = await ledger.verify({ trusted, skipPrefix: true });
          assert.deepEqual(found(skipped), c.skipPrefix, 'against the trusted head, prefix skipped');
          assert.equal(skipped.skippedPrefix, true);
        } finally {
          await ledger.close();
        }
      });
    }

    for (const honestAppend of [false, true]) {
      it(`catches a lazy re-chain against a signed checkpoint note${honestAppend ? ' after a later honest append' : ''}, at the edited seq`, async () => {
        const ledger = await seeded(await backend.freshUrl());
        try {
          const keys = generateSignerKey('audit.example/log');
          const cp = await ledger.checkpoint(NoteSigner.fromKey(keys.signerKey));
          await tamper(ledger.store, { type: 'lazy_rechain', seq: 7, payload: { forged: true } });
          // The appender builds on the stale stored frontier, so the head agrees with the stale tree again.
          if (honestAppend) await ledger.append('login', 'honest', { n: 13 });
          const trusted = parseTrustedState(cp.note, [NoteVerifier.fromKey(keys.verifierKey)]);
          assert.deepEqual(found(await ledger.verify()), at(7, 'tree_mismatch'));
          assert.deepEqual(found(await ledger.verify({ trusted })), at(7, 'tree_mismatch'));
          // Skipping the prefix: the chain hash the checkpoint signs (sealtrail-chain-hash line)
          // still differs from the re-chained row at the trusted size.
          assert.ok(trusted.chainHash, 'checkpoints bind the chain hash');
          assert.deepEqual(found(await ledger.verify({ trusted, skipPrefix: true })), at(SIZE, 'checkpoint_mismatch'));
          // The blind spot of skipping the prefix, stated: with a root-only trusted state (a plain
          // C2SP checkpoint), the stale stored frontier still folds to the signed root.
          const rootOnly = { size: trusted.size, root: trusted.root };
          assert.deepEqual(found(await ledger.verify({ trusted: rootOnly, skipPrefix: true })), honestAppend ? null : at(SIZE, 'root_mismatch'));
        } finally {
          await ledger.close();
        }
      });
    }

    it('reports the lazy re-chain of the issue at seq 57, after an honest append, against a signed checkpoint, in parallel too', async () => {
      const ledger = await openLedger({ url: await backend.freshUrl() });
      try {
        await ledger.appendBatch(Array.from({ length: 150 }, (_, i) => ({ kind: 'k', pk: `p${i + 1}`, payload: { i } })));
        const keys = generateSignerKey('audit.example/log');
        const cp = await ledger.checkpoint(NoteSigner.fromKey(keys.signerKey));
        await tamper(ledger.store, { type: 'lazy_rechain', seq: 57, payload: { i: 'forged' } });
        await ledger.append('k', 'honest', { i: 150 });
        const trusted = parseTrustedState(cp.note, [NoteVerifier.fromKey(keys.verifierKey)]);
        for (const opts of [{}, { workers: 4, segmentLog2: 4 }]) {
          const report = await ledger.verify({ trusted, ...opts });
          assert.deepEqual(found(report), at(57, 'tree_mismatch'), JSON.stringify(opts));
          assert.equal(report.size, 56);
        }
      } finally {
        await ledger.close();
      }
    });

    it('catches a diligent re-chain against a signed checkpoint note', async () => {
      const ledger = await seeded(await backend.freshUrl());
      try {
        const keys = generateSignerKey('audit.example/log');
        const cp = await ledger.checkpoint(NoteSigner.fromKey(keys.signerKey));
        await tamper(ledger.store, { type: 'rechain', seq: 2, payload: { forged: true } });
        const trusted = parseTrustedState(cp.note, [NoteVerifier.fromKey(keys.verifierKey)]);
        assert.deepEqual(found(await ledger.verify({ trusted })), at(SIZE, 'checkpoint_mismatch'));
        assert.deepEqual(found(await ledger.verify({ trusted, skipPrefix: true })), at(SIZE, 'checkpoint_mismatch'));
      } finally {
        await ledger.close();
      }
    });

    it('accepts a recorded redaction, lists it, and refuses every redaction record that does not hold', async () => {
      const ledger = await seeded(await backend.freshUrl());
      try {
        const r3 = await redactForTest(ledger, 3);
        const r8 = await redactForTest(ledger, 8);
        const report = await ledger.verify();
        assert.equal(report.ok, true);
        assert.deepEqual(report.redacted, [3, 8]);
        // The redaction events lie past `to`: looked up and checked all the same.
        const early = await ledger.verify({ to: 5 });
        assert.deepEqual({ ok: early.ok, redacted: early.redacted }, { ok: true, redacted: [3] });
        assert.equal((await ledger.entry(3))!.payload, null);

        // A blanked redaction event is itself unrecorded, and no longer records seq 8.
        await tamper(ledger.store, { type: 'blank_payload', seq: r8 });
        assert.deepEqual(found(await ledger.verify()), at(8, 'unrecorded_redaction'));
        assert.deepEqual(found(await ledger.verify({ from: 9 })), at(r8, 'unrecorded_redaction'));
        assert.equal(r3 < r8, true);
      } finally {
        await ledger.close();
      }
    });

    it('reports an unrecorded redaction first even when the break after it is found earlier in the stream', async () => {
      const ledger = await seeded(await backend.freshUrl());
      try {
        // A redaction event naming the wrong event_hash does not record the blanked row.
        const entry = await ledger.entry(4);
        await ledger.appendWith([{ kind: 'sealtrail.redaction', pk: '4', payload: { seq: 4, event_hash: '00'.repeat(32), reason: 'forged' } }], async (tx) => {
          await tx.run('UPDATE audit_chain SET payload = NULL WHERE seq = ?', [4]);
        });
        assert.notEqual(entry!.eventHash.toString('hex'), '00'.repeat(32));
        await tamper(ledger.store, { type: 'edit_payload', seq: 9, payload: { n: 9 } });
        for (const opts of [{}, { segmentLog2: 1 }, { segmentLog2: 1, workers: 3 }]) {
          const report = await ledger.verify(opts);
          assert.deepEqual(found(report), at(4, 'unrecorded_redaction'), JSON.stringify(opts));
          assert.deepEqual({ size: report.size, checked: report.checked, redacted: report.redacted }, { size: 3, checked: 3, redacted: [] });
        }
      } finally {
        await ledger.close();
      }
    });
  });
}
