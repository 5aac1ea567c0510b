/** Tasks and repositories: a task's audits across repositories, a repository's trail, artifacts, commit look-up. */
import { useState } from 'preact/hooks';
import { getPage } from './api';
import { href, navigate, type Route } from './router';
import { Loading, Mono, Problem, useLoad } from './ui';

interface Audit {
  audit_id: string;
  seq: number;
  task_id: string;
  repo_id: string | null;
  level: string;
  event_type: string;
  operation: string;
  status: string;
  files_changed: string[] | null;
  lines_added: number | null;
  lines_deleted: number | null;
  commit_hash: string | null;
  error_message: string | null;
  created_at: string;
  git_status_summary?: unknown;
  git_diff_summary?: unknown;
}

interface Artifact {
  artifact_id: string;
  seq: number;
  task_id: string;
  repo_id: string | null;
  ref_type: string;
  ref_value: string;
  summary: string | null;
  created_at: string;
}

const LIMIT = 50;

function Summary({ value }: { value: unknown }) {
  if (value === null || value === undefined) return null;
  return <pre class="summary">{typeof value === 'string' ? value : JSON.stringify(value, null, 2)}</pre>;
}

export function TasksView({ route }: { route: Route }) {
  const [task, repo] = [route.path[0] === 'tasks' ? route.path[1] : undefined, route.path[0] === 'repos' ? route.path[1] : undefined];
  const [form, setForm] = useState({ task: task ?? '', repo: repo ?? '', commit: route.query.get('commit') ?? '' });
  return (
    <section aria-labelledby="h-tasks">
      <h1 id="h-tasks">Tasks and repositories</h1>
      <div class="lookups">
        <form onSubmit={(e) => (e.preventDefault(), navigate(href(`tasks/${encodeURIComponent(form.task)}`)))}>
          <label for="l-task">Task id</label>
          <input id="l-task" value={form.task} required onInput={(e) => setForm({ ...form, task: e.currentTarget.value })} />
          <button type="submit">Show task</button>
        </form>
        <form onSubmit={(e) => (e.preventDefault(), navigate(href(`repos/${encodeURIComponent(form.repo)}`)))}>
          <label for="l-repo">Repository id</label>
          <input id="l-repo" value={form.repo} required onInput={(e) => setForm({ ...form, repo: e.currentTarget.value })} />
          <button type="submit">Show repository</button>
        </form>
        <form onSubmit={(e) => (e.preventDefault(), navigate(href('tasks', { commit: form.commit })))}>
          <label for="l-commit">Commit (which tasks reference it)</label>
          <input id="l-commit" value={form.commit} required onInput={(e) => setForm({ ...form, commit: e.currentTarget.value })} />
          <button type="submit">Find tasks</button>
        </form>
      </div>
      {task && <Audits title={`Audits of task ${task}`} base={`/api/tasks/${encodeURIComponent(task)}/audits`} route={route} />}
      {task && <Artifacts title={`Artifacts of task ${task}`} base={`/api/tasks/${encodeURIComponent(task)}/artifacts`} />}
      {repo && <Audits title={`Audit trail of ${repo}`} base={`/api/repos/${encodeURIComponent(repo)}/audits`} route={route} />}
      {repo && <Artifacts title={`Artifacts of ${repo}`} base={`/api/repos/${encodeURIComponent(repo)}/artifacts`} />}
      {!task && !repo && route.query.get('commit') && <Artifacts title={`Tasks referencing commit ${route.query.get('commit')}`} base={`/api/artifacts?ref_type=commit&ref_value=${encodeURIComponent(route.query.get('commit')!)}`} />}
    </section>
  );
}

