/**
 * The pipeline tables as `sealtrail scan` targets. A record is chained when written (pk = its id)
 * and again at every status transition (`<id>#v<n>`, the full record after the change); a record
 * deleted by the recorder (a completed run's checkpoints) leaves a tombstone (`<id>#deleted`).
 * The row as it is now must hash to its LATEST chained version; earlier versions are history,
 * held by the chain itself (verify re-hashes their payloads). So an edited row is `edited`, a
 * deleted row leaves its versions `deleted`, a row nobody chained is `unchained`, and only a
 * deletion the chain records as a tombstone is not a finding.
 */
import { eventHash } from '../core/canonical-json.js';
import type { ScanTarget } from '../ledger/scan.js';
import type { Store } from '../store/store.js';
import { pipelineSchemaInstalled } from './schema.js';
import { basePk, PIPELINE_TABLES, rawRecord, recordPayload, recordPk, selectList, TABLES, tombstonePk, type PipelineRecord, type PipelineTable } from './tables.js';

const PAGE_SIZE = 1000;

export function pipelineScanTargets(store: Store): ScanTarget[] {
  return PIPELINE_TABLES.map((table) => ({ kind: table, rows: () => tableRows(store, table) }));
}

interface Version {
  seq: number;
  pk: string;
  eventHash: Buffer;
}

async function* tableRows(store: Store, table: PipelineTable): AsyncIterable<{ pk: string; eventHash: Buffer }> {
  if (!(await pipelineSchemaInstalled(store))) return;
  const chained = new Map<string, Version[]>();
  const entries = await store.query<{ seq: unknown; event_pk: string; event_hash: Buffer }>('SELECT seq, event_pk, event_hash FROM audit_chain WHERE event_kind = ? ORDER BY seq', [table]);
  for (const e of entries) {
    const base = basePk(e.event_pk);
    let list = chained.get(base);
    if (!list) chained.set(base, (list = []));
    list.push({ seq: Number(e.seq), pk: e.event_pk, eventHash: e.event_hash });
  }
  const key = TABLES[table].key;
  const order = key.join(', ');
  const seen = new Set<string>();
  for (let offset = 0; ; offset += PAGE_SIZE) {
    const page = await store.query(`SELECT ${selectList(table)} FROM ${table} ORDER BY ${order} LIMIT ? OFFSET ?`, [PAGE_SIZE, offset]);
    for (const row of page) {
      const raw = rawRecord(table, row);
      const pk = recordPk(table, raw as PipelineRecord);
      seen.add(pk);
      const hash = eventHash(recordPayload(table, raw as PipelineRecord));
      const versions = chained.get(pk);
      if (!versions) {
        yield { pk, eventHash: hash };
        continue;
      }
      const latest = versions[versions.length - 1]!;
      for (const v of versions) yield v === latest ? { pk: v.pk, eventHash: hash } : { pk: v.pk, eventHash: v.eventHash };
    }
    if (page.length < PAGE_SIZE) break;
  }
  // Rows the recorder deleted and chained a tombstone for: their history is complete, not a finding.
  for (const [pk, versions] of chained) {
    if (seen.has(pk)) continue;
    if (versions[versions.length - 1]!.pk !== tombstonePk(pk)) continue;
    for (const v of versions) yield { pk: v.pk, eventHash: v.eventHash };
  }
}
