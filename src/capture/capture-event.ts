/** The ledger event of one captured row, built in TypeScript (the sequencer and backfill). */
import { canonicalHash } from '../core/canonical-json.js';
import type { PreparedEvent } from '../ledger/prepare-event.js';
import { canonicalRowAndPk, type RowColumn } from './canonical-row.js';

function ownMembers(rowJson: string): RowColumn[] {
  return Object.keys(JSON.parse(rowJson) as object).map((name) => ({ name, tag: 'json' }));
}

export function captureEvent(kind: string, columns: readonly RowColumn[], rowJson: string, pkColumns: readonly string[], version?: string): PreparedEvent {
  const { payload, pk } = canonicalRowAndPk(columns.length > 0 ? columns : ownMembers(rowJson), rowJson, pkColumns);
  const event: PreparedEvent = { kind, pk, canonical: payload, eventHash: canonicalHash(payload), onConflict: 'version' };
  if (version !== undefined) event.version = version;
  return event;
}
