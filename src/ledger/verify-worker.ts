/**
 * Worker thread for parallel verification: opens its own connection to the ledger, reads one
 * snapshot (on PostgreSQL the very snapshot the main thread exported) and verifies the segments
 * it is sent, answering each with its task index, since segments finish in any order.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { openStore } from '../store/open-store.js';
import type { Snapshot } from '../store/store.js';
import { verifySegment, type SegmentTask } from './segment-verifier.js';

const { url, snapshotId } = workerData as { url: string; snapshotId: string | null };
const store = openStore(url, { readonly: true, poolSize: 1 });
let snapshot: Promise<Snapshot> | null = null;

parentPort!.on('message', (message: { index: number; task: SegmentTask } | 'close') => {
  if (message === 'close') {
    void (async () => {
      if (snapshot) await (await snapshot.catch(() => null))?.release().catch(() => {});
      await store.close().catch(() => {});
      process.exit(0);
    })();
    return;
  }
  snapshot ??= store.openSnapshot(snapshotId ? { snapshotId } : {});
  const { index, task } = message;
  snapshot
    .then((snap) => verifySegment(snap, task))
    .then(
      (result) => parentPort!.postMessage({ index, ok: true, result }),
      (err: unknown) => {
        const e = err as { message?: string; code?: string; details?: Record<string, unknown> };
        parentPort!.postMessage({ index, ok: false, error: { message: e.message ?? String(err), code: e.code, details: e.details } });
      },
    );
});
