/** The sealtrail explorer: sign-in, role-aware navigation, hash-routed views. */
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError, get, session } from './api';
import { ApiListingView, CaptureView } from './capture-view';
import { CheckpointsView } from './checkpoints-view';
import { EntriesView } from './entries-view';
import { EntryView } from './entry-view';
import { AlertsView, OverviewView } from './overview-view';
import { href, useRoute, type Route } from './router';
import { TasksView } from './tasks-view';
import { Loading, Problem, type Role } from './ui';
import './style.css';

type Theme = 'system' | 'light' | 'dark';
const THEME = 'sealtrail.theme';

function applyTheme(t: Theme) {
  if (t === 'system') delete document.documentElement.dataset['theme'];
  else document.documentElement.dataset['theme'] = t;
}

interface Me {
  id: string;
  name: string;
  role: Role;
}

/** Optional views, each shown when /openapi.json lists its route (other branches add them). */
const OPTIONAL = [
  { id: 'pipelines', title: 'Pipelines', prefix: '/api/runs' },
  { id: 'log', title: 'Transparency log', prefix: '/log/' },
];

type PipelinesModule = typeof import('./pipelines-view');
let pipelines: Promise<PipelinesModule> | null = null;

/** The pipelines view, fetched on first use: it carries elkjs, which the other views do not need. */
function LazyPipelines({ route }: { route: Route }) {
  const [mod, setMod] = useState<PipelinesModule | null>(null);
  const [error, setError] = useState<Error | null>(null);
  useEffect(() => {
    pipelines ??= import('./pipelines-view');
    pipelines.then(setMod, (err: Error) => ((pipelines = null), setError(err)));
  }, []);
  if (error) return <Problem error={error} />;
  if (!mod) return <Loading />;
  return <mod.PipelinesView route={route} />;
}

function SignIn({ onSignedIn }: { onSignedIn: (me: Me) => void }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<Error | null>(null);
  async function submit(e: Event) {
    e.preventDefault();
    try {
      const me = await get<Me>('/api/session', token.trim());
      session.set(token.trim());
      onSignedIn(me);
    } catch (err) {
      setError(err instanceof ApiError && err.status === 401 ? new Error('That token is unknown or revoked.') : (err as Error));
    }
  }
  return (
    <main id="main" class="signin">
      <h1>sealtrail explorer</h1>
      <p>Sign in with an API token (from <code>sealtrail token create</code>). It is kept for this browser tab only.</p>
      <form onSubmit={(e) => void submit(e)}>
        <label for="token">API token</label>
        <input id="token" type="password" autoComplete="off" value={token} required onInput={(e) => setToken(e.currentTarget.value)} />
        <button type="submit">Sign in</button>
      </form>
      {error && <Problem error={error} />}
    </main>
  );
}

function App() {
  const route = useRoute();
  const [me, setMe] = useState<Me | null | undefined>(session.token ? undefined : null);
  const [paths, setPaths] = useState<string[]>([]);
  const [theme, setTheme] = useState<Theme>(() => (localStorage.getItem(THEME) as Theme | null) ?? 'system');

  useEffect(() => applyTheme(theme), [theme]);
  useEffect(() => {
    if (session.token) get<Me>('/api/session').then(setMe, () => (session.clear(), setMe(null)));
    const out = () => (session.clear(), setMe(null));
    window.addEventListener('sealtrail:signed-out', out);
    get<{ paths: Record<string, unknown> }>('/openapi.json').then((d) => setPaths(Object.keys(d.paths)), () => {});
    return () => window.removeEventListener('sealtrail:signed-out', out);
  }, []);

  // A new view moves focus to its content, as a page load would: keyboard and screen-reader
  // users start there instead of on the link they followed.
  const viewKey = route.path.join('/');
  useEffect(() => {
    if (me) document.getElementById('main')?.focus({ preventScroll: true });
  }, [viewKey]);

  if (me === undefined) return <Loading />;
  if (me === null) return <SignIn onSignedIn={setMe} />;

  const optional = OPTIONAL.filter((o) => paths.some((p) => p.startsWith(o.prefix)));
  const view = route.path[0] ?? 'overview';
  const nav: Array<[string, string]> = [
    ['overview', 'Overview'],
    ['entries', 'Entries'],
    ['checkpoints', 'Checkpoints'],
    ['tasks', 'Tasks'],
    ['capture', 'Capture & alerts'],
    ...optional.map((o): [string, string] => [o.id, o.title]),
  ];
  const current = view === 'repos' ? 'tasks' : view === 'alerts' ? 'capture' : view;
  let body;
  if (view === 'entries' && route.path[1]) body = <EntryView seq={Number(route.path[1])} key={route.path[1]} />;
  else if (view === 'entries') body = <EntriesView route={route} />;
  else if (view === 'checkpoints') body = <CheckpointsView />;
  else if (view === 'tasks' || view === 'repos') body = <TasksView route={route} key={route.path.join('/')} />;
  else if (view === 'capture') body = <CaptureView role={me.role} />;
  else if (view === 'alerts') body = <AlertsView />;
  else if (view === 'pipelines' && optional.some((o) => o.id === 'pipelines')) body = <LazyPipelines route={route} />;
  else if (optional.some((o) => o.id === view)) {
    const o = optional.find((x) => x.id === view)!;
    body = <ApiListingView title={o.title} path={paths.find((p) => p.startsWith(o.prefix) && !p.includes('{'))!} />;
  } else body = <OverviewView role={me.role} />;

  return (
    <>
      <a class="skip" href="#main" onClick={(e) => (e.preventDefault(), document.getElementById('main')?.focus())}>
        Skip to content
      </a>
      <header>
        <a class="brand" href={href('overview')}>
          sealtrail
        </a>
        <nav aria-label="views">
          {nav.map(([id, label]) => (
            <a key={id} href={href(id)} aria-current={current === id ? 'page' : undefined}>
              {label}
            </a>
          ))}
        </nav>
        <div class="me">
          <label for="theme" class="sr-only">
            Theme
          </label>
          <select id="theme" value={theme} onChange={(e) => (localStorage.setItem(THEME, e.currentTarget.value), setTheme(e.currentTarget.value as Theme))}>
            <option value="system">System theme</option>
            <option value="light">Light</option>
            <option value="dark">Dark</option>
          </select>
          <span data-testid="role">
            {me.name} ({me.role})
          </span>
          <button type="button" onClick={() => (session.clear(), setMe(null))}>
            Sign out
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        {body}
      </main>
    </>
  );
}

render(<App />, document.getElementById('app')!);
