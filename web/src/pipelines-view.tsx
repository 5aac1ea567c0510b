/**
 * Pipelines (docs/pipeline.md) from the /api/runs routes: runs with their outcome counts, a run's
 * graph laid out by elkjs and drawn as SVG with per-node counts, its audit sweep, and a row's
 * lineage (its path highlighted on the graph, node states as a timeline, routing, calls, errors,
 * outcome). Loaded on demand by main.tsx: elkjs is large and the first view does not need it.
 */
import ELK, { type ElkNode } from 'elkjs/lib/elk.bundled.js';
import { useState } from 'preact/hooks';
import { get } from './api';
import { href, navigate, type Route } from './router';
import { age, Badge, Loading, Mono, Problem, useLoad } from './ui';

type Rec = Record<string, unknown>;

interface RunJson {
  run_id: string;
  status: string;
  started_at: string;
  rows: number;
  outcomes: Record<string, number>;
}

interface GraphJson {
  run_id: string;
  nodes: Array<Rec & { node_id: string; state_counts: Record<string, number> }>;
  edges: Rec[];
}

interface SweepJson {
  run_id: string;
  run_status: string;
  ok: boolean;
  queries: Array<{ query: string; ids: string[] }>;
}

interface State extends Rec {
  routing: Rec[];
  calls: Rec[];
}

interface LineageJson {
  run_id: string;
  token_id: string;
  row: Rec;
  validation_errors: Rec[];
  ancestry: Array<{ token: Rec; parents: string[]; states: State[]; transform_errors: Rec[]; outcomes: Rec[] }>;
  outcome: Rec | null;
}

/** Outcome classes to colour; anything else is drawn neutral. */
const OUTCOME_CLASS: Record<string, string> = { completed: 'o-ok', routed: 'o-ok', forked: 'o-mid', buffered: 'o-mid', failed: 'o-bad', quarantined: 'o-bad', diverted: 'o-mid' };

const str = (v: unknown): string => (v === null || v === undefined ? '' : typeof v === 'string' ? v : JSON.stringify(v));

/** A stacked bar of a run's terminal outcome counts, with its numbers as text beside it. */
function OutcomeBar({ outcomes }: { outcomes: Record<string, number> }) {
  const entries = Object.entries(outcomes).filter(([, n]) => n > 0);
  const total = entries.reduce((s, [, n]) => s + n, 0);
  const width = 160;
  let x = 0;
  const label = entries.map(([k, n]) => `${n} ${k}`).join(', ') || 'no outcome yet';
  return (
    <span class="outcomes">
      <svg width={width} height={14} role="img" aria-label={label} class="bar">
        <rect x={0} y={0} width={width} height={14} class="bar-bg" />
        {entries.map(([k, n]) => {
          const w = total === 0 ? 0 : (n / total) * width;
          const r = <rect key={k} x={x} y={0} width={w} height={14} class={OUTCOME_CLASS[k] ?? 'o-other'} />;
          x += w;
          return r;
        })}
      </svg>{' '}
      <span>{label}</span>
    </span>
  );
}

