/**
 * Worker thread for parallel verification: opens its own connection to the ledger and verifies
 * the segments it is sent, one result message per segment.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { openStore } from '../store/open-store.js';
import { verifySegment, type SegmentTask } from './segment-verifier.js';

const { url } = workerData as { url: string };
const store = openStore(url, { readonly: true, poolSize: 1 });

parentPort!.on('message', (message: SegmentTask | 'close') => {
  if (message === 'close') {
    void store.close().finally(() => process.exit(0));
    return;
  }
  verifySegment(store, message).then(
    (result) => parentPort!.postMessage({ ok: true, result }),
    (err: unknown) => parentPort!.postMessage({ ok: false, error: { message: (err as Error).message, code: (err as { code?: string }).code } }),
  );
});
