/**
 * Run lifecycle: a running run holds a lease its process renews (the heartbeat); a lease that
 * expired means the process died, and the run is marked `abandoned` (an audited transition
 * through the recorder) by whoever looks next (`sealtrail runs`, `sealtrail sweep`), so no run
 * stays "running" forever.
 */
import type { PipelineRecorder } from '../pipeline-recorder.js';
import { pipelineSchemaInstalled } from '../schema.js';

/** Marks every running run whose lease expired before `now` abandoned; returns their ids. */
export async function abandonExpiredRuns(recorder: PipelineRecorder, now = new Date()): Promise<string[]> {
  if (!(await pipelineSchemaInstalled(recorder.ledger.store))) return [];
  const rows = await recorder.ledger.store.query<{ run_id: string; lease_expires_at: string | null }>(
    "SELECT run_id, lease_expires_at FROM pipeline_runs WHERE status = 'running' AND lease_expires_at IS NOT NULL ORDER BY run_id",
  );
  const abandoned: string[] = [];
  for (const r of rows) {
    if (r.lease_expires_at === null || Date.parse(String(r.lease_expires_at)) >= now.getTime()) continue;
    await recorder.finishRun(r.run_id, 'abandoned');
    abandoned.push(r.run_id);
  }
  return abandoned;
}

/**
 * Renews a run's lease every third of its length. Renewals are chained one after another and
 * `stop()` waits for the last, so a renewal never races the run's final transition.
 */
export class LeaseHeartbeat {
  private chain: Promise<unknown> = Promise.resolve();
  private readonly timer: NodeJS.Timeout;
  private failure: unknown = null;

  constructor(recorder: PipelineRecorder, runId: string, owner: string, seconds: number) {
    this.timer = setInterval(() => {
      this.chain = this.chain.then(() => recorder.renewLease(runId, { leaseOwner: owner, leaseSeconds: seconds })).catch((e: unknown) => {
        this.failure ??= e;
      });
    }, Math.max(200, (seconds * 1000) / 3));
    this.timer.unref();
  }

  /** Stops renewing; the first renewal failure, if any, is returned (the run then ends failed). */
  async stop(): Promise<unknown> {
    clearInterval(this.timer);
    await this.chain;
    return this.failure;
  }
}
