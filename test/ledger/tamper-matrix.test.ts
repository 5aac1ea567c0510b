/**
 * The tamper matrix: every way someone with write access can alter the ledger tables, each
 * caught with the right seq and reason, on both backends; intact ledgers raise no false alarm.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { openLedger, headToJson, type Ledger } from '../../src/ledger/ledger.js';
import { tamper, type Tampering } from '../../src/ledger/tamper-simulator.js';
import { parseTrustedState } from '../../src/ledger/trusted-state.js';
import { generateSignerKey, NoteSigner, NoteVerifier } from '../../src/core/note.js';
import type { DivergenceReason } from '../../src/ledger/verifier.js';
import { BACKENDS } from '../helpers/databases.js';

const SIZE = 12;

async function seeded(url: string): Promise<Ledger> {
  const ledger = await openLedger({ url });
  await ledger.appendBatch(Array.from({ length: SIZE }, (_, i) => ({ kind: i % 2 ? 'deploy' : 'login', pk: `e${i + 1}`, payload: { n: i + 1, user: `u${i % 3}` } })));
  return ledger;
}

interface Case {
  name: string;
  tampering: Tampering;
  /** Expected first divergence without a trusted state (null: invisible to a table-only check). */
  tableOnly: { seq: number; reason: DivergenceReason } | null;
  /** Expected first divergence when verifying against the trusted head taken before tampering. */
  trusted: { seq: number; reason: DivergenceReason };
}

const CASES: Case[] = [
  { name: 'edit a payload', tampering: { type: 'edit_payload', seq: 5, payload: { n: 500 } }, tableOnly: { seq: 5, reason: 'event_hash_mismatch' }, trusted: { seq: SIZE, reason: 'checkpoint_mismatch' } },
  { name: 'edit an event_hash', tampering: { type: 'edit_event_hash', seq: 7 }, tableOnly: { seq: 7, reason: 'event_hash_mismatch' }, trusted: { seq: SIZE, reason: 'checkpoint_mismatch' } },
  { name: 'edit a prev_hash', tampering: { type: 'edit_prev_hash', seq: 4 }, tableOnly: { seq: 4, reason: 'prev_hash_mismatch' }, trusted: { seq: SIZE, reason: 'checkpoint_mismatch' } },
  { name: 'edit a chain_hash', tampering: { type: 'edit_chain_hash', seq: 9 }, tableOnly: { seq: 9, reason: 'chain_hash_mismatch' }, trusted: { seq: SIZE, reason: 'checkpoint_mismatch' } },
  { name: 'delete a middle row', tampering: { type: 'delete_row', seq: 6 }, tableOnly: { seq: 6, reason: 'seq_gap' }, trusted: { seq: SIZE, reason: 'checkpoint_mismatch' } },
  { name: 'delete the first row', tampering: { type: 'delete_row', seq: 1 }, tableOnly: { seq: 1, reason: 'seq_gap' }, trusted: { seq: SIZE, reason: 'checkpoint_mismatch' } },
  { name: 'truncate the tail, head left alone', tampering: { type: 'truncate_tail', keep: 8, rewindHead: false }, tableOnly: { seq: 9, reason: 'truncated' }, trusted: { seq: 9, reason: 'truncated' } },
  { name: 'truncate the tail and rewind the head', tampering: { type: 'truncate_tail', keep: 8, rewindHead: true }, tableOnly: null, trusted: { seq: 9, reason: 'truncated' } },
  { name: 'swap two rows', tampering: { type: 'swap_rows', a: 3, b: 10 }, tableOnly: { seq: 3, reason: 'prev_hash_mismatch' }, trusted: { seq: SIZE, reason: 'checkpoint_mismatch' } },
  { name: 'slip in a phantom row after the head', tampering: { type: 'phantom_row', kind: 'login', pk: 'ghost', payload: { n: 0 } }, tableOnly: { seq: SIZE + 1, reason: 'root_mismatch' }, trusted: { seq: SIZE + 1, reason: 'root_mismatch' } },
  { name: 're-chain everything after an edit', tampering: { type: 'rechain', seq: 5, payload: { n: 5, user: 'someone-else' } }, tableOnly: null, trusted: { seq: SIZE, reason: 'checkpoint_mismatch' } },
];

for (const backend of BACKENDS) {
  describe(`tamper matrix on ${backend.name}`, () => {
    it('raises no alarm on an intact ledger, with or without a trusted state', async () => {
      const ledger = await seeded(await backend.freshUrl());
      try {
        const trusted = parseTrustedState(JSON.stringify(headToJson(await ledger.head())));
        await ledger.append('login', 'later', { n: 99 });
        assert.deepEqual((await ledger.verify()).divergence, null);
        const fromTrusted = await ledger.verify({ trusted });
        assert.equal(fromTrusted.divergence, null);
        assert.equal(fromTrusted.checked, 1, 'verification from a trusted state costs only the entries after it');
        assert.equal((await ledger.verify({ trusted, from: 1 })).ok, true);
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
          const tableOnly = await ledger.verify();
          if (c.tableOnly) {
            assert.equal(tableOnly.ok, false);
            assert.deepEqual({ seq: tableOnly.divergence?.seq, reason: tableOnly.divergence?.reason }, c.tableOnly);
          } else {
            assert.equal(tableOnly.ok, true, 'this forgery is consistent within the tables alone');
          }
          const full = await ledger.verify({ trusted, from: 1 });
          assert.equal(full.ok, false);
          const expected = c.tableOnly ?? c.trusted;
          assert.deepEqual({ seq: full.divergence?.seq, reason: full.divergence?.reason }, expected);
          // From the trusted state on, only what it cannot vouch for is read: forgeries that
          // rewrite the tail or cut it off are caught there; edits to the vouched-for prefix
          // need the full run above (which the monitor's window re-verification provides).
          const incremental = await ledger.verify({ trusted });
          const touchesTail = ['truncate_tail', 'rechain', 'phantom_row'].includes(c.tampering.type);
          if (touchesTail) assert.equal(incremental.ok, false, 'verifying from the trusted state catches it too');
        } finally {
          await ledger.close();
        }
      });
    }

    it('catches a re-chain against a signed checkpoint note too', async () => {
      const ledger = await seeded(await backend.freshUrl());
      try {
        const keys = generateSignerKey('audit.example/log');
        const cp = await ledger.checkpoint(NoteSigner.fromKey(keys.signerKey));
        await tamper(ledger.store, { type: 'rechain', seq: 2, payload: { forged: true } });
        const trusted = parseTrustedState(cp.note, [NoteVerifier.fromKey(keys.verifierKey)]);
        const report = await ledger.verify({ trusted });
        assert.deepEqual({ seq: report.divergence?.seq, reason: report.divergence?.reason }, { seq: SIZE, reason: 'checkpoint_mismatch' });
      } finally {
        await ledger.close();
      }
    });
  });
}
