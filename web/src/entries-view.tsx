/** Entries: filtered, sorted and paged by the API; live tail over /api/stream; CSV/JSONL export. */
import { useEffect, useRef, useState } from 'preact/hooks';
import { download, getPage, stream } from './api';
import { href, navigate, type Route } from './router';
import { Loading, Mono, Problem, useLoad } from './ui';
import type { EntryJson } from './verify';

export const PAGE = 50;
/** The most rows one export fetches (in pages of 1000), stated on screen. */
export const EXPORT_CAP = 10_000;
const FILTERS = ['kind', 'pk', 'since', 'until'] as const;

function listPath(q: URLSearchParams, limit: number, from?: string | null): string {
  const p = new URLSearchParams();
  for (const k of FILTERS) if (q.get(k)) p.set(k, q.get(k)!);
  if (q.get('order') === 'desc') p.set('order', 'desc');
  if (from) p.set('from', from);
  p.set('limit', String(limit));
  return `/api/entries?${p.toString()}`;
}

function csvCell(v: unknown): string {
  const s = v === null || v === undefined ? '' : typeof v === 'string' ? v : JSON.stringify(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

const COLUMNS = ['seq', 'kind', 'pk', 'appended_at', 'event_hash', 'chain_hash', 'payload'] as const;

export function EntriesView({ route }: { route: Route }) {
  const q = route.query;
  const page = useLoad(() => getPage<EntryJson[]>(listPath(q, PAGE, q.get('from'))), [q.toString()]);
  const [form, setForm] = useState(() => Object.fromEntries(FILTERS.map((k) => [k, q.get(k) ?? ''])) as Record<(typeof FILTERS)[number], string>);
  const [tail, setTail] = useState<'off' | 'live' | 'paused'>('off');
  const [live, setLive] = useState<EntryJson[]>([]);
  const [exporting, setExporting] = useState<string | null>(null);
  const lastId = useRef<number | null>(null);

  useEffect(() => setForm(Object.fromEntries(FILTERS.map((k) => [k, q.get(k) ?? ''])) as never), [q.toString()]);

  useEffect(() => {
    if (tail !== 'live') return;
    const abort = new AbortController();
    const kind = q.get('kind');
    const pk = q.get('pk');
    const since = q.get('since') ? Date.parse(q.get('since')!) : -Infinity;
    const until = q.get('until') ? Date.parse(q.get('until')!) : Infinity;
    stream(
      lastId.current,
      (data, id) => {
        lastId.current = id;
        const e = data as EntryJson;
        // The tail keeps to the filter on screen, as the listing does (times to the millisecond).
        const at = Date.parse(e.appended_at);
        if ((kind && e.kind !== kind) || (pk && e.pk !== pk) || at < since || at >= until) return;
        setLive((l) => [e, ...l].slice(0, 200));
      },
      abort.signal,
    ).catch(() => {
      // aborted by pause or leaving the view
    });
    return () => abort.abort();
  }, [tail, q.toString()]);

  function apply(e: Event) {
    e.preventDefault();
    navigate(href('entries', { ...form, order: q.get('order') }));
  }

  async function exportAs(format: 'csv' | 'jsonl') {
    setExporting(`fetching up to ${EXPORT_CAP.toLocaleString('en')} rows…`);
    try {
      const rows: EntryJson[] = [];
      let next: string | null = listPath(q, 1000);
      while (next && rows.length < EXPORT_CAP) {
        const p: { items: EntryJson[]; next: string | null } = await getPage<EntryJson[]>(next);
        rows.push(...p.items);
        next = p.next;
      }
      const capped = rows.slice(0, EXPORT_CAP);
      const text =
        format === 'csv'
          ? [COLUMNS.join(','), ...capped.map((r) => COLUMNS.map((c) => csvCell(r[c])).join(','))].join('\r\n') + '\r\n'
          : capped.map((r) => JSON.stringify(r)).join('\n') + '\n';
      download(`sealtrail-entries.${format}`, format === 'csv' ? 'text/csv' : 'application/x-ndjson', text);
      setExporting(`exported ${capped.length.toLocaleString('en')} rows${rows.length >= EXPORT_CAP && next ? ' (cap reached: narrow the filter for the rest)' : ''}`);
    } catch (err) {
      setExporting(`export failed: ${(err as Error).message}`);
    }
  }

  const desc = q.get('order') === 'desc';
  const sortTo = href('entries', { ...Object.fromEntries(FILTERS.map((k) => [k, q.get(k)])), order: desc ? undefined : 'desc' });
  return (
    <section aria-labelledby="h-entries">
      <h1 id="h-entries">Entries</h1>
      <form class="filters" onSubmit={apply} aria-label="filter entries">
        {FILTERS.map((k) => (
          <div key={k}>
            <label for={`f-${k}`}>{k === 'since' ? 'since (ISO 8601)' : k === 'until' ? 'until (ISO 8601)' : k}</label>
            <input
              id={`f-${k}`}
              name={k}
              value={form[k]}
              placeholder={k === 'since' || k === 'until' ? '2026-12-02T00:00Z' : ''}
              onInput={(e) => setForm({ ...form, [k]: e.currentTarget.value })}
            />
          </div>
        ))}
        <div class="actions">
          <button type="submit">Filter</button>
          <a href={href('entries')}>Clear</a>
        </div>
      </form>
      <div class="toolbar">
        {tail === 'off' ? (
          <button type="button" onClick={() => setTail('live')}>
            Live tail
          </button>
        ) : (
          <>
            <button type="button" onClick={() => setTail(tail === 'live' ? 'paused' : 'live')} aria-pressed={tail === 'paused'}>
              {tail === 'live' ? 'Pause' : 'Resume'}
            </button>
            <button type="button" onClick={() => (setTail('off'), setLive([]), (lastId.current = null))}>
              Stop tail
            </button>
            <span class="muted" aria-live="polite">
              {tail === 'live' ? 'live: new entries appear below as they are appended' : 'paused: resuming fetches what was missed'}
            </span>
          </>
        )}
        <span class="spacer" />
        <button type="button" onClick={() => void exportAs('csv')}>
          Export CSV
        </button>
        <button type="button" onClick={() => void exportAs('jsonl')}>
          Export JSONL
        </button>
        <span class="muted">the current filter, at most {EXPORT_CAP.toLocaleString('en')} rows</span>
      </div>
      {exporting && (
        <p class="muted" role="status" data-testid="export-status">
          {exporting}
        </p>
      )}
      {tail !== 'off' && (
        <section aria-label="live tail" class="live">
          <h2>Live ({live.length})</h2>
          <EntryTable rows={live} testid="live-rows" />
        </section>
      )}
      {page.error && <Problem error={page.error} />}
      {page.loading && !page.data && <Loading />}
      {page.data && (
        <>
          <EntryTable rows={page.data.items} sortHref={sortTo} desc={desc} testid="entry-rows" />
          {page.data.items.length === 0 && <p>No entries match.</p>}
          <nav class="pager" aria-label="pages">
            {q.get('from') && <a href={href('entries', { ...Object.fromEntries(FILTERS.map((k) => [k, q.get(k)])), order: q.get('order') })}>First page</a>}
            {page.data.next && (
              <a href={href('entries', { ...Object.fromEntries(FILTERS.map((k) => [k, q.get(k)])), order: q.get('order'), from: new URL(page.data.next, location.origin).searchParams.get('from') })}>
                Next page
              </a>
            )}
          </nav>
        </>
      )}
    </section>
  );
}

function EntryTable({ rows, sortHref, desc, testid }: { rows: EntryJson[]; sortHref?: string; desc?: boolean; testid: string }) {
  return (
    <div class="scroll">
      <table data-testid={testid}>
        <thead>
          <tr>
            <th scope="col" aria-sort={sortHref ? (desc ? 'descending' : 'ascending') : undefined}>
              {sortHref ? <a href={sortHref}>Seq {desc ? '↓' : '↑'}</a> : 'Seq'}
            </th>
            <th scope="col">Kind</th>
            <th scope="col">Pk</th>
            <th scope="col">Appended</th>
            <th scope="col" class="wide">
              Event hash
            </th>
          </tr>
        </thead>
        <tbody>
          {rows.map((e) => (
            <tr key={e.seq}>
              <td>
                <a href={href(`entries/${e.seq}`)}>{e.seq}</a>
              </td>
              <td>{e.kind}</td>
              <td class="break">{e.pk}</td>
              <td>
                <time dateTime={e.appended_at}>{e.appended_at.replace('T', ' ').slice(0, 19)}</time>
              </td>
              <td class="wide">
                <Mono>{e.event_hash.slice(0, 16)}…</Mono>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
