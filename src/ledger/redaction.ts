/**
 * Redaction: erasing an entry's payload (an erasure request) without breaking the audit trail.
 * One write transaction appends a chained `sealtrail.redaction` event naming the entry (pk = its
 * seq; payload {seq, event_hash, reason}) and sets that entry's payload to NULL. The entry's
 * event_hash, chain_hash and Merkle leaf stay, so the chain, the tree and every proof still
 * verify; the verifier accepts a NULL payload only where such an event names it.
 */
import { SealtrailError, isSealtrailError } from '../core/errors.js';
import type { Tx } from '../store/store.js';
import type { AppendResult, Ledger } from './ledger.js';

export const REDACTION_EVENT_KIND = 'sealtrail.redaction';

export interface RedactionResult {
  /** The redacted entry. */
  seq: number;
  /** Its event_hash, which stays in the ledger and is named by the redaction event. */
  eventHash: Buffer;
  reason: string;
  /** The chained sealtrail.redaction event. */
  redaction: AppendResult;
}

type TargetRow = {
  event_kind: string;
  event_hash: Buffer;
  payload: string | null;
};

export async function redactEntry(ledger: Ledger, seq: number, reason: string): Promise<RedactionResult> {
  if (!Number.isSafeInteger(seq)) throw new SealtrailError('invalid_argument', 'seq must be an integer', { details: { seq: String(seq) } });
  if (typeof reason !== 'string' || reason.trim() === '') {
    throw new SealtrailError('invalid_argument', 'a redaction needs a reason (e.g. the erasure request it answers)');
  }
  // Checked before the write for a clear answer, and again under the write lock in case of a race.
  const size = (await ledger.head()).size;
  if (seq < 1 || seq > size) throw new SealtrailError('out_of_range', `seq ${seq} is not in the ledger (size ${size})`, { details: { seq, size } });
  const target = await readTarget(ledger.store, seq);
  checkRedactable(seq, target);
  const recorded = await ledger.store.query('SELECT seq FROM audit_chain WHERE event_kind = ? AND event_pk = ?', [REDACTION_EVENT_KIND, String(seq)]);
  if (recorded.length > 0) throw alreadyRedacted(seq, 'a redaction event for it is already chained');
  const eventHash = Buffer.from(target.event_hash);

  const payload = { seq, event_hash: eventHash.toString('hex'), reason };
  try {
    const { entries } = await ledger.appendWith([{ kind: REDACTION_EVENT_KIND, pk: String(seq), payload }], async (tx, appended) => {
      if (appended[0]!.existing) throw alreadyRedacted(seq, 'a redaction event for it is already chained');
      const current = await readTarget(tx, seq);
      checkRedactable(seq, current);
      if (!Buffer.from(current.event_hash).equals(eventHash)) {
        throw new SealtrailError('integrity_failure', `entry ${seq} changed its event_hash while it was being redacted`, { details: { seq } });
      }
      await blankPayload(tx, seq, ledger.store.capabilities.triggerCapture);
    });
    return { seq, eventHash, reason, redaction: entries[0]! };
  } catch (err) {
    // Another redaction of the same entry won the race (with another reason).
    if (isSealtrailError(err, 'duplicate_event')) throw alreadyRedacted(seq, 'a redaction event for it is already chained');
    throw err;
  }
}

async function readTarget(db: Pick<Tx, 'query'>, seq: number): Promise<TargetRow> {
  const rows = await db.query<TargetRow>('SELECT event_kind, event_hash, payload FROM audit_chain WHERE seq = ?', [seq]);
  if (!rows[0]) throw new SealtrailError('integrity_failure', `entry ${seq} is missing from audit_chain`, { details: { seq } });
  return rows[0];
}

function checkRedactable(seq: number, row: TargetRow): void {
  if (row.event_kind === REDACTION_EVENT_KIND) {
    throw new SealtrailError('not_redactable', `entry ${seq} is a ${REDACTION_EVENT_KIND} event, the record of an erasure; it cannot be redacted`, { details: { seq } });
  }
  if (row.payload === null) throw alreadyRedacted(seq, 'its payload is already NULL');
}

function alreadyRedacted(seq: number, why: string): SealtrailError {
  return new SealtrailError('already_redacted', `entry ${seq} cannot be redacted: ${why}`, { details: { seq } });
}

/**
 * On PostgreSQL with capture installed, audit_chain refuses UPDATE unless the transaction declares
 * maintenance; the guard then chains the statement as a sealtrail.maintenance event too.
 */
async function blankPayload(tx: Tx, seq: number, guarded: boolean): Promise<void> {
  if (guarded) await tx.query("SELECT set_config('sealtrail.maintenance', 'on', true)");
  const changed = await tx.run('UPDATE audit_chain SET payload = NULL WHERE seq = ?', [seq]);
  if (guarded) await tx.query("SELECT set_config('sealtrail.maintenance', '', true)");
  if (changed !== 1) throw new SealtrailError('internal', `blanking entry ${seq} changed ${changed} rows`, { details: { seq, changed } });
}
