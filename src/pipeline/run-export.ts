/**
 * Exports of one run: its complete audit as JSON Lines (one record per line with the seq of the
 * ledger entry that chains it as it is now, so every line can be proven), and OpenLineage 2-0-2
 * run events (START, then COMPLETE or FAIL) with a `sealtrail_rowLineage` run facet carrying the
 * outcome counts, for lineage tools such as Marquez.
 */
import { SealtrailError } from '../core/errors.js';
import type { PipelineRecorder } from './pipeline-recorder.js';
import { OUTCOMES } from './record-rules.js';
import { basePk, PIPELINE_TABLES, recordPk, type PipelineRecord } from './tables.js';

export const OPENLINEAGE_SCHEMA = 'https://openlineage.io/spec/2-0-2/OpenLineage.json#/definitions/RunEvent';
export const SEALTRAIL_PRODUCER = 'https://github.com/sealtrail/sealtrail';
export const ROW_LINEAGE_FACET_SCHEMA = 'https://github.com/sealtrail/sealtrail/blob/main/docs/pipeline.md#openlineage';

/** The run's records as JSON Lines: {"table", "seq", "record"} per line, tables in model order. */
export async function exportRunJsonl(recorder: PipelineRecorder, runId: string): Promise<string[]> {
  const audit = await recorder.runAudit(runId);
  const lines: string[] = [];
  for (const table of PIPELINE_TABLES) {
    const records = audit.records[table];
    if (records.length === 0) continue;
    const latest = new Map<string, number>();
    const entries = await recorder.ledger.store.query<{ seq: unknown; event_pk: string }>('SELECT seq, event_pk FROM audit_chain WHERE event_kind = ? ORDER BY seq', [table]);
    for (const e of entries) latest.set(basePk(e.event_pk), Number(e.seq));
    for (const record of records) {
      const seq = latest.get(recordPk(table, record));
      if (seq === undefined) throw new SealtrailError('audit_integrity', `${table} ${recordPk(table, record)} has no ledger entry`, { details: { table, id: recordPk(table, record), rule: 'unchained' } });
      lines.push(JSON.stringify({ table, seq, record }));
    }
  }
  return lines;
}

export function outcomeCounts(outcomes: readonly PipelineRecord[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const o of OUTCOMES) counts[o] = 0;
  for (const o of outcomes) if (o.is_terminal === 1) counts[o.outcome as string] = (counts[o.outcome as string] ?? 0) + 1;
  return counts;
}

/** An OpenLineage run id is a UUID; a sealtrail run id (128 random bits, hex) is written as one. */
export function runUuid(runId: string): string {
  if (!/^[0-9a-f]{32}$/.test(runId)) return runId;
  return `${runId.slice(0, 8)}-${runId.slice(8, 12)}-${runId.slice(12, 16)}-${runId.slice(16, 20)}-${runId.slice(20)}`;
}

/** START, and COMPLETE or FAIL once the run has ended (none for a run still running). */
export async function openLineageEvents(recorder: PipelineRecorder, runId: string, namespace = 'sealtrail'): Promise<Record<string, unknown>[]> {
  const { run, records } = await recorder.runAudit(runId);
  const datasets = (type: string) =>
    records.pipeline_nodes.filter((n) => n.node_type === type).map((n) => ({ namespace, name: String(n.plugin_name), facets: {} }));
  const job = { namespace, name: `pipeline_${String(run.config_hash).slice(0, 12)}`, facets: {} };
  const facet = {
    _producer: SEALTRAIL_PRODUCER,
    _schemaURL: ROW_LINEAGE_FACET_SCHEMA,
    rows: records.pipeline_rows.length,
    tokens: records.pipeline_tokens.length,
    outcomes: outcomeCounts(records.pipeline_token_outcomes),
  };
  const event = (eventType: string, eventTime: string) => ({
    eventType,
    eventTime,
    producer: SEALTRAIL_PRODUCER,
    schemaURL: OPENLINEAGE_SCHEMA,
    run: { runId: runUuid(runId), facets: { sealtrail_rowLineage: facet } },
    job,
    inputs: datasets('source'),
    outputs: datasets('sink'),
  });
  const events = [event('START', run.started_at as string)];
  if (run.status === 'completed') events.push(event('COMPLETE', run.completed_at as string));
  else if (run.status !== 'running') events.push(event('FAIL', run.completed_at as string));
  return events;
}

/** POSTs each event to an OpenLineage endpoint (e.g. Marquez: http://host:5000/api/v1/lineage). */
export async function postOpenLineage(url: string, events: readonly Record<string, unknown>[]): Promise<void> {
  for (const e of events) {
    let response: Response;
    try {
      response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(e) });
    } catch (err) {
      throw new SealtrailError('sink_failed', `cannot reach the OpenLineage endpoint: ${(err as Error).message}`, { cause: err, details: { eventType: e.eventType } });
    }
    if (!response.ok) throw new SealtrailError('sink_failed', `the OpenLineage endpoint answered ${response.status}`, { details: { status: response.status, eventType: e.eventType } });
  }
}
