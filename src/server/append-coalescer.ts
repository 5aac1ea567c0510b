/**
 * Holds POST /api/events appends until the end of the current event-loop turn, then hands them
 * to the ledger together. The ledger's group commit shares one durable commit among the appends
 * queued when it starts; requests, though, arrive one socket read at a time, and a SQLite commit
 * blocks the loop while it syncs, so without this each request would start its own commit and
 * pay its own fsync. Each append still succeeds or fails on its own.
 */
import type { AppendResult, Ledger } from '../ledger/ledger.js';

interface Pending {
  kind: string;
  pk: string;
  payload: unknown;
  resolve: (entry: AppendResult) => void;
  reject: (err: unknown) => void;
}

export class AppendCoalescer {
  private pending: Pending[] = [];
  private scheduled = false;

  constructor(private readonly ledger: Ledger) {}

  append(kind: string, pk: string, payload: unknown): Promise<AppendResult> {
    return new Promise((resolve, reject) => {
      this.pending.push({ kind, pk, payload, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.release());
      }
    });
  }

  private release(): void {
    this.scheduled = false;
    const batch = this.pending;
    this.pending = [];
    for (const p of batch) this.ledger.append(p.kind, p.pk, p.payload).then(p.resolve, p.reject);
  }
}
