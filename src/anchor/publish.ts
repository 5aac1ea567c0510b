/**
 * Publishing checkpoints to sinks. Every sink is served independently (one failing sink never
 * stops the others) and catches up: anchor_sinks keeps the last checkpoint durably published to
 * each, and every later checkpoint is published in order on the next run. A checkpoint counts as
 * published only once the sink has acknowledged it durably (fsync, commit/push, HTTP 2xx, a
 * witness cosignature). A witness refusing the ledger's tree is a conflict and raises an alert.
 */
import { SealtrailError } from '../core/errors.js';
import type { NoteSigner } from '../core/note.js';
import { redact } from '../core/redact.js';
import type { CheckpointRecord, Ledger } from '../ledger/ledger.js';
import { raiseAlert, type Alert } from './alerts.js';
import { sinkFailed, withRetry, type RetryOptions } from './retry.js';
import { installAnchoring, jsonColumn } from './schema.js';
import { openSink } from './sinks/index.js';
import { sinkKey } from './sinks/sink-key.js';
import type { ConflictReason, PublishRecord, Sink } from './sinks/sink.js';

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
  const opened = sinks.map((s) => openSink(s, options.retry));
  const results = await Promise.all(opened.map((sink) => publishToSink(ledger, sink, options)));
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
  const sinks = (options.sinks ?? []).map((s) => openSink(s, options.retry));
  const checkpoint = await ledger.checkpoint(signers, options.origin === undefined ? {} : { origin: options.origin });
  const publish = await publishPending(ledger, sinks, options);
  return { checkpoint, publish };
}

async function publishToSink(ledger: Ledger, sink: Sink, options: PublishOptions): Promise<SinkPublishResult> {
  const result: SinkPublishResult = { sink: redact(sink.spec), kind: sink.kind, status: 'up_to_date', published: [] };
  try {
    const pending = await pendingFor(ledger, sink);
    for (const cp of pending) {
      const record: PublishRecord = { checkpointId: cp.id, origin: cp.origin, seq: cp.size, chainHash: cp.chain_hash, root: cp.root, note: cp.note };
      const previousSize = await lastPublishedSize(ledger, sinkKey(sink.spec));
      const outcome = await withRetry(
        () =>
          sink.publish(record, {
            previousSize,
            proveConsistency: async (oldSize, newSize) => (await ledger.proveConsistency(oldSize, newSize)).proof,
          }),
        options.retry,
      );
      if (outcome.status === 'conflict') {
        result.status = 'conflict';
        result.conflict = { reason: outcome.reason, message: outcome.message, seq: cp.size, witnessSize: outcome.witnessSize };
        await recordError(ledger, sinkKey(sink.spec), redact(outcome.message));
        return result;
      }
      if (outcome.cosignatures && outcome.cosignatures.length > 0) await storeCosignatures(ledger, cp.id, sink.spec, outcome.cosignatures);
      await ledger.store.run('UPDATE anchor_sinks SET last_checkpoint_id = ?, last_published_at = ?, last_error = NULL WHERE sink = ?', [
        cp.id,
        new Date().toISOString(),
        sinkKey(sink.spec),
      ]);
      result.published.push(cp.size);
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
