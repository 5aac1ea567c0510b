/**
 * Lineage: "what happened to row 42?". For one token (or the token of a row that reached a sink)
 * the source row with its data (or why the data is unavailable), every token back to the source
 * row with its node states in step order, routing events, calls, errors and outcome. Everything
 * is read strictly, so a corrupted row fails the explanation instead of being shown.
 */
import { SealtrailError } from '../core/errors.js';
import type { PipelineRecorder } from './pipeline-recorder.js';
import { basePk, recordPk, type PipelineRecord, type PipelineTable } from './tables.js';

export interface TokenLineage {
  token: PipelineRecord;
  parents: string[];
  /** Each routing event carries `reason` (from the payload store, else null) and `reason_status` (available, none, not_stored, purged). */
  states: Array<Record<string, unknown> & { routing: Array<Record<string, unknown>>; calls: PipelineRecord[] }>;
  transform_errors: PipelineRecord[];
  outcomes: PipelineRecord[];
}

export interface Lineage {
  run_id: string;
  token_id: string;
  row: Record<string, unknown> & { data: unknown; data_status: 'available' | 'purged' | 'not_stored' };
  validation_errors: PipelineRecord[];
  /** The explained token first, then its ancestors back to the row's first token. */
  ancestry: TokenLineage[];
  outcome: PipelineRecord | null;
}

export interface ExplainTarget {
  rowIndex?: number;
  tokenId?: string;
  /** With rowIndex: which sink's token, when the row reached several. */
  sink?: string;
}

const SINK_OUTCOMES = new Set(['completed', 'routed', 'diverted', 'quarantined']);

export async function explain(recorder: PipelineRecorder, runId: string, target: ExplainTarget): Promise<Lineage> {
  const audit = await recorder.runAudit(runId);
  const r = audit.records;
  if ((target.rowIndex === undefined) === (target.tokenId === undefined)) {
    throw new SealtrailError('invalid_argument', 'explain needs exactly one of a row index or a token id', { details: { argument: 'row|token' } });
  }
  const terminal = new Map(r.pipeline_token_outcomes.filter((o) => o.is_terminal === 1).map((o) => [o.token_id as string, o]));
  let tokenId: string;
  if (target.tokenId !== undefined) {
    if (!r.pipeline_tokens.some((t) => t.token_id === target.tokenId)) {
      throw new SealtrailError('out_of_range', `no token ${target.tokenId} in run ${runId}`, { details: { runId, tokenId: target.tokenId } });
    }
    tokenId = target.tokenId;
  } else {
    const row = r.pipeline_rows.find((x) => x.row_index === target.rowIndex);
    if (!row) throw new SealtrailError('out_of_range', `no row ${String(target.rowIndex)} in run ${runId}`, { details: { runId, rowIndex: target.rowIndex } });
    const tokens = r.pipeline_tokens.filter((t) => t.row_id === row.row_id);
    const atSinks = tokens.filter((t) => SINK_OUTCOMES.has(terminal.get(t.token_id as string)?.outcome as string));
    const chosen = target.sink === undefined ? atSinks : atSinks.filter((t) => terminal.get(t.token_id as string)!.sink_name === target.sink);
    const sinks = [...new Set(atSinks.map((t) => terminal.get(t.token_id as string)!.sink_name as string))].sort();
    if (chosen.length === 1) tokenId = chosen[0]!.token_id as string;
    else if (chosen.length === 0 && target.sink === undefined && atSinks.length === 0) {
      // The row reached no sink (failed, quarantined without a sink, still running): explain the token(s) with no children.
      const parents = new Set(r.pipeline_token_parents.map((l) => l.parent_token_id));
      const leaves = tokens.filter((t) => !parents.has(t.token_id));
      if (leaves.length !== 1) throw new SealtrailError('invalid_argument', `row ${String(target.rowIndex)} has ${leaves.length} final tokens; pick one with --token`, { details: { tokens: leaves.map((t) => t.token_id) } });
      tokenId = leaves[0]!.token_id as string;
    } else {
      throw new SealtrailError('invalid_argument', target.sink === undefined
        ? `row ${String(target.rowIndex)} reached several sinks (${sinks.join(', ')}); pick one with --sink`
        : `row ${String(target.rowIndex)} has ${chosen.length} tokens at sink ${target.sink} (sinks reached: ${sinks.join(', ') || 'none'})`, { details: { sinks } });
    }
  }
  const byId = new Map(r.pipeline_tokens.map((t) => [t.token_id as string, t]));
  const token = byId.get(tokenId)!;
  const ancestry: TokenLineage[] = [];
  const seen = new Set<string>();
  const queue = [tokenId];
  while (queue.length > 0) {
    const id = queue.shift()!;
    if (seen.has(id)) continue;
    seen.add(id);
    const parents = r.pipeline_token_parents.filter((l) => l.token_id === id).sort((a, b) => (a.ordinal as number) - (b.ordinal as number)).map((l) => l.parent_token_id as string);
    queue.push(...parents);
    const states = r.pipeline_node_states
      .filter((s) => s.token_id === id)
      .sort((a, b) => (a.step_index as number) - (b.step_index as number) || (a.attempt as number) - (b.attempt as number))
      .map((s) => ({
        ...s,
        // The reason itself from the payload store, when it is there (else why not: not_stored, purged).
        routing: r.pipeline_routing_events
          .filter((e) => e.state_id === s.state_id)
          .map((e) => {
            const reason = recorder.readPayload((e.reason_ref as string | null) ?? null);
            return { ...e, reason: reason.available ? reason.value : null, reason_status: reason.available ? 'available' : e.reason_ref === null ? 'none' : reason.reason };
          }),
        calls: r.pipeline_calls.filter((c) => c.state_id === s.state_id).sort((a, b) => (a.call_index as number) - (b.call_index as number)),
      }));
    ancestry.push({
      token: byId.get(id)!,
      parents,
      states,
      transform_errors: r.pipeline_transform_errors.filter((e) => e.token_id === id),
      outcomes: r.pipeline_token_outcomes.filter((o) => o.token_id === id),
    });
  }
  const row = r.pipeline_rows.find((x) => x.row_id === token.row_id)!;
  const data = recorder.readPayload((row.source_data_ref as string | null) ?? null);
  return {
    run_id: runId,
    token_id: tokenId,
    row: { ...row, data: data.available ? data.value : null, data_status: data.available ? 'available' : data.reason },
    validation_errors: r.pipeline_validation_errors.filter((e) => e.row_id === row.row_id),
    ancestry,
    outcome: terminal.get(tokenId) ?? null,
  };
}

