/**
 * Publishing checkpoints to sinks. Every sink is served independently (one failing sink never
 * stops the others) and catches up: anchor_sinks keeps the last checkpoint durably published to
 * each, and every later checkpoint is published in order on the next run. A checkpoint counts as
 * published only once the sink has acknowledged it durably (fsync, commit/push, HTTP 2xx, a
 * witness cosignature that verifies under the witness's configured key). A checkpoint row is
 * handed to a sink only when its note verifies under a trusted log key and matches the row. A
 * witness refusing the ledger's tree is a conflict and raises an alert.
 */
import { openCheckpoint } from '../core/checkpoint.js';
import { SealtrailError, isSealtrailError } from '../core/errors.js';
import { equalBytes } from '../core/hash.js';
import { NoteVerifier, type NoteSigner } from '../core/note.js';
import type { CheckpointRecord, Ledger } from '../ledger/ledger.js';
import { raiseAlert, type Alert } from './alerts.js';
import { redact } from '../core/redact.js';
import { sinkKey } from './sinks/sink-key.js';
import { sinkFailed, withRetry, type RetryOptions } from './retry.js';
import { installAnchoring, jsonColumn } from './schema.js';
import { signedChainHash } from './verify-sinks.js';
import { openSink, type SinkOptions } from './sinks/index.js';
import type { ConflictReason, PublishOutcome, PublishRecord, PublishedLeaf, Sink } from './sinks/sink.js';
import { ledgerLeafData } from '../core/ledger-leaf.js';

export interface SinkPublishResult {
  sink: string;
  kind: Sink['kind'];
  status: 'published' | 'up_to_date' | 'failed' | 'conflict';
  /** Tree sizes newly published, oldest first. */
  published: number[];
  error?: { code: string; message: string };
  conflict?: { reason: ConflictReason; message: string; seq: number; witnessSize: number | null };
}

export interface PublishReport {
  ok: boolean;
  results: SinkPublishResult[];
  /** Alerts newly raised for conflicts. */
  alerts: Alert[];
}

export interface PublishOptions {
  retry?: RetryOptions;
  /** Raise an audit_chain_break alert when a witness refuses the ledger (default true). */
  alertOnConflict?: boolean;
  /**
   * Trusted log verifier keys: a checkpoint row is published only when its note verifies under
   * one of them (issueCheckpoint adds its signers' keys). Without any, nothing pending is published.
   */
  vkeys?: readonly string[];
  /** Witness cosigner keys (`--witness-vkey`); a witness sink without one fails. */
  witnessKeys?: readonly string[];
}

type CheckpointRow = {
  id: number;
  origin: string;
  size: number;
  root: Buffer;
  chain_hash: Buffer;
  note: string;
};

/** Publishes every checkpoint each sink has not yet durably received. */
export async function publishPending(ledger: Ledger, sinks: readonly (string | Sink)[], options: PublishOptions = {}): Promise<PublishReport> {
  await installAnchoring(ledger.store);
  const opened = sinks.map((s) => openSink(s, sinkOptions(options)));
  const verifiers = (options.vkeys ?? []).map((k) => NoteVerifier.fromKey(k));
  const results = await Promise.all(opened.map((sink) => publishToSink(ledger, sink, verifiers, options)));
  const alerts: Alert[] = [];
  if (options.alertOnConflict ?? true) {
    for (const r of results) {
      if (!r.conflict) continue;
      const { alert, created } = await raiseAlert(ledger, {
        kind: 'audit_chain_break',
        severity: 'critical',
        seq: r.conflict.reason === 'witness_rollback' ? r.conflict.seq + 1 : r.conflict.seq,
        reason: r.conflict.reason,
        scope: r.sink,
        // The witness's size names the break; the ledger's size moves as alerts are appended.
        identity: `witness-size:${r.conflict.witnessSize ?? 'unknown'}`,
        details: { sink: redact(r.sink), message: r.conflict.message, witness_size: r.conflict.witnessSize, ledger_size: r.conflict.seq },
      });
      if (created) alerts.push(alert);
    }
  }
  return { ok: results.every((r) => r.status === 'published' || r.status === 'up_to_date'), results, alerts };
}

/** Signs a checkpoint of the current head and publishes it (and anything missed) to the sinks. */
export async function issueCheckpoint(
  ledger: Ledger,
  signers: NoteSigner | NoteSigner[],
  options: PublishOptions & { sinks?: readonly (string | Sink)[]; origin?: string } = {},
): Promise<{ checkpoint: CheckpointRecord; publish: PublishReport }> {
  const list = Array.isArray(signers) ? signers : [signers];
  const sinks = (options.sinks ?? []).map((s) => openSink(s, sinkOptions(options)));
  const checkpoint = await ledger.checkpoint(list, options.origin === undefined ? {} : { origin: options.origin });
  const vkeys = [...(options.vkeys ?? []), ...list.map((s) => s.verifierKey)];
  const publish = await publishPending(ledger, sinks, { ...options, vkeys });
  return { checkpoint, publish };
}

