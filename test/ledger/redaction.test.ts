/**
 * Redaction (erasure requests): ledger.redact and `sealtrail redact` write exactly one chained
 * sealtrail.redaction event and blank one payload, in one transaction, on both backends; hashes,
 * chain and proofs stay valid; bad requests write nothing.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalize } from '../../src/core/canonical-json.js';
import { chainHash } from '../../src/core/chain.js';
import { isSealtrailError, type ErrorCode } from '../../src/core/errors.js';
import { verifyInclusion } from '../../src/core/merkle.js';
import { installCapture, watchTable } from '../../src/capture/capture.js';
import type { Ledger } from '../../src/ledger/ledger.js';
import { REDACTION_EVENT_KIND } from '../../src/ledger/redaction.js';
import { BACKENDS } from '../helpers/databases.js';
import { cli } from '../helpers/cli.js';
import { seededLedger } from '../helpers/ledgers.js';

interface RawRow {
  seq: number;
  event_kind: string;
  event_pk: string;
  event_hash: string;
  prev_hash: string;
  chain_hash: string;
  payload: string | null;
}

/** Every audit_chain row as stored, hashes in hex, so a comparison covers every column. */
async function rawRows(ledger: Ledger): Promise<RawRow[]> {
  const rows = await ledger.store.query<Record<string, unknown>>(
    'SELECT seq, event_kind, event_pk, event_hash, prev_hash, chain_hash, payload FROM audit_chain ORDER BY seq',
  );
  return rows.map((r) => ({
    seq: Number(r.seq),
    event_kind: r.event_kind as string,
    event_pk: r.event_pk as string,
    event_hash: (r.event_hash as Buffer).toString('hex'),
    prev_hash: (r.prev_hash as Buffer).toString('hex'),
    chain_hash: (r.chain_hash as Buffer).toString('hex'),
    payload: r.payload as string | null,
  }));
}

async function snapshot(ledger: Ledger) {
  const entries = [];
  for await (const e of ledger.entries()) entries.push({ seq: e.seq, leaf: e.leafHash.toString('hex'), at: String(e.appendedAtMicros) });
  const tiles = await ledger.store.query<Record<string, unknown>>('SELECT level, idx, width, hashes FROM merkle_tiles ORDER BY level, idx');
  return { rows: await rawRows(ledger), entries, tiles: tiles.map((t) => `${String(t.level)}/${String(t.idx)}/${String(t.width)}/${(t.hashes as Buffer).toString('hex')}`), head: await ledger.head() };
}

const person = (i: number) => ({ kind: 'person', pk: `p${i + 1}`, payload: { name: `Person ${i + 1}`, email: `p${i + 1}@example.com` } });
const seeded = (url: string, n = 9): Promise<Ledger> => seededLedger(url, n, person);

const isCode = (code: ErrorCode) => (e: unknown) => isSealtrailError(e, code);

