/** Overview: size and growth, latest checkpoint and age, witnesses, alerts, verification. */
import { useState } from 'preact/hooks';
import { get, verifyStreamed } from './api';
import { href } from './router';
import { loadTrust, pinKeys, pinnedKeys } from './trust';
import { age, Badge, Loading, Mono, Problem, useLoad, type Role } from './ui';

export interface CheckpointJson {
  id: number;
  origin: string;
  size: number;
  root: string;
  chain_hash: string;
  note: string;
  created_at: string;
  cosignatures: Array<{ sink: string; line: string }>;
}

export interface AlertJson {
  id: number;
  kind: string;
  severity: string;
  seq: number | null;
  event_kind: string | null;
  event_pk: string | null;
  reason: string;
  details: unknown;
  detected_at: string;
}

interface VerifyJson {
  ok: boolean;
  checked: number;
  size: number;
  root: string | null;
  divergence: unknown;
}

/** GET /api/sinks: a sink by its stored key and redacted label, never its URL secret. */
interface SinkJson {
  sink: string;
  label: string;
  last_size: number | null;
  last_published_at: string | null;
  last_error: string | null;
}

const LAST_VERIFY = 'sealtrail.last-verify';

export function OverviewView({ role }: { role: Role }) {
  const data = useLoad(
    async () => {
      const [head, checkpoints, alerts, trust, anchorSinks] = await Promise.all([
        get<{ size: number; root: string; chain_hash: string }>('/api/head'),
        get<CheckpointJson[]>('/api/checkpoints'),
        get<AlertJson[]>('/api/alerts'),
        loadTrust(),
        // An older server without the route: no sink rows, witnesses still show.
        get<SinkJson[]>('/api/sinks').catch(() => [] as SinkJson[]),
      ]);
      return { head, checkpoints, alerts, trust, anchorSinks };
    },
    [],
  );
  const [verify, setVerify] = useState<{ at: string; report: VerifyJson } | null>(() => JSON.parse(sessionStorage.getItem(LAST_VERIFY) ?? 'null') as never);
  const [verifying, setVerifying] = useState(false);
  const [progress, setProgress] = useState<{ checked: number; total: number } | null>(null);
  const [verifyError, setVerifyError] = useState<Error | null>(null);
  const [pin, setPin] = useState(pinnedKeys().join('\n'));

  async function runVerify() {
    setVerifying(true);
    setVerifyError(null);
    setProgress(null);
    try {
      const report = await verifyStreamed<VerifyJson>((checked, total) => setProgress({ checked, total }));
      // A failed check stops at the divergence: the bar ends where the report does.
      setProgress((p) => (p ? { checked: report.checked, total: p.total } : p));
      const v = { at: new Date().toISOString(), report };
      sessionStorage.setItem(LAST_VERIFY, JSON.stringify(v));
      setVerify(v);
    } catch (err) {
      setVerifyError(err as Error);
    } finally {
      setVerifying(false);
    }
  }

  if (data.error) return <Problem error={data.error} />;
  if (!data.data) return <Loading />;
  const { head, checkpoints, alerts, trust, anchorSinks } = data.data;
  const latest = checkpoints[checkpoints.length - 1];
  // Each sink's (witness's) latest acknowledged checkpoint: the largest one it cosigned.
  const sinks = new Map<string, CheckpointJson>();
  for (const c of checkpoints) for (const s of c.cosignatures) sinks.set(s.sink, c);
  return (
    <section aria-labelledby="h-overview">
      <h1 id="h-overview">Overview</h1>
      <div class="cards">
        <div class="card">
          <h2>Ledger</h2>
          <p class="big" data-testid="size">{head.size.toLocaleString('en')}</p>
          <p>entries</p>
          <p class="muted">
            {latest ? `${(head.size - latest.size).toLocaleString('en')} appended since the latest checkpoint` : 'no checkpoint yet'}
          </p>
        </div>
        <div class="card">
          <h2>Latest checkpoint</h2>
          {latest ? (
            <>
              <p class="big">{latest.size.toLocaleString('en')}</p>
              <p>
                signed {age(latest.created_at)} (<time dateTime={latest.created_at}>{latest.created_at}</time>)
              </p>
              <p class="muted">
                origin <Mono>{latest.origin}</Mono>
              </p>
            </>
          ) : (
            <p>None signed yet: run <Mono>sealtrail checkpoint</Mono>.</p>
          )}
        </div>
        <div class="card">
          <h2>Open alerts</h2>
          <p class="big">{alerts.length}</p>
          <p>
            <a href={href('alerts')}>see alerts</a>
          </p>
        </div>
        <div class="card">
          <h2>Verification</h2>
          {verify ? (
            <p>
              <Badge ok={verify.report.ok}>{verify.report.ok ? 'ledger verified' : 'verification FAILED'}</Badge> {verify.report.checked.toLocaleString('en')} entries, {age(verify.at)}
            </p>
          ) : (
            <p class="muted">Not verified in this session.</p>
          )}
          {role === 'admin' && (
            <button type="button" onClick={() => void runVerify()} disabled={verifying}>
              {verifying ? 'Verifying…' : 'Verify now'}
            </button>
          )}
          {progress && (
            <>
              <label for="verify-progress" class="muted">
                {verifying ? 'Checking chain, tree and head: ' : 'Checked '}
                {progress.checked.toLocaleString('en')} of {progress.total.toLocaleString('en')} entries
              </label>
              <progress id="verify-progress" class="verify-progress" max={Math.max(1, progress.total)} value={progress.checked} data-testid="verify-progress" />
            </>
          )}
          {verifying && !progress && (
            <p aria-live="polite" class="muted">
              Starting verification of {head.size.toLocaleString('en')} entries…
            </p>
          )}
          {verifyError && <Problem error={verifyError} />}
          {verify && !verify.report.ok && <pre class="payload" tabIndex={0} aria-label="where verification diverged">{JSON.stringify(verify.report.divergence, null, 2)}</pre>}
        </div>
      </div>
      <h2>Sinks and witnesses</h2>
      {anchorSinks.length === 0 && sinks.size === 0 ? (
        <p class="muted">No sink or witness has acknowledged a checkpoint.</p>
      ) : (
        <table data-testid="sinks">
          <thead>
            <tr>
              <th scope="col">Sink</th>
              <th scope="col">Last acknowledged checkpoint</th>
              <th scope="col">Behind</th>
            </tr>
          </thead>
          <tbody>
            {anchorSinks.map((s) => (
              <tr key={s.sink}>
                <td>
                  <Mono>{s.label}</Mono>
                  {s.last_error && <p class="problem">last error: {s.last_error}</p>}
                </td>
                <td>{s.last_size === null ? <span class="muted">none yet</span> : <>size {s.last_size}{s.last_published_at && <> · {age(s.last_published_at)}</>}</>}</td>
                <td>{s.last_size === null ? '—' : latest && latest.size > s.last_size ? `${latest.size - s.last_size} entries` : 'up to date'}</td>
              </tr>
            ))}
            {[...sinks].map(([sink, c]) => (
              <tr key={`w-${sink}`}>
                <td>
                  <Mono>{sink}</Mono> <span class="muted">(witness cosignature)</span>
                </td>
                <td>
                  size {c.size} · {age(c.created_at)}
                </td>
                <td>{latest && latest.size > c.size ? `${latest.size - c.size} entries` : 'up to date'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <h2>Trusted keys</h2>
      <p>
        Signatures are checked in this browser with the key(s) from the <strong>{trust.source}</strong>:
      </p>
      <ul>
        {trust.vkeys.map((k) => (
          <li key={k}>
            <Mono>{k}</Mono>
          </li>
        ))}
        {trust.vkeys.length === 0 && <li class="muted">none</li>}
      </ul>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          pinKeys(pin);
          data.reload();
        }}
      >
        <label for="pin">Pin verifier key(s) of your own, one per line (kept in this browser; empty to use the server's)</label>
        <textarea id="pin" rows={2} value={pin} onInput={(e) => setPin(e.currentTarget.value)} />
        <button type="submit">Save keys</button>
      </form>
    </section>
  );
}

export function AlertsView() {
  const alerts = useLoad(() => get<AlertJson[]>('/api/alerts'), []);
  if (alerts.error) return <Problem error={alerts.error} />;
  if (!alerts.data) return <Loading />;
  return (
    <section aria-labelledby="h-alerts">
      <h1 id="h-alerts">Alerts</h1>
      {alerts.data.length === 0 && <p>No open alerts.</p>}
      {alerts.data.map((a) => (
        <details key={a.id} class="alert">
          <summary>
            <span class={`sev sev-${a.severity}`}>{a.severity}</span> {a.kind}: {a.reason}
            {a.seq !== null && <> at entry {a.seq}</>} · {age(a.detected_at)}
          </summary>
          {a.seq !== null && <a href={href(`entries/${a.seq}`)}>open entry {a.seq}</a>}
          <pre class="payload">{JSON.stringify(a.details, null, 2)}</pre>
        </details>
      ))}
    </section>
  );
}
