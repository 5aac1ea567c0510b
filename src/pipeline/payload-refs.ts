/**
 * Which payload-store keys a run references: its rows' source data, its operations' inputs and
 * outputs, its calls' requests and responses and its routing reasons. Retention purge deletes only
 * keys no kept run references (one payload can be shared by many runs: the same row content).
 */
import type { Queryable } from '../store/store.js';

const REFS = `
  SELECT source_data_ref AS ref FROM pipeline_rows WHERE run_id = ?
  UNION SELECT input_data_ref FROM pipeline_operations WHERE run_id = ?
  UNION SELECT output_data_ref FROM pipeline_operations WHERE run_id = ?
  UNION SELECT c.request_ref FROM pipeline_calls c JOIN pipeline_node_states s ON s.state_id = c.state_id WHERE s.run_id = ?
  UNION SELECT c.response_ref FROM pipeline_calls c JOIN pipeline_node_states s ON s.state_id = c.state_id WHERE s.run_id = ?
  UNION SELECT c.request_ref FROM pipeline_calls c JOIN pipeline_operations o ON o.operation_id = c.operation_id WHERE o.run_id = ?
  UNION SELECT c.response_ref FROM pipeline_calls c JOIN pipeline_operations o ON o.operation_id = c.operation_id WHERE o.run_id = ?
  UNION SELECT e.reason_ref FROM pipeline_routing_events e JOIN pipeline_node_states s ON s.state_id = e.state_id WHERE s.run_id = ?`;

export async function runPayloadRefs(db: Queryable, runId: string): Promise<Set<string>> {
  const rows = await db.query<{ ref: unknown }>(REFS, Array(8).fill(runId) as string[]);
  return new Set(rows.map((r) => r.ref).filter((r): r is string => typeof r === 'string'));
}