for (const backend of BACKENDS) {
  describe(`redaction on ${backend.name}`, () => {
    it('appends one chained sealtrail.redaction event and blanks only that payload; hashes, chain and tree are untouched', async () => {
      const ledger = await seeded(await backend.freshUrl());
      try {
        const before = await snapshot(ledger);
        const target = before.rows[4]!;
        const result = await ledger.redact(5, 'erasure request #4711');
        assert.equal(result.seq, 5);
        assert.equal(result.eventHash.toString('hex'), target.event_hash);
        assert.equal(result.redaction.seq, 10);

        const after = await snapshot(ledger);
        const expectedPayload = canonicalize({ seq: 5, event_hash: target.event_hash, reason: 'erasure request #4711' });
        assert.equal(expectedPayload, `{"event_hash":"${target.event_hash}","reason":"erasure request #4711","seq":5}`);
        const redaction = after.rows[9]!;
        assert.deepEqual(
          { kind: redaction.event_kind, pk: redaction.event_pk, payload: redaction.payload, prev: redaction.prev_hash },
          { kind: REDACTION_EVENT_KIND, pk: '5', payload: expectedPayload, prev: before.head.chainHash.toString('hex') },
        );
        assert.equal(redaction.chain_hash, chainHash(before.head.chainHash, Buffer.from(redaction.event_hash, 'hex'), 10).toString('hex'));
        // Exactly one payload changed, and nothing else of the first nine rows.
        assert.deepEqual(after.rows.slice(0, 9), before.rows.map((r) => (r.seq === 5 ? { ...r, payload: null } : r)));
        assert.deepEqual(after.entries.slice(0, 9), before.entries, 'leaf hashes and timestamps are kept');
        // A tile only grew: each one from before is a prefix of its successor.
        for (const t of before.tiles) {
          const [level, idx, , hex] = t.split('/');
          assert.ok(after.tiles.some((u) => u.startsWith(`${level}/${idx}/`) && u.split('/')[3]!.startsWith(hex!)), `tile ${level}/${idx} kept its hashes`);
        }
        assert.equal(after.head.size, 10);

        // Proofs for the redacted entry still verify, at the new size and at the old one.
        for (const size of [10, 9, 5]) {
          const p = await ledger.proveInclusion(5, size);
          assert.equal(p.leafHash.toString('hex'), before.entries[4]!.leaf);
          assert.ok(verifyInclusion(p.index, p.size, p.leafHash, p.proof, p.root), `size ${size}`);
        }
        assert.equal((await ledger.entry(5))!.payload, null);
        const report = await ledger.verify();
        assert.equal(report.ok, true, JSON.stringify(report.divergence));
      } finally {
        await ledger.close();
      }
    });

    it('refuses out-of-range seqs, a second redaction, a redaction event and an empty reason, writing nothing', async () => {
      const ledger = await seeded(await backend.freshUrl(), 4);
      try {
        await ledger.redact(2, 'erasure');
        const before = await snapshot(ledger);
        const cases: Array<[number, string, ErrorCode]> = [
          [0, 'r', 'out_of_range'],
          [-1, 'r', 'out_of_range'],
          [6, 'r', 'out_of_range'],
          [1.5, 'r', 'invalid_argument'],
          [2, 'again', 'already_redacted'],
          [2, 'erasure', 'already_redacted'],
          [5, 'the redaction event itself', 'not_redactable'],
          [3, '', 'invalid_argument'],
          [3, '  \n', 'invalid_argument'],
          [3, 'bad \ud800 reason', 'non_canonical_value'],
        ];
        for (const [seq, reason, code] of cases) {
          await assert.rejects(ledger.redact(seq, reason), isCode(code), `${seq} ${JSON.stringify(reason)}`);
        }
        assert.deepEqual(await snapshot(ledger), before);
      } finally {
        await ledger.close();
      }
    });

    it('a payload blanked without a redaction event cannot be papered over by redacting it afterwards', async () => {
      const ledger = await seeded(await backend.freshUrl(), 3);
      try {
        // The attacker's blanking (with the guard's maintenance switch where capture is installed).
        if (ledger.store.capabilities.triggerCapture) await installCapture(ledger.store);
        await ledger.store.transaction(async (tx) => {
          if (ledger.store.capabilities.triggerCapture) await tx.query("SELECT set_config('sealtrail.maintenance', 'on', true)");
          await tx.run('UPDATE audit_chain SET payload = NULL WHERE seq = 2');
        });
        const before = await snapshot(ledger);
        await assert.rejects(ledger.redact(2, 'cover-up'), isCode('already_redacted'));
        assert.deepEqual(await snapshot(ledger), before);
      } finally {
        await ledger.close();
      }
    });

    it('redactions inside a busy group commit: every caller succeeds, racing redactions of one entry yield one winner', async () => {
      const ledger = await seeded(await backend.freshUrl(), 6);
      try {
        const appends = Array.from({ length: 24 }, (_, i) => ledger.append('busy', `b${i}`, { i }));
        const redactions = [ledger.redact(1, 'first'), ledger.redact(3, 'third'), ledger.redact(3, 'third, twice')];
        const settled = await Promise.allSettled([...appends, ...redactions]);
        assert.ok(settled.slice(0, 24).every((s) => s.status === 'fulfilled'));
        assert.equal(settled[24]!.status, 'fulfilled');
        const racing = settled.slice(25);
        assert.equal(racing.filter((s) => s.status === 'fulfilled').length, 1);
        const lost = racing.find((s) => s.status === 'rejected') as PromiseRejectedResult;
        assert.ok(isSealtrailError(lost.reason, 'already_redacted'), String(lost.reason));
        const rows = await rawRows(ledger);
        assert.deepEqual(rows.map((r) => r.seq), Array.from({ length: 6 + 24 + 2 }, (_, i) => i + 1), 'gap-free');
        assert.deepEqual(rows.filter((r) => r.payload === null).map((r) => r.seq), [1, 3]);
        assert.deepEqual(rows.filter((r) => r.event_kind === REDACTION_EVENT_KIND).map((r) => r.event_pk).sort(), ['1', '3']);
        assert.equal((await ledger.verify()).ok, true);
      } finally {
        await ledger.close();
      }
    });

    it('sealtrail redact <seq> --reason prints the redaction and refuses bad requests with a coded exit 2', async () => {
      const db = await backend.freshUrl();
      assert.equal((await cli(['init', '--db', db])).status, 0);
      // On PostgreSQL `init` chains capture's install event first.
      const base = (JSON.parse((await cli(['head', '--db', db, '--json'])).stdout) as { size: number }).size;
      for (let i = 1; i <= 3; i++) assert.equal((await cli(['append', 'person', `p${i}`, `{"n":${i}}`, '--db', db])).status, 0);
      const done = await cli(['redact', '2', '--reason', 'GDPR art. 17 request 42', '--db', db, '--json']);
      assert.equal(done.status, 0, done.stderr);
      const out = JSON.parse(done.stdout) as { seq: number; event_hash: string; reason: string; redaction: { seq: number } };
      assert.deepEqual([out.seq, out.reason], [2, 'GDPR art. 17 request 42']);
      assert.match(out.event_hash, /^[0-9a-f]{64}$/);
      // On PostgreSQL `init` installs the guard, which chains the UPDATE as a maintenance event after it.
      assert.equal(out.redaction.seq, base + 4);
      const human = await cli(['redact', '3', '--reason', 'another request', '--db', db]);
      assert.match(human.stdout, /^redacted seq 3 \(event_hash [0-9a-f]{64} kept\); recorded as seq \d+\n$/);
      const again = await cli(['redact', '2', '--reason', 'again', '--db', db, '--json']);
      assert.equal(again.status, 2);
      assert.equal((JSON.parse(again.stdout) as { error: { code: string } }).error.code, 'already_redacted');
      const noReason = await cli(['redact', '1', '--db', db]);
      assert.equal(noReason.status, 2);
      assert.equal((await cli(['verify', '--db', db])).status, 0);
    });
  });
}