function RunsList() {
  const runs = useLoad(() => get<RunJson[]>('/api/runs?limit=100'), []);
  if (runs.error) return <Problem error={runs.error} />;
  if (!runs.data) return <Loading />;
  return (
    <section aria-labelledby="h-runs">
      <h1 id="h-runs">Pipeline runs</h1>
      {runs.data.length === 0 ? (
        <p class="muted">
          No pipeline run is recorded: see <Mono>sealtrail pipeline run</Mono>.
        </p>
      ) : (
        <table>
          <thead>
            <tr>
              <th scope="col">Run</th>
              <th scope="col">Status</th>
              <th scope="col">Started</th>
              <th scope="col">Rows</th>
              <th scope="col">Outcomes</th>
            </tr>
          </thead>
          <tbody>
            {runs.data.map((r) => (
              <tr key={r.run_id}>
                <td>
                  <a href={href(`pipelines/${encodeURIComponent(r.run_id)}`)}>
                    <Mono>{r.run_id}</Mono>
                  </a>
                </td>
                <td>{r.status}</td>
                <td>
                  <time dateTime={r.started_at}>{age(r.started_at)}</time>
                </td>
                <td>{r.rows}</td>
                <td>
                  <OutcomeBar outcomes={r.outcomes} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

const NODE_W = 200;
const NODE_H = 66;

interface Laid {
  width: number;
  height: number;
  nodes: Map<string, { x: number; y: number }>;
  edges: Array<{ id: string; from: string; to: string; label: string; points: Array<{ x: number; y: number }> }>;
}

async function layout(graph: GraphJson): Promise<Laid> {
  const elk = new ELK();
  const known = new Set(graph.nodes.map((n) => n.node_id));
  const edges = graph.edges.filter((e) => known.has(str(e['from_node_id'])) && known.has(str(e['to_node_id'])));
  const root: ElkNode = {
    id: 'root',
    layoutOptions: { 'elk.algorithm': 'layered', 'elk.direction': 'RIGHT', 'elk.spacing.nodeNode': '30', 'elk.layered.spacing.nodeNodeBetweenLayers': '50', 'elk.edgeRouting': 'ORTHOGONAL' },
    children: graph.nodes.map((n) => ({ id: n.node_id, width: NODE_W, height: NODE_H })),
    edges: edges.map((e, i) => ({ id: str(e['edge_id']) || `e${i}`, sources: [str(e['from_node_id'])], targets: [str(e['to_node_id'])] })),
  };
  const out = await elk.layout(root);
  const nodes = new Map((out.children ?? []).map((c) => [c.id, { x: c.x ?? 0, y: c.y ?? 0 }]));
  return {
    width: (out.width ?? 0) + 24,
    height: (out.height ?? 0) + 24,
    nodes,
    edges: (out.edges ?? []).map((e, i) => {
      const s = e.sections?.[0];
      return {
        id: e.id,
        from: e.sources[0]!,
        to: e.targets[0]!,
        label: str(edges[i]?.['label']),
        points: s ? [s.startPoint, ...(s.bendPoints ?? []), s.endPoint] : [],
      };
    }),
  };
}

function countsText(c: Record<string, number>): string {
  const parts = Object.entries(c)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, n]) => `${n} ${k}`);
  return parts.length ? parts.join(' · ') : 'no state';
}

/** The run's DAG as SVG; `path` (node ids a row went through) is highlighted. */
function Graph({ graph, path }: { graph: GraphJson; path: Set<string> }) {
  const laid = useLoad(() => layout(graph), [graph]);
  if (laid.error) return <Problem error={laid.error} />;
  if (!laid.data) return <Loading />;
  const { width, height, nodes, edges } = laid.data;
  const byId = new Map(graph.nodes.map((n) => [n.node_id, n]));
  return (
    // Focusable: a graph wider than the screen scrolls inside the figure, by keyboard too.
    <figure class="graph" tabIndex={0}>
      <svg viewBox={`-12 -12 ${width} ${height}`} width={width} height={height} role="group" aria-label={`pipeline graph: ${graph.nodes.length} nodes, ${edges.length} edges`} data-testid="run-graph">
        <defs>
          <marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
            <path d="M 0 0 L 10 5 L 0 10 z" class="arrowhead" />
          </marker>
        </defs>
        {edges.map((e) => {
          const on = path.has(e.from) && path.has(e.to);
          const d = e.points.map((p, i) => `${i === 0 ? 'M' : 'L'} ${p.x} ${p.y}`).join(' ');
          const mid = e.points[Math.floor(e.points.length / 2)];
          return (
            <g key={e.id} class={on ? 'edge on' : 'edge'}>
              <path d={d} marker-end="url(#arrow)" />
              {e.label && mid && e.label !== 'continue' && (
                <text x={mid.x + 4} y={mid.y - 4} class="edge-label">
                  {e.label}
                </text>
              )}
            </g>
          );
        })}
        {[...nodes].map(([id, p]) => {
          const n = byId.get(id)!;
          const on = path.has(id);
          const title = `${str(n['plugin_name'])} (${str(n['node_type'])}): ${countsText(n.state_counts)}${on ? ', on this row’s path' : ''}`;
          return (
            <g key={id} class={on ? 'node on' : 'node'} transform={`translate(${p.x} ${p.y})`} data-node={id} data-on-path={on ? 'true' : 'false'} role="img" aria-label={title}>
              <rect width={NODE_W} height={NODE_H} rx={6} />
              <text x={10} y={20} class="node-name">
                {str(n['plugin_name']).slice(0, 26)}
              </text>
              <text x={10} y={38} class="node-type">
                {str(n['node_type'])}
              </text>
              <text x={10} y={56} class="node-counts" data-testid="node-counts">
                {countsText(n.state_counts)}
              </text>
            </g>
          );
        })}
      </svg>
      <figcaption class="muted">Nodes show their node states by status{path.size > 0 ? '; the row’s path is outlined' : ''}.</figcaption>
    </figure>
  );
}

function Sweep({ runId }: { runId: string }) {
  const sweep = useLoad(() => get<SweepJson>(`/api/runs/${encodeURIComponent(runId)}/sweep`), [runId]);
  if (sweep.error) return <Problem error={sweep.error} />;
  if (!sweep.data) return <Loading />;
  const findings = sweep.data.queries.filter((q) => q.ids.length > 0);
  return (
    <section aria-labelledby="h-sweep">
      <h2 id="h-sweep">Audit sweep</h2>
      <p data-testid="sweep">
        <Badge ok={sweep.data.ok}>{sweep.data.ok ? 'no defect found' : `${findings.length} defect queries found rows`}</Badge> {sweep.data.queries.length} queries over a{' '}
        {sweep.data.run_status} run
      </p>
      {findings.length > 0 && (
        <ul>
          {findings.map((q) => (
            <li key={q.query}>
              <Mono>{q.query}</Mono>: {q.ids.join(', ')}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function Records({ title, items }: { title: string; items: Rec[] }) {
  if (items.length === 0) return null;
  return (
    <details>
      <summary>
        {title} ({items.length})
      </summary>
      <pre class="payload" tabIndex={0}>
        {JSON.stringify(items, null, 2)}
      </pre>
    </details>
  );
}

function LineagePanel({ lineage, graph }: { lineage: LineageJson; graph: GraphJson }) {
  const names = new Map(graph.nodes.map((n) => [n.node_id, str(n['plugin_name'])]));
  const edges = new Map(graph.edges.map((e) => [str(e['edge_id']), e]));
  const outcome = lineage.outcome;
  // Oldest token first, so the timeline reads from the source row to the outcome.
  const tokens = [...lineage.ancestry].reverse();
  return (
    <section aria-labelledby="h-lineage">
      <h2 id="h-lineage">
        Row {str(lineage.row['row_index'])} lineage
      </h2>
      <p data-testid="lineage-outcome">
        Outcome:{' '}
        {outcome ? (
          <Badge ok={!['failed', 'quarantined'].includes(str(outcome['outcome']))}>
            {str(outcome['outcome'])}
            {outcome['sink_name'] ? ` at ${str(outcome['sink_name'])}` : ''}
          </Badge>
        ) : (
          <span class="muted">no terminal outcome</span>
        )}{' '}
        · token <Mono>{lineage.token_id}</Mono> · data {str(lineage.row['data_status'])}
      </p>
      {lineage.validation_errors.length > 0 && <Records title="Validation errors" items={lineage.validation_errors} />}
      <ol class="timeline" aria-label="node states, oldest first">
        {tokens.map((t) =>
          t.states.map((s) => (
            <li key={str(s['state_id'])} class={`state ${str(s['status'])}`}>
              <strong>{names.get(str(s['node_id'])) ?? str(s['node_id'])}</strong> step {str(s['step_index'])}
              {Number(s['attempt'] ?? 0) > 0 ? `, attempt ${str(s['attempt'])}` : ''}: <span class="state-status">{str(s['status'])}</span>{' '}
              <span class="muted">
                token <Mono>{str(t.token['token_id']).slice(0, 12)}</Mono>
                {s['started_at'] ? <> · <time dateTime={str(s['started_at'])}>{str(s['started_at'])}</time></> : null}
              </span>
              {s.routing.length > 0 && (
                <ul>
                  {s.routing.map((r) => {
                    const edge = edges.get(str(r['edge_id']));
                    const to = edge ? (names.get(str(edge['to_node_id'])) ?? str(edge['to_node_id'])) : str(r['edge_id']);
                    // The reason itself when the server reads the payload store (serve --payloads);
                    // else its reference, and always its hash.
                    const reason =
                      r['reason_status'] === 'available'
                        ? JSON.stringify(r['reason'])
                        : r['reason_ref']
                          ? str(r['reason_ref'])
                          : r['reason_hash']
                            ? `sha256 ${str(r['reason_hash']).slice(0, 16)}…`
                            : 'none recorded';
                    return (
                      <li key={str(r['event_id'])} data-testid="routing">
                        routed ({str(r['mode'])}) to <strong>{to}</strong>
                        {edge && str(edge['label']) ? ` over “${str(edge['label'])}”` : ''} · reason {reason}
                      </li>
                    );
                  })}
                </ul>
              )}
              {s.calls.length > 0 && (
                <ul>
                  {s.calls.map((c) => (
                    <li key={str(c['call_id'])} data-testid="call">
                      call {str(c['call_index'])}: {str(c['call_type'])} <span class={c['status'] === 'error' ? 'state-status fail-text' : ''}>{str(c['status'])}</span>
                      {c['latency_ms'] !== null && c['latency_ms'] !== undefined ? ` in ${str(c['latency_ms'])} ms` : ''}
                      {c['error_json'] ? ` · ${str(c['error_json'])}` : ''}
                    </li>
                  ))}
                </ul>
              )}
              {s['error_json'] ? <pre class="payload" tabIndex={0}>{str(s['error_json'])}</pre> : null}
            </li>
          )),
        )}
      </ol>
      {tokens.map((t) => (
        <div key={str(t.token['token_id'])}>
          <Records title={`Transform errors of token ${str(t.token['token_id']).slice(0, 12)}`} items={t.transform_errors} />
          <Records title={`Outcomes of token ${str(t.token['token_id']).slice(0, 12)}`} items={t.outcomes} />
        </div>
      ))}
      <Records title="Source row" items={[lineage.row]} />
    </section>
  );
}

function RunView({ runId, route }: { runId: string; route: Route }) {
  const rowParam = route.query.get('row');
  const sink = route.query.get('sink') ?? '';
  const data = useLoad(async () => {
    const p = `/api/runs/${encodeURIComponent(runId)}`;
    const [run, graph] = await Promise.all([get<RunJson>(p), get<GraphJson>(`${p}/graph`)]);
    return { run, graph };
  }, [runId]);
  const lineage = useLoad(
    async () => (rowParam === null ? null : get<LineageJson>(`/api/runs/${encodeURIComponent(runId)}/rows/${encodeURIComponent(rowParam)}/lineage${sink ? `?sink=${encodeURIComponent(sink)}` : ''}`)),
    [runId, rowParam, sink],
  );
  const [row, setRow] = useState(rowParam ?? '');
  const [sinkInput, setSinkInput] = useState(sink);
  if (data.error) return <Problem error={data.error} />;
  if (!data.data) return <Loading />;
  const { run, graph } = data.data;
  const path = new Set<string>();
  for (const t of lineage.data?.ancestry ?? []) for (const s of t.states) path.add(str(s['node_id']));
  return (
    <section aria-labelledby="h-run">
      <p>
        <a href={href('pipelines')}>All runs</a>
      </p>
      <h1 id="h-run">
        Run <Mono>{run.run_id}</Mono>
      </h1>
      <p>
        {run.status} · started <time dateTime={run.started_at}>{age(run.started_at)}</time> · {run.rows} rows · <OutcomeBar outcomes={run.outcomes} />
      </p>
      <h2>Graph</h2>
      <Graph graph={graph} path={path} />
      <form
        class="row-form"
        onSubmit={(e) => {
          e.preventDefault();
          navigate(href(`pipelines/${encodeURIComponent(runId)}`, { row: row.trim(), sink: sinkInput.trim() }));
        }}
      >
        <label for="row-index">Row index</label>
        <input id="row-index" inputMode="numeric" pattern="[0-9]+" required value={row} onInput={(e) => setRow(e.currentTarget.value)} />
        <label for="row-sink">Sink (when the row reached several)</label>
        <input id="row-sink" value={sinkInput} onInput={(e) => setSinkInput(e.currentTarget.value)} />
        <button type="submit">Explain row</button>
      </form>
      {lineage.error && <Problem error={lineage.error} />}
      {lineage.data && <LineagePanel lineage={lineage.data} graph={graph} />}
      <Sweep runId={runId} />
    </section>
  );
}

export function PipelinesView({ route }: { route: Route }) {
  const runId = route.path[1];
  return runId ? <RunView runId={runId} route={route} key={runId} /> : <RunsList />;
}
