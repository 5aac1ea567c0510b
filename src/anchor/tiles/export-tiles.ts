/**
 * `sealtrail tiles export <dir>`: the ledger at its newest checkpoint as C2SP tlog-tiles files in a
 * directory, the same files and rules as a `tiles:file:<dir>` sink (publish-tiles.ts), for a
 * one-off copy or a cron job that syncs the directory to a web server.
 */
import { resolve } from 'node:path';
import { SealtrailError } from '../../core/errors.js';
import { NoteVerifier } from '../../core/note.js';
import type { Ledger } from '../../ledger/ledger.js';
import { checkedRecord, ledgerLeaves } from '../publish.js';
import { sinkFailed } from '../retry.js';
import { publishTiles, type TilesPublishResult } from './publish-tiles.js';
import { FileTileStorage } from './tile-storage.js';

export interface TilesExportOptions {
  /** Trusted log verifier keys: the checkpoint is exported only when its note verifies under one. */
  vkeys: readonly string[];
}

export async function exportTiles(ledger: Ledger, dir: string, options: TilesExportOptions): Promise<TilesPublishResult & { dir: string; checkpointId: number }> {
  const verifiers = options.vkeys.map((k) => NoteVerifier.fromKey(k));
  const checkpoints = await ledger.checkpoints();
  // The largest tree, newest first among equals (a re-signed checkpoint after a key rotation).
  const newest = checkpoints.reduce<(typeof checkpoints)[number] | undefined>((best, c) => (!best || c.size > best.size || (c.size === best.size && c.id > best.id) ? c : best), undefined);
  if (!newest) throw new SealtrailError('invalid_argument', 'the ledger has no checkpoint to export: run `sealtrail checkpoint` first');
  const record = checkedRecord({ id: newest.id, origin: newest.origin, size: newest.size, root: newest.root, chain_hash: newest.chainHash, note: newest.note }, verifiers);
  const target = resolve(dir);
  try {
    const result = await publishTiles(new FileTileStorage(target), record, (from, to) => ledgerLeaves(ledger, from, to));
    return { ...result, dir: target, checkpointId: newest.id };
  } catch (err) {
    throw sinkFailed(`tiles:file:${target}`, err);
  }
}