describe('redaction with PostgreSQL capture installed', () => {
  it('passes the audit-table guard, which records the UPDATE as a maintenance event in the same transaction', async () => {
    const ledger = await seeded(await BACKENDS[1]!.freshUrl(), 5);
    try {
      await installCapture(ledger.store);
      const size = (await ledger.head()).size;
      // Without the declared maintenance, an UPDATE is refused.
      await assert.rejects(ledger.store.run('UPDATE audit_chain SET payload = NULL WHERE seq = 4'));
      const r = await ledger.redact(4, 'erasure');
      const rows = (await rawRows(ledger)).slice(size);
      assert.deepEqual(rows.map((x) => [x.seq, x.event_kind]), [
        [size + 1, REDACTION_EVENT_KIND],
        [size + 2, 'sealtrail.maintenance'],
      ]);
      assert.equal(r.redaction.seq, size + 1);
      assert.equal((await ledger.entry(4))!.payload, null);
      // The appender continues after the guard's event: the next append is gap-free.
      assert.equal((await ledger.append('after', 'a', {})).seq, size + 3);
      const setting = await ledger.store.query<{ v: string | null }>("SELECT current_setting('sealtrail.maintenance', true) AS v");
      assert.notEqual(setting[0]!.v, 'on', 'maintenance is not left on');
      assert.equal((await ledger.verify()).ok, true);
    } finally {
      await ledger.close();
    }
  });
});

describe('group commit with domain writes that chain events themselves (PostgreSQL)', () => {
  it('a domain row inserted into a sync-watched table is chained after its own entry, and the group stays gap-free', async () => {
    const ledger = await seeded(await BACKENDS[1]!.freshUrl(), 3);
    try {
      await installCapture(ledger.store);
      await ledger.store.exec('CREATE TABLE orders (id INT PRIMARY KEY, what TEXT NOT NULL)');
      await watchTable(ledger.store, 'orders');
      const start = (await ledger.head()).size;
      const plain = Array.from({ length: 10 }, (_, i) => ledger.append('plain', `p${i}`, { i }));
      const domains = Array.from({ length: 4 }, (_, i) =>
        ledger.appendWith([{ kind: 'order.created', pk: String(i), payload: { i } }], async (tx) => {
          await tx.run('INSERT INTO orders (id, what) VALUES (?, ?)', [i, `order ${i}`]);
        }),
      );
      await Promise.all([...plain, ...domains]);
      const rows = (await rawRows(ledger)).slice(start);
      assert.deepEqual(rows.map((r) => r.seq), Array.from({ length: 10 + 4 + 4 }, (_, i) => start + i + 1), 'gap-free');
      assert.equal(rows.filter((r) => r.event_kind === 'orders').length, 4, 'every captured row chained');
      assert.equal((await ledger.head()).size, start + 18);
      assert.equal((await ledger.verify()).ok, true);
    } finally {
      await ledger.close();
    }
  });
});
