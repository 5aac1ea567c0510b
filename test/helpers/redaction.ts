/**
 * A redaction done exactly as the contract in docs/spec.md says, so the verifier's side can be
 * tested on its own: one chained event of kind sealtrail.redaction, pk = the seq, payload naming
 * the seq and its event_hash, appended in the same transaction that blanks the payload.
 */
import type { Ledger } from '../../src/ledger/ledger.js';

export async function redactForTest(ledger: Ledger, seq: number, reason = 'erasure request'): Promise<number> {
  const entry = await ledger.entry(seq);
  if (!entry) throw new Error(`no entry ${seq}`);
  const { entries } = await ledger.appendWith(
    [{ kind: 'sealtrail.redaction', pk: String(seq), payload: { seq, event_hash: entry.eventHash.toString('hex'), reason } }],
    async (tx) => {
      await tx.run('UPDATE audit_chain SET payload = NULL WHERE seq = ?', [seq]);
    },
  );
  return entries[0]!.seq;
}
