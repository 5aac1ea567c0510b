/** Capture and alerts: watched tables (PostgreSQL ledgers), a scan for admins, the alerts. */
import { useState } from 'preact/hooks';
import { ApiError, get, post } from './api';
import { AlertsView } from './overview-view';
import { Badge, Loading, Mono, Problem, useLoad, type Role } from './ui';

interface Table {
  table: string;
  kind: string;
  mode: string;
  pk_columns: string[];
  updates: boolean;
  deletes: boolean;
}

export function CaptureView({ role }: { role: Role }) {
  const tables = useLoad(() => get<Table[]>('/api/capture/tables'), []);
  const [scan, setScan] = useState<{ ok: boolean; findings: unknown[] } | null>(null);
  const [scanError, setScanError] = useState<Error | null>(null);
  const unsupported = tables.error instanceof ApiError && tables.error.code === 'unsupported_backend';
  return (
    <section aria-labelledby="h-capture">
      <h1 id="h-capture">Capture</h1>
      {unsupported && <p>Capture needs a PostgreSQL ledger; this one is SQLite.</p>}
      {tables.error && !unsupported && <Problem error={tables.error} />}
      {tables.loading && <Loading />}
      {tables.data && (
        <div class="scroll">
          <table>
            <thead>
              <tr>
                <th scope="col">Table</th>
                <th scope="col">Kind</th>
                <th scope="col">Mode</th>
                <th scope="col">Key</th>
                <th scope="col">Updates / deletes</th>
              </tr>
            </thead>
            <tbody>
              {tables.data.map((t) => (
                <tr key={t.table}>
                  <td>
                    <Mono>{t.table}</Mono>
                  </td>
                  <td>{t.kind}</td>
                  <td>{t.mode}</td>
                  <td>{t.pk_columns.join(', ')}</td>
                  <td>
                    {t.updates ? 'updates' : 'no updates'} / {t.deletes ? 'deletes' : 'no deletes'}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {role === 'admin' && tables.data && (
        <p>
          <button type="button" onClick={() => void post<{ ok: boolean; findings: unknown[] }>('/api/scan').then(setScan, setScanError)}>
            Scan now
          </button>
        </p>
      )}
      {scanError && <Problem error={scanError} />}
      {scan && (
        <>
          <p>
            <Badge ok={scan.ok}>{scan.ok ? 'no findings' : `${scan.findings.length} finding(s)`}</Badge>
          </p>
          {scan.findings.length > 0 && <pre class="payload">{JSON.stringify(scan.findings, null, 2)}</pre>}
        </>
      )}
      <AlertsView />
    </section>
  );
}

/**
 * Views of routes other parts of the API add later (pipelines, the /log/ tiles): shown only when
 * /openapi.json lists them, as the API's own listing.
 */
export function ApiListingView({ title, path }: { title: string; path: string }) {
  const data = useLoad(() => get<unknown>(path), [path]);
  return (
    <section aria-labelledby="h-listing">
      <h1 id="h-listing">{title}</h1>
      <p class="muted">
        From <Mono>{path}</Mono>.
      </p>
      {data.error && <Problem error={data.error} />}
      {data.loading && <Loading />}
      {data.data !== null && (
        <pre class="payload" tabIndex={0}>
          {JSON.stringify(data.data, null, 2)}
        </pre>
      )}
    </section>
  );
}
