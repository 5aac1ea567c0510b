/**
 * Shared by the group commit fault tests. A group is formed deterministically: the first append of
 * a burst is taken as a group of its own at once (the appender starts writing synchronously), so
 * every append issued in the same tick after it queues up and is written as the next group.
 */
import assert from 'node:assert/strict';
import { openLedger, type AppendResult, type Ledger } from '../../src/ledger/ledger.js';
import type { Tx } from '../../src/store/store.js';

export interface UnitSpec {
  pks: string[];
  /** none: plain append; ok: a domain row is written; fails: the domain row breaks a CHECK. */
  domain: 'none' | 'ok' | 'fails';
  /** A custom domain write instead of the standard one. */
  write?: (tx: Tx, entries: AppendResult[]) => Promise<unknown>;
  /** Extra payload members (e.g. padding that fills the disk). */
  extra?: Record<string, unknown>;
}

export type Outcome = { ok: true; entries: AppendResult[] } | { ok: false; error: unknown };

export const DOMAIN_TABLE = `CREATE TABLE domain_rows (id TEXT PRIMARY KEY, seq BIGINT NOT NULL, CHECK (id NOT LIKE 'bad%'))`;

function domainWrite(spec: UnitSpec): ((tx: Tx, entries: AppendResult[]) => Promise<unknown>) | undefined {
  if (spec.write) return spec.write;
  if (spec.domain === 'none') return undefined;
  const id = `${spec.domain === 'fails' ? 'bad' : 'row'}-${spec.pks[0]!}`;
  return async (tx, entries) => tx.run('INSERT INTO domain_rows (id, seq) VALUES (?, ?)', [id, entries[0]!.seq]);
}

/** Appends a blocker, then every unit in the same tick: the units form one group. */
export async function appendGroup(ledger: Ledger, blockerPk: string, units: UnitSpec[]): Promise<Outcome[]> {
  const blocker = ledger.append('blocker', blockerPk, { blocker: true });
  const pending = units.map((u) => ledger.appendWith(
    u.pks.map((pk) => ({ kind: 'unit', pk, payload: { ...u.extra, pk } })),
    domainWrite(u),
  ));
  // On a full disk the blocker may fail too; what matters is what the units' callers are told.
  await Promise.allSettled([blocker]);
  const settled = await Promise.allSettled(pending);
  return settled.map((s): Outcome => (s.status === 'fulfilled' ? { ok: true, entries: s.value.entries } : { ok: false, error: s.reason as unknown }));
}

/** Re-opens the ledger and checks it against what callers were told. */
export async function assertConsistent(url: string, acknowledged: AppendResult[]): Promise<void> {
  const ledger = await openLedger({ url });
  try {
    const [counts] = await ledger.store.query<{ n: number; m: number | null }>('SELECT count(*) AS n, max(seq) AS m FROM audit_chain');
    const head = await ledger.head();
    assert.equal(Number(counts!.n), head.size, 'the head counts exactly the rows');
    assert.equal(Number(counts!.m ?? 0), head.size, 'the rows are 1..size');
    const report = await ledger.verify();
    assert.equal(report.divergence, null);
    assert.equal(report.ok, true);
    for (const a of acknowledged) {
      const e = await ledger.entry(a.seq);
      assert.ok(e, `acknowledged seq ${a.seq} is in the database`);
      assert.equal(e.pk, a.pk);
      assert.ok(e.eventHash.equals(a.eventHash) && e.chainHash.equals(a.chainHash), `acknowledged seq ${a.seq} is the entry the caller was told`);
    }
  } finally {
    await ledger.close();
  }
}

export async function domainIds(ledger: Ledger): Promise<string[]> {
  return (await ledger.store.query<{ id: string }>('SELECT id FROM domain_rows ORDER BY id')).map((r) => r.id);
}

