/** Checkpoints: history with cosignatures; signatures and consistency between successive ones checked here. */
import { get } from './api';
import type { CheckpointJson } from './overview-view';
import { loadTrust } from './trust';
import { age, Badge, Loading, Mono, Problem, useLoad } from './ui';
import { fromBase64, parseCheckpoint, verifyConsistency, verifyNoteSignature, type Step } from './verify';

interface Row {
  c: CheckpointJson;
  signed: boolean;
  consistent: boolean | null;
  detail: string;
}

export function CheckpointsView() {
  const data = useLoad(async () => {
    const [list, trust] = await Promise.all([get<CheckpointJson[]>('/api/checkpoints'), loadTrust()]);
    const rows: Row[] = [];
    for (const [i, c] of list.entries()) {
      const steps: Step[] = [];
      const signed = await verifyNoteSignature(parseCheckpoint(c.note), trust.vkeys, steps);
      let consistent: boolean | null = null;
      let detail = 'first checkpoint';
      const before = list[i - 1];
      if (before) {
        if (before.size === c.size) {
          consistent = before.root === c.root && parseCheckpoint(before.note).root.every((b, j) => b === parseCheckpoint(c.note).root[j]);
          detail = 'same size: roots must be equal';
        } else {
          const p = await get<{ proof: string[] }>(`/api/proofs/consistency?old=${before.size}&new=${c.size}`);
          // The roots come from the signed notes, not from the server's proof answer.
          consistent = await verifyConsistency(before.size, c.size, parseCheckpoint(before.note).root, parseCheckpoint(c.note).root, p.proof.map(fromBase64));
          detail = `${p.proof.length}-hash proof from size ${before.size}`;
        }
      }
      rows.push({ c, signed, consistent, detail });
    }
    return { rows: rows.reverse(), trust };
  }, []);
  if (data.error) return <Problem error={data.error} />;
  if (!data.data) return <Loading />;
  return (
    <section aria-labelledby="h-cps">
      <h1 id="h-cps">Checkpoints</h1>
      <p class="muted">Newest first. Each signature and each step from the previous checkpoint are checked in this browser (keys: {data.data.trust.source}).</p>
      {data.data.rows.length === 0 && <p>No checkpoint signed yet.</p>}
      <div class="scroll">
        <table data-testid="checkpoint-rows">
          <thead>
            <tr>
              <th scope="col">Size</th>
              <th scope="col">Signed</th>
              <th scope="col">Signature</th>
              <th scope="col">Consistent with previous</th>
              <th scope="col">Cosignatures</th>
            </tr>
          </thead>
          <tbody>
            {data.data.rows.map(({ c, signed, consistent, detail }) => (
              <tr key={c.id}>
                <td>{c.size.toLocaleString('en')}</td>
                <td>
                  <time dateTime={c.created_at}>{age(c.created_at)}</time>
                </td>
                <td>
                  <Badge ok={signed}>{signed ? 'valid' : 'not valid'}</Badge>
                </td>
                <td>
                  {consistent === null ? <span class="muted">{detail}</span> : <Badge ok={consistent}>{consistent ? 'consistent' : 'INCONSISTENT'}</Badge>}
                  {consistent !== null && <span class="muted"> {detail}</span>}
                </td>
                <td>
                  {c.cosignatures.length === 0 ? (
                    <span class="muted">none</span>
                  ) : (
                    <ul class="plain">
                      {c.cosignatures.map((s) => (
                        <li key={s.sink}>
                          <Mono>{s.sink}</Mono>
                        </li>
                      ))}
                    </ul>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