/**
 * The ledger entries behind a lineage: for every record it shows (the row, each token, its parent
 * links, states, routing events, calls, errors and outcomes), the seq of the entry that chains the
 * record as it is now (its latest version), so each can be proven.
 */
export async function lineageEntries(recorder: PipelineRecorder, lineage: Lineage): Promise<Array<{ table: PipelineTable; pk: string; seq: number }>> {
  const wanted: Array<[PipelineTable, Record<string, unknown>]> = [['pipeline_rows', lineage.row]];
  for (const e of lineage.validation_errors) wanted.push(['pipeline_validation_errors', e]);
  for (const t of lineage.ancestry) {
    wanted.push(['pipeline_tokens', t.token]);
    t.parents.forEach((parent) => wanted.push(['pipeline_token_parents', { token_id: t.token.token_id, parent_token_id: parent }]));
    for (const s of t.states) {
      wanted.push(['pipeline_node_states', s]);
      for (const r of s.routing) wanted.push(['pipeline_routing_events', r]);
      for (const c of s.calls) wanted.push(['pipeline_calls', c]);
    }
    for (const e of t.transform_errors) wanted.push(['pipeline_transform_errors', e]);
    for (const o of t.outcomes) wanted.push(['pipeline_token_outcomes', o]);
  }
  const latest = new Map<PipelineTable, Map<string, number>>();
  const out: Array<{ table: PipelineTable; pk: string; seq: number }> = [];
  for (const [table, record] of wanted) {
    let seqs = latest.get(table);
    if (!seqs) {
      seqs = new Map();
      const rows = await recorder.ledger.store.query<{ seq: unknown; event_pk: string }>('SELECT seq, event_pk FROM audit_chain WHERE event_kind = ? ORDER BY seq', [table]);
      for (const r of rows) seqs.set(basePk(r.event_pk), Number(r.seq));
      latest.set(table, seqs);
    }
    const pk = recordPk(table, record as PipelineRecord);
    const seq = seqs.get(pk);
    if (seq === undefined) throw new SealtrailError('audit_integrity', `${table} ${pk} has no ledger entry`, { details: { table, id: pk, rule: 'unchained' } });
    out.push({ table, pk, seq });
  }
  return out;
}