function sinkOptions(options: PublishOptions): SinkOptions {
  return { ...options.retry, ...(options.witnessKeys ? { witnessKeys: options.witnessKeys } : {}) };
}

async function publishToSink(ledger: Ledger, sink: Sink, verifiers: readonly NoteVerifier[], options: PublishOptions): Promise<SinkPublishResult> {
  const result: SinkPublishResult = { sink: redact(sink.spec), kind: sink.kind, status: 'up_to_date', published: [] };
  try {
    const pending = await pendingFor(ledger, sink);
    for (const first of pending) {
      let cp = first;
      let previousSize = await lastPublishedSize(ledger, sinkKey(sink.spec));
      const tried = new Set<number>();
      let outcome: PublishOutcome;
      for (;;) {
        tried.add(cp.id);
        const record = checkedRecord(cp, verifiers);
        outcome = await withRetry(
          () =>
            sink.publish(record, {
              previousSize,
              currentSize: async () => (await ledger.head()).size,
              proveConsistency: async (oldSize, newSize) => (await ledger.proveConsistency(oldSize, newSize)).proof,
              leaves: (from, to) => ledgerLeaves(ledger, from, to),
            }),
          options.retry,
        );
        if (outcome.status !== 'superseded') break;
        // Another publisher of this ledger got a larger checkpoint to the witness first: continue from there.
        const newer = await newestCheckpointFrom(ledger, outcome.witnessSize);
        if (!newer || tried.has(newer.id)) {
          throw new SealtrailError(
            'sink_failed',
            `witness ${redact(sink.spec)} already holds size ${outcome.witnessSize}, which no checkpoint recorded here reaches: issue a new checkpoint`,
            { details: { sink: redact(sink.spec), witness_size: outcome.witnessSize } },
          );
        }
        previousSize = outcome.witnessSize;
        cp = newer;
      }
      if (outcome.status === 'conflict') {
        result.status = 'conflict';
        result.conflict = { reason: outcome.reason, message: outcome.message, seq: cp.size, witnessSize: outcome.witnessSize };
        await recordError(ledger, sinkKey(sink.spec), redact(outcome.message));
        return result;
      }
      if (outcome.cosignatures && outcome.cosignatures.length > 0) await storeCosignatures(ledger, cp.id, sink.spec, outcome.cosignatures);
      // Never backwards: a racing publisher may have recorded a later checkpoint meanwhile.
      await ledger.store.run(
        'UPDATE anchor_sinks SET last_checkpoint_id = CASE WHEN last_checkpoint_id > ? AND last_published_at IS NOT NULL THEN last_checkpoint_id ELSE ? END, last_published_at = ?, last_error = NULL WHERE sink = ?',
        [cp.id, cp.id, new Date().toISOString(), sinkKey(sink.spec)],
      );
      if (!result.published.includes(cp.size)) result.published.push(cp.size);
      result.status = 'published';
    }
  } catch (err) {
    const error = sinkFailed(sink.spec, err);
    result.status = 'failed';
    result.error = { code: error.code, message: error.message };
    await recordError(ledger, sinkKey(sink.spec), redact(error.message)).catch(() => {});
  }
  return result;
}

/** Entries seq in [from, to] as the leaf_data and leaf hash the tiles sink publishes. */
export async function* ledgerLeaves(ledger: Ledger, from: number, to: number): AsyncIterable<PublishedLeaf> {
  for await (const e of ledger.entries(from, to)) {
    yield { data: ledgerLeafData({ kind: e.kind, pk: e.pk, eventHash: e.eventHash, appendedAtMicros: e.appendedAtMicros }), hash: e.leafHash };
  }
}

/**
 * The record to hand to a sink, only once the row's note verifies under a trusted log key and
 * says what the row's columns say: whoever can edit the checkpoints table cannot get a checkpoint
 * of their own, or a relabelled one, into a sink.
 */
