/** One entry: payload, hashes, chain links, and its inclusion proof checked in this browser. */
import { download, get, getText } from './api';
import { href } from './router';
import { loadTrust } from './trust';
import { Badge, Loading, Mono, Problem, useLoad } from './ui';
import { checkEntry, type EntryJson, type ProofJson } from './verify';

export function EntryView({ seq }: { seq: number }) {
  const data = useLoad(async () => {
    const [entry, prev, trust] = await Promise.all([
      get<EntryJson>(`/api/entries/${seq}`),
      seq > 1 ? get<EntryJson>(`/api/entries/${seq - 1}`) : Promise.resolve(null),
      loadTrust(),
    ]);
    const head = await get<{ size: number }>('/api/head');
    const proof = await get<ProofJson>(`/api/entries/${seq}/proof`).catch((err: Error) => err);
    const check = proof instanceof Error ? null : await checkEntry(entry, proof, trust.vkeys);
    return { entry, prev, head, proof, check, trust };
  }, [seq]);

  if (data.error) return <Problem error={data.error} />;
  if (!data.data) return <Loading />;
  const { entry, prev, head, proof, check, trust } = data.data;
  const linked = prev === null ? entry.prev_hash === '0'.repeat(64) : prev.chain_hash === entry.prev_hash;
  return (
    <section aria-labelledby="h-entry">
      <nav class="pager" aria-label="neighbours">
        {seq > 1 && <a href={href(`entries/${seq - 1}`)}>← entry {seq - 1}</a>}
        <a href={href('entries', { from: seq })}>in the list</a>
        {seq < head.size && <a href={href(`entries/${seq + 1}`)}>entry {seq + 1} →</a>}
      </nav>
      <h1 id="h-entry">
        Entry {entry.seq}: {entry.kind} / <span class="break">{entry.pk}</span>
      </h1>
      <div class="proof-box" data-testid="proof-result">
        {check ? (
          <>
            <p class="verdict">
              <Badge ok={check.ok}>{check.ok ? 'PASS: included in the signed checkpoint' : 'FAIL: this entry does not check out'}</Badge>{' '}
              <span class="muted" data-testid="proof-ms">
                checked in this browser in {check.ms.toFixed(1)} ms with keys from the {trust.source}
              </span>
            </p>
            <ol class="steps">
              {check.steps.map((s, i) => (
                <li key={i} class={s.ok ? 'ok' : 'bad'}>
                  <strong>{s.ok ? '✓' : '✗'} {s.label}</strong> <span class="break">{s.detail}</span>
                </li>
              ))}
            </ol>
          </>
        ) : (
          <p>
            <Badge ok={false}>not checked</Badge> {(proof as Error).message}
          </p>
        )}
        <button type="button" onClick={() => void getText(`/api/entries/${seq}/proof`).then((t) => download(`entry-${seq}.proof`, 'text/plain', t))} disabled={!check}>
          Download proof bundle
        </button>{' '}
        <span class="muted">
          check it offline: <Mono>sealtrail check-proof entry-{seq}.proof --vkey …</Mono>
        </span>
      </div>
      <h2>Hashes</h2>
      <dl class="hashes">
        <dt>appended</dt>
        <dd>
          <time dateTime={entry.appended_at}>{entry.appended_at}</time>
        </dd>
        <dt>event hash</dt>
        <dd>
          <Mono>{entry.event_hash}</Mono>
        </dd>
        <dt>prev hash</dt>
        <dd>
          <Mono>{entry.prev_hash}</Mono> <Badge ok={linked}>{linked ? (prev ? `= chain hash of entry ${seq - 1}` : 'genesis') : `≠ chain hash of entry ${seq - 1}`}</Badge>
        </dd>
        <dt>chain hash</dt>
        <dd>
          <Mono>{entry.chain_hash}</Mono>
        </dd>
        <dt>leaf hash</dt>
        <dd>
          <Mono>{entry.leaf_hash}</Mono>
        </dd>
      </dl>
      <h2>Payload</h2>
      {entry.payload === null ? <p class="muted">Redacted: the payload was removed; its hash remains in the chain.</p> : <pre class="payload" tabIndex={0}>{JSON.stringify(entry.payload, null, 2)}</pre>}
    </section>
  );
}