function Audits({ title, base, route }: { title: string; base: string; route: Route }) {
  const before = route.query.get('before');
  const repoFilter = route.query.get('repo_id');
  const path = `${base}?detailed=true&limit=${LIMIT}${before ? `&before=${before}` : ''}${repoFilter ? `&repo_id=${encodeURIComponent(repoFilter)}` : ''}`;
  const page = useLoad(() => getPage<Audit[]>(path), [path]);
  if (page.error) return <Problem error={page.error} />;
  if (!page.data) return <Loading />;
  const next = page.data.next ? new URL(page.data.next, location.origin).searchParams.get('before') : null;
  const here = route.path.join('/');
  const repos = [...new Set(page.data.items.map((a) => a.repo_id).filter((r): r is string => r !== null))];
  return (
    <section aria-label={title}>
      <h2>{title}</h2>
      {repos.length > 0 && (
        <p>
          Repositories:{' '}
          {repos.map((r) => (
            <a key={r} class="chip" href={href(`repos/${encodeURIComponent(r)}`)}>
              {r}
            </a>
          ))}
          {repoFilter && <a href={href(here)}>all repositories</a>}
        </p>
      )}
      {page.data.items.length === 0 && <p>No audits.</p>}
      <ol class="audits" data-testid="audit-rows">
        {page.data.items.map((a) => (
          <li key={a.audit_id} class={a.status === 'success' ? '' : 'failed'}>
            <div>
              <strong>{a.event_type}</strong> <span class={`status status-${a.status}`}>{a.status}</span> · <time dateTime={a.created_at}>{a.created_at.replace('T', ' ').slice(0, 19)}</time> · entry{' '}
              <a href={href(`entries/${a.seq}`)}>{a.seq}</a>
            </div>
            <div class="muted">
              {a.repo_id ?? 'no repository'}
              {a.files_changed && a.files_changed.length > 0 && <> · {a.files_changed.length} file(s)</>}
              {(a.lines_added ?? 0) + (a.lines_deleted ?? 0) > 0 && (
                <>
                  {' '}
                  · <span class="added">+{a.lines_added ?? 0}</span> <span class="deleted">−{a.lines_deleted ?? 0}</span>
                </>
              )}
              {a.commit_hash && (
                <>
                  {' '}
                  · commit <a href={href('tasks', { commit: a.commit_hash })}>{a.commit_hash.slice(0, 12)}</a>
                </>
              )}
            </div>
            {a.error_message && <p class="problem">{a.error_message}</p>}
            {a.files_changed && a.files_changed.length > 0 && (
              <details>
                <summary>files</summary>
                <ul class="plain">
                  {a.files_changed.map((f) => (
                    <li key={f}>
                      <Mono>{f}</Mono>
                    </li>
                  ))}
                </ul>
              </details>
            )}
            {(a.git_status_summary || a.git_diff_summary) && (
              <details>
                <summary>git status and diff</summary>
                <Summary value={a.git_status_summary} />
                <Summary value={a.git_diff_summary} />
              </details>
            )}
          </li>
        ))}
      </ol>
      <nav class="pager" aria-label="audit pages">
        {before && <a href={href(here, { repo_id: repoFilter })}>Newest</a>}
        {next && <a href={href(here, { before: next, repo_id: repoFilter })}>Older</a>}
      </nav>
    </section>
  );
}

function Artifacts({ title, base }: { title: string; base: string }) {
  const path = `${base}${base.includes('?') ? '&' : '?'}limit=${LIMIT}`;
  const page = useLoad(() => getPage<Artifact[]>(path), [path]);
  if (page.error) return <Problem error={page.error} />;
  if (!page.data) return <Loading />;
  return (
    <section aria-label={title}>
      <h2>{title}</h2>
      {page.data.items.length === 0 ? (
        <p>No artifacts.</p>
      ) : (
        <div class="scroll">
          <table>
            <thead>
              <tr>
                <th scope="col">Type</th>
                <th scope="col">Value</th>
                <th scope="col">Task</th>
                <th scope="col">Repository</th>
                <th scope="col">Summary</th>
              </tr>
            </thead>
            <tbody>
              {page.data.items.map((a) => (
                <tr key={a.artifact_id}>
                  <td>{a.ref_type}</td>
                  <td class="break">{a.ref_type === 'commit' ? <a href={href('tasks', { commit: a.ref_value })}>{a.ref_value}</a> : a.ref_value}</td>
                  <td>
                    <a href={href(`tasks/${encodeURIComponent(a.task_id)}`)}>{a.task_id}</a>
                  </td>
                  <td>{a.repo_id ? <a href={href(`repos/${encodeURIComponent(a.repo_id)}`)}>{a.repo_id}</a> : '—'}</td>
                  <td>{a.summary ?? ''}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