export function checkedRecord(cp: CheckpointRow, verifiers: readonly NoteVerifier[]): PublishRecord {
  if (verifiers.length === 0) {
    throw new SealtrailError('key_unavailable', 'publishing needs the log verifier keys (--vkey) to check each checkpoint before it leaves the database');
  }
  let checkpoint;
  try {
    checkpoint = openCheckpoint(cp.note, verifiers).checkpoint;
  } catch (err) {
    if (isSealtrailError(err, 'invalid_signature') || isSealtrailError(err, 'invalid_note')) {
      throw new SealtrailError(err.code, `checkpoint ${cp.id} (size ${cp.size}) was not published: its note ${err.message}; the checkpoints table may have been edited`, {
        details: { checkpoint_id: cp.id, size: cp.size },
      });
    }
    throw err;
  }
  if (checkpoint.origin !== cp.origin || checkpoint.size !== cp.size || !equalBytes(checkpoint.rootHash, cp.root)) {
    throw new SealtrailError('integrity_failure', `checkpoint ${cp.id} (size ${cp.size}) was not published: its origin, size or root column differs from its signed note; the checkpoints table was edited`, {
      details: { checkpoint_id: cp.id, size: cp.size },
    });
  }
  const signedChain = signedChainHash(checkpoint);
  if (signedChain !== null && !equalBytes(signedChain, cp.chain_hash)) {
    throw new SealtrailError('integrity_failure', `checkpoint ${cp.id} (size ${cp.size}) was not published: its chain_hash column differs from the chain hash its note commits to; the checkpoints table was edited`, {
      details: { checkpoint_id: cp.id, size: cp.size },
    });
  }
  return { checkpointId: cp.id, origin: cp.origin, seq: cp.size, chainHash: cp.chain_hash, root: cp.root, note: cp.note };
}

/** The newest recorded checkpoint of at least `size` entries. */
async function newestCheckpointFrom(ledger: Ledger, size: number): Promise<CheckpointRow | null> {
  const rows = await ledger.store.query<CheckpointRow>('SELECT id, origin, size, root, chain_hash, note FROM checkpoints WHERE size >= ? ORDER BY id DESC LIMIT 1', [size]);
  const r = rows[0];
  return r ? { ...r, id: Number(r.id), size: Number(r.size) } : null;
}

/** Checkpoints after the last one this sink acknowledged; a sink seen for the first time starts at the newest. */
async function pendingFor(ledger: Ledger, sink: Sink): Promise<CheckpointRow[]> {
  const newest = await ledger.store.query<{ id: number }>('SELECT max(id) AS id FROM checkpoints');
  const newestId = newest[0]?.id === null || newest[0]?.id === undefined ? null : Number(newest[0].id);
  if (newestId === null) return [];
  await ledger.store.run(
    'INSERT INTO anchor_sinks (sink, label, last_checkpoint_id) VALUES (?, ?, ?) ON CONFLICT (sink) DO NOTHING',
    [sinkKey(sink.spec), redact(sink.spec), newestId - 1],
  );
  const state = await ledger.store.query<{ last_checkpoint_id: number }>('SELECT last_checkpoint_id FROM anchor_sinks WHERE sink = ?', [sinkKey(sink.spec)]);
  const after = Number(state[0]?.last_checkpoint_id ?? newestId - 1);
  const rows = await ledger.store.query<CheckpointRow>('SELECT id, origin, size, root, chain_hash, note FROM checkpoints WHERE id > ? ORDER BY id', [after]);
  const pending = rows.map((r) => ({ ...r, id: Number(r.id), size: Number(r.size) }));
  return sink.latestOnly ? pending.slice(-1) : pending;
}

async function lastPublishedSize(ledger: Ledger, spec: string): Promise<number | null> {
  const rows = await ledger.store.query<{ size: number }>(
    'SELECT c.size AS size FROM anchor_sinks s JOIN checkpoints c ON c.id = s.last_checkpoint_id WHERE s.sink = ? AND s.last_published_at IS NOT NULL',
    [spec],
  );
  return rows[0] ? Number(rows[0].size) : null;
}

async function storeCosignatures(ledger: Ledger, checkpointId: number, spec: string, lines: string[]): Promise<void> {
  await ledger.store.transaction(async (tx) => {
    const rows = await tx.query<{ cosignatures: unknown }>('SELECT cosignatures FROM checkpoints WHERE id = ?', [checkpointId]);
    const current = jsonColumn<Array<{ sink: string; line: string }>>(rows[0]?.cosignatures, []);
    const merged = [...current.filter((c) => c.sink !== redact(spec)), ...lines.map((line) => ({ sink: redact(spec), line }))];
    await tx.run('UPDATE checkpoints SET cosignatures = ? WHERE id = ?', [JSON.stringify(merged), checkpointId]);
  });
}

/** The witness cosignature lines stored with a checkpoint, by sink. */
export async function checkpointCosignatures(ledger: Ledger, checkpointId: number): Promise<Array<{ sink: string; line: string }>> {
  const rows = await ledger.store.query<{ cosignatures: unknown }>('SELECT cosignatures FROM checkpoints WHERE id = ?', [checkpointId]);
  if (!rows[0]) throw new SealtrailError('out_of_range', `no checkpoint ${checkpointId}`, { details: { id: checkpointId } });
  return jsonColumn(rows[0].cosignatures, []);
}

async function recordError(ledger: Ledger, spec: string, message: string): Promise<void> {
  await ledger.store.run('UPDATE anchor_sinks SET last_error = ? WHERE sink = ?', [message.slice(0, 1000), spec]);
}
