/** Ledgers with entries in them, for tests: opened on a real database and seeded in one batch. */
import { openLedger, type Ledger } from '../../src/ledger/ledger.js';
import type { EventInput } from '../../src/ledger/prepare-event.js';

/** The default event i (0-based): kind `e`, pk `i+1`, payload `{ i }`. */
export const plainEvent = (i: number): EventInput => ({ kind: 'e', pk: String(i + 1), payload: { i } });

/** Opens the ledger at `url` and appends `count` events made by `event` (the caller closes it). */
export async function seededLedger(url: string, count: number, event: (i: number) => EventInput = plainEvent): Promise<Ledger> {
  const ledger = await openLedger({ url });
  await appendSeeded(ledger, count, event);
  return ledger;
}

/** Appends `count` events made by `event`, in one batch. */
export async function appendSeeded(ledger: Ledger, count: number, event: (i: number) => EventInput = plainEvent): Promise<void> {
  if (count > 0) await ledger.appendBatch(Array.from({ length: count }, (_, i) => event(i)));
}
