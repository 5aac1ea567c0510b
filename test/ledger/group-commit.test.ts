/**
 * Group commit under faults, on both backends: a store error anywhere in a group's write fails the
 * whole group (every caller gets it, nothing of the group is committed); only a unit's own domain
 * write fails alone. After every fault no caller was told an entry is durable that is not in the
 * database, the head equals the rows, verification passes and later appends work.
 * SQLite's full disk is in group-commit-disk-full.test.ts.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import '../helpers/replay.js';
import pg from 'pg';
import { isSealtrailError } from '../../src/core/errors.js';
import { openLedger, type AppendResult } from '../../src/ledger/ledger.js';
import type { Tx } from '../../src/store/store.js';
import { BACKENDS } from '../helpers/databases.js';
import { appendGroup, assertConsistent, DOMAIN_TABLE, domainIds, type UnitSpec } from './group-commit-helpers.js';

const FAULT_TRIGGER = {
  sqlite: `CREATE TRIGGER inject_fault BEFORE INSERT ON audit_chain WHEN NEW.event_pk LIKE 'poison%'
           BEGIN SELECT RAISE(ABORT, 'injected fault'); END`,
  postgres: `CREATE FUNCTION inject_fault() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN IF NEW.event_pk LIKE 'poison%' THEN RAISE EXCEPTION 'injected fault'; END IF; RETURN NEW; END $$;
             CREATE TRIGGER inject_fault BEFORE INSERT ON audit_chain FOR EACH ROW EXECUTE FUNCTION inject_fault()`,
};

function assertInjected(error: unknown): void {
  assert.ok(isSealtrailError(error, 'database_error'), `a coded database_error, got ${String(error)}`);
  assert.match(error.message, /injected fault/, 'every caller gets the error that failed the group, not a follow-on');
}

for (const backend of BACKENDS) {
  describe(`group commit faults on ${backend.name}`, () => {
    it('a failing ledger row of an earlier unit fails the whole group, and nothing of it is committed', async () => {
      const url = await backend.freshUrl();
      const ledger = await openLedger({ url });
      try {
        await ledger.store.exec(DOMAIN_TABLE);
        await ledger.store.exec(FAULT_TRIGGER[backend.name]);
        const units: UnitSpec[] = [
          { pks: ['a1', 'poison-1'], domain: 'none' },
          { pks: ['d1'], domain: 'ok' },
          { pks: ['a2'], domain: 'none' },
          { pks: ['d2'], domain: 'ok' },
        ];
        const outcomes = await appendGroup(ledger, 'b1', units);
        for (const o of outcomes) {
          assert.equal(o.ok, false, 'no caller of the failed group is told its entry is durable');
          if (!o.ok) assertInjected(o.error);
        }
        assert.equal((await ledger.head()).size, 1, 'only the blocker committed');
        assert.deepEqual(await domainIds(ledger), []);
        // The ledger keeps working, the same units without the poisoned event commit.
        const retry = await appendGroup(ledger, 'b2', units.map((u) => ({ ...u, pks: u.pks.filter((p) => !p.startsWith('poison')) })));
        assert.ok(retry.every((o) => o.ok));
        await assertConsistent(url, retry.flatMap((o) => (o.ok ? o.entries : [])));
      } finally {
        await ledger.close();
      }
    });

    it("a poisoned row among a domain unit's own ledger rows fails the whole group too", async () => {
      const url = await backend.freshUrl();
      const ledger = await openLedger({ url });
      try {
        await ledger.store.exec(DOMAIN_TABLE);
        await ledger.store.exec(FAULT_TRIGGER[backend.name]);
        const outcomes = await appendGroup(ledger, 'b1', [
          { pks: ['a1'], domain: 'none' },
          { pks: ['d1', 'poison-d'], domain: 'ok' },
          { pks: ['a2'], domain: 'none' },
        ]);
        for (const o of outcomes) {
          assert.equal(o.ok, false);
          if (!o.ok) assertInjected(o.error);
        }
        assert.equal((await ledger.head()).size, 1);
        await assertConsistent(url, []);
      } finally {
        await ledger.close();
      }
    });

    it('a unit whose own domain write fails is rolled back alone; the rest of the group commits', async () => {
      const url = await backend.freshUrl();
      const ledger = await openLedger({ url });
      try {
        await ledger.store.exec(DOMAIN_TABLE);
        const outcomes = await appendGroup(ledger, 'b1', [
          { pks: ['a1', 'a2'], domain: 'none' },
          { pks: ['d1'], domain: 'ok' },
          { pks: ['f1', 'f2'], domain: 'fails' },
          { pks: ['a3'], domain: 'none' },
          { pks: ['d2'], domain: 'ok' },
        ]);
        assert.deepEqual(outcomes.map((o) => o.ok), [true, true, false, true, true]);
        const failed = outcomes[2]!;
        assert.ok(!failed.ok && isSealtrailError(failed.error, 'database_error'), 'the CHECK violation is the failed unit’s error');
        const acked = outcomes.flatMap((o) => (o.ok ? o.entries : []));
        assert.deepEqual(acked.map((e) => e.seq), [2, 3, 4, 5, 6], 'the failed unit leaves no gap');
        assert.deepEqual(await domainIds(ledger), ['row-d1', 'row-d2']);
        await assertConsistent(url, acked);
      } finally {
        await ledger.close();
      }
    });

    it('property: whatever a group holds, callers are told exactly what the database keeps', async () => {
      const url = await backend.freshUrl();
      const ledger = await openLedger({ url });
      let run = 0;
      const acknowledged: AppendResult[] = [];
      const expectedDomain: string[] = [];
      try {
        await ledger.store.exec(DOMAIN_TABLE);
        await ledger.store.exec(FAULT_TRIGGER[backend.name]);
        const unitArb = fc.record({
          events: fc.array(fc.boolean().map((poison) => poison), { minLength: 1, maxLength: 3 }),
          domain: fc.constantFrom<UnitSpec['domain']>('none', 'none', 'ok', 'fails'),
        });
        await fc.assert(
          fc.asyncProperty(fc.array(unitArb, { minLength: 1, maxLength: 6 }), fc.nat({ max: 3 }), async (specs, poisonEvery) => {
            run++;
            // Poison is rare: about one group in four holds a poisoned event.
            const units: UnitSpec[] = specs.map((s, u) => ({
              pks: s.events.map((poison, e) => `${poison && poisonEvery === 0 ? 'poison' : 'ev'}-${run}-${u}-${e}`),
              domain: s.domain,
            }));
            const poisoned = units.some((u) => u.pks.some((p) => p.startsWith('poison')));
            const sizeBefore = (await ledger.head()).size;
            const outcomes = await appendGroup(ledger, `blocker-${run}`, units);
            if (poisoned) {
              for (const o of outcomes) {
                assert.equal(o.ok, false);
                if (!o.ok) assertInjected(o.error);
              }
              assert.equal((await ledger.head()).size, sizeBefore + 1);
            } else {
              outcomes.forEach((o, i) => assert.equal(o.ok, units[i]!.domain !== 'fails'));
              for (const [i, o] of outcomes.entries()) {
                if (!o.ok) continue;
                acknowledged.push(...o.entries);
                if (units[i]!.domain === 'ok') expectedDomain.push(`row-${units[i]!.pks[0]!}`);
              }
            }
            assert.deepEqual(await domainIds(ledger), [...expectedDomain].sort());
            await assertConsistent(url, acknowledged);
          }),
          { numRuns: 12 },
        );
      } finally {
        await ledger.close();
      }
    });
  });
}

describe('store transactions never report a commit that did not happen', () => {
  it('PostgreSQL: a transaction whose failed statement was swallowed rejects at COMMIT instead of resolving', async () => {
    const url = await BACKENDS[1]!.freshUrl();
    const ledger = await openLedger({ url });
    try {
      await ledger.store.exec(DOMAIN_TABLE);
      const attempt = ledger.store.writeTransaction(async (tx) => {
        await tx.run('INSERT INTO domain_rows (id, seq) VALUES (?, ?)', ['kept?', 1]);
        try {
          await tx.run('INSERT INTO domain_rows (id, seq) VALUES (?, ?)', ['bad-row', 2]);
        } catch {
          // swallowed: PostgreSQL has aborted the transaction, and its COMMIT answers ROLLBACK
        }
        return 'done';
      });
      await assert.rejects(attempt, (e) => isSealtrailError(e, 'database_error') && /rolled the transaction back at COMMIT/.test(e.message));
      assert.deepEqual(await domainIds(ledger), []);
    } finally {
      await ledger.close();
    }
  });
});

describe('group commit on PostgreSQL when the connection is cut mid-group', () => {
  async function admin(url: string): Promise<pg.Client> {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    return client;
  }

  it('a connection cut while earlier units’ rows are written fails every caller; later appends work', async () => {
    const url = await BACKENDS[1]!.freshUrl();
    const ledger = await openLedger({ url });
    try {
      await ledger.store.exec(DOMAIN_TABLE);
      // The appender's own backend terminates itself while inserting the chosen row.
      await ledger.store.exec(`CREATE FUNCTION cut_connection() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN IF NEW.event_pk = 'cut' THEN PERFORM pg_terminate_backend(pg_backend_pid()); PERFORM pg_sleep(5); END IF; RETURN NEW; END $$;
        CREATE TRIGGER cut_connection BEFORE INSERT ON audit_chain FOR EACH ROW EXECUTE FUNCTION cut_connection()`);
      const outcomes = await appendGroup(ledger, 'b1', [
        { pks: ['a1', 'cut'], domain: 'none' },
        { pks: ['d1'], domain: 'ok' },
        { pks: ['a2'], domain: 'none' },
      ]);
      for (const o of outcomes) {
        assert.equal(o.ok, false);
        if (!o.ok) assert.ok(isSealtrailError(o.error, 'database_unreachable'), `database_unreachable, got ${String(o.error)}`);
      }
      assert.equal((await ledger.head()).size, 1);
      const retry = await appendGroup(ledger, 'b2', [{ pks: ['a1'], domain: 'none' }, { pks: ['d1'], domain: 'ok' }]);
      assert.ok(retry.every((o) => o.ok));
      assert.deepEqual(await domainIds(ledger), ['row-d1']);
      await assertConsistent(url, retry.flatMap((o) => (o.ok ? o.entries : [])));
    } finally {
      await ledger.close();
    }
  });

  it('a connection cut inside a domain write fails the whole group, not just that unit', async () => {
    const url = await BACKENDS[1]!.freshUrl();
    const ledger = await openLedger({ url });
    const killer = await admin(url);
    try {
      await ledger.store.exec(DOMAIN_TABLE);
      const cut = async (tx: Tx) => {
        const [{ pid }] = (await tx.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')) as [{ pid: number }];
        await killer.query('SELECT pg_terminate_backend($1, 10000)', [pid]);
      };
      for (const swallow of [false, true]) {
        const outcomes = await appendGroup(ledger, `b-${swallow}`, [
          { pks: [`a1-${swallow}`], domain: 'none' },
          {
            pks: [`d1-${swallow}`],
            domain: 'ok',
            // Cut, then either fail on the next statement or swallow that failure and return.
            write: async (tx) => {
              await cut(tx);
              try {
                await tx.run('INSERT INTO domain_rows (id, seq) VALUES (?, ?)', [`x-${swallow}`, 1]);
              } catch (err) {
                if (!swallow) throw err;
              }
            },
          },
          { pks: [`a2-${swallow}`], domain: 'none' },
          { pks: [`d2-${swallow}`], domain: 'ok' },
        ]);
        for (const o of outcomes) {
          assert.equal(o.ok, false, `swallow=${swallow}: nobody is told durable`);
          if (!o.ok) assert.ok(isSealtrailError(o.error) && ['database_unreachable', 'database_error'].includes(o.error.code), String(o.error));
        }
      }
      assert.equal((await ledger.head()).size, 2, 'only the two blockers committed');
      assert.deepEqual(await domainIds(ledger), []);
      const retry = await appendGroup(ledger, 'b3', [{ pks: ['late'], domain: 'ok' }]);
      assert.ok(retry.every((o) => o.ok));
      await assertConsistent(url, retry.flatMap((o) => (o.ok ? o.entries : [])));
    } finally {
      await killer.end();
      await ledger.close();
    }
  });
});
