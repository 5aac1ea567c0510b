/** The ledger event of one captured row, built in TypeScript (the sequencer and backfill). */
import { canonicalHash } from '../core/canonical-json.js';
import { VERSION_INFIX } from '../core/row-key.js';
import type { Queryable } from '../store/store.js';
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

/** A captured change: an outbox entry (queued), or a change read from the slot (wal). */
export type OutboxRow = {
  id: number;
  event_kind: string;
  relid: number;
  pk_columns: string[];
  op: 'insert' | 'update' | 'delete';
  row_data: string | null;
  old_data: string | null;
};

/**
 * Column tags of each table, read fresh for every batch so a column added since the last batch
 * is seen as SQL would see it. A table dropped before its queued rows were sequenced has none:
 * its rows are then canonicalised from their own members, as plain JSON.
 */
export async function columnTags(q: Queryable, relids: readonly number[]): Promise<Map<number, RowColumn[]>> {
  const byRel = new Map<number, RowColumn[]>(relids.map((r) => [r, []]));
  const rows = await q.query<{ relid: number; name: string; tag: string }>(
    'SELECT r.relid::int8 AS relid, c.name, c.tag FROM unnest(?::oid[]) AS r(relid) CROSS JOIN LATERAL sealtrail_column_tags(r.relid) c ORDER BY r.relid, c.num',
    [`{${relids.join(',')}}`],
  );
  for (const r of rows) byRel.get(Number(r.relid))!.push({ name: r.name, tag: r.tag });
  return byRel;
}

/**
 * The events of outbox entries, in order (docs/spec.md, "Row versions"): an insert chains NEW
 * under its pk; an update chains NEW as pk#update@seq, preceded by OLD's key as pk#delete@seq
 * when the key changed; a delete chains OLD as pk#delete@seq.
 */
export function outboxEvents(rows: readonly OutboxRow[], tags: Map<number, RowColumn[]>): PreparedEvent[] {
  const events: PreparedEvent[] = [];
  for (const r of rows) {
    const columns = tags.get(Number(r.relid)) ?? [];
    const now = r.row_data === null ? null : captureEvent(r.event_kind, columns, r.row_data, r.pk_columns, r.op === 'insert' ? undefined : VERSION_INFIX.update);
    if (r.old_data !== null && r.op !== 'insert') {
      const old = captureEvent(r.event_kind, columns, r.old_data, r.pk_columns, VERSION_INFIX.delete);
      if (!(r.op === 'update' && now !== null && now.pk === old.pk)) events.push(old);
    }
    if (now !== null) events.push(now);
  }
  return events;
}
