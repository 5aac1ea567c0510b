/**
 * Row keys and row-version keys share the event_pk space: no user key, however adversarial, can
 * equal or be read as a version key, and the SQL side (sync triggers) encodes exactly as the
 * TypeScript side (sequencer, backfill, scan) does.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import '../helpers/replay.js';
import pg from 'pg';
import { AMBIGUOUS_ROW_KEY, decodeRowKey, encodeRowKey, parseVersionKey, versionKey, type RowVersionOp } from '../../src/core/row-key.js';
import { openLedger } from '../../src/ledger/ledger.js';
import { drainOutbox, installCapture, scanCapture, watchTable, type CaptureMode } from '../../src/capture/capture.js';
import { postgresUrl } from '../helpers/databases.js';

/** Keys built from the pieces version keys are made of. */
const adversarialKey = fc
  .array(fc.constantFrom('@', '#', '~', 'update', 'delete', '#update', '#delete', '#update@', '#delete@', '@1', '0', '7', '12', 'x', ' ', '\n', 'é', '😀'), {
    minLength: 1,
    maxLength: 8,
  })
  .map((parts) => parts.join(''));
const op = fc.constantFrom<RowVersionOp>('update', 'delete', 'reinsert');
const seq = fc.integer({ min: 1, max: 10_000 });

describe('row keys', () => {
  it('encoding is injective and never yields a version key', () => {
    fc.assert(
      fc.property(adversarialKey, adversarialKey, seq, (a, b, s) => {
        assert.equal(decodeRowKey(encodeRowKey(a)), a);
        if (a !== b) assert.notEqual(encodeRowKey(a), encodeRowKey(b));
        // Whatever seq it might be chained at, an encoded key is a row key.
        const trailing = /@([0-9]+)$/.exec(encodeRowKey(a));
        assert.equal(parseVersionKey(encodeRowKey(a), trailing ? Number(trailing[1]) : s), null);
      }),
      { numRuns: 2_000 },
    );
  });

  it('a version key equals no encoded row key and reads back as what it is', () => {
    fc.assert(
      fc.property(adversarialKey, adversarialKey, op, seq, (a, b, o, s) => {
        const v = versionKey(encodeRowKey(a), o, s);
        assert.notEqual(v, encodeRowKey(b));
        assert.deepEqual(parseVersionKey(v, s), { rowPk: encodeRowKey(a), op: o });
        assert.equal(parseVersionKey(v, s + 1), null, 'only the entry\'s own seq makes a version');
      }),
      { numRuns: 2_000 },
    );
  });

  it('versions of different keys or kinds never coincide', () => {
    fc.assert(
      fc.property(adversarialKey, adversarialKey, op, op, seq, (a, b, o1, o2, s) => {
        fc.pre(a !== b || o1 !== o2);
        assert.notEqual(versionKey(encodeRowKey(a), o1, s), versionKey(encodeRowKey(b), o2, s));
      }),
      { numRuns: 2_000 },
    );
  });

  it('the SQL twin uses the same pattern and encodes every key exactly as TypeScript does', async () => {
    const url = await postgresUrl();
    const ledger = await openLedger({ url });
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await installCapture(ledger.store);
      const src = (await client.query(`SELECT prosrc FROM pg_proc WHERE proname = 'sealtrail_row_key'`)).rows[0].prosrc as string;
      assert.ok(src.includes(`'${AMBIGUOUS_ROW_KEY}'`), 'the SQL pattern is core\'s, verbatim');
      await fc.assert(
        fc.asyncProperty(fc.array(adversarialKey, { minLength: 1, maxLength: 64 }), async (keys) => {
          const rows = (await client.query('SELECT sealtrail_row_key(k) AS e FROM unnest($1::text[]) WITH ORDINALITY AS u(k, o) ORDER BY o', [keys])).rows;
          assert.deepEqual(rows.map((r: { e: string }) => r.e), keys.map(encodeRowKey));
        }),
        { numRuns: 30 },
      );
    } finally {
      await client.end();
      await ledger.close();
    }
  });

  for (const mode of ['sync', 'queued'] as CaptureMode[]) {
    it(`${mode}: user keys shaped like the versions that follow them chain, update and delete without a collision`, async () => {
      const url = await postgresUrl();
      const ledger = await openLedger({ url });
      const pool = new pg.Pool({ connectionString: url, max: 2 });
      const sql = (text: string, params?: unknown[]) => pool.query(text, params);
      const settle = async () => {
        if (mode === 'queued') await drainOutbox(ledger.store);
      };
      try {
        await installCapture(ledger.store);
        await sql('CREATE TABLE k (id text PRIMARY KEY, v text)');
        await watchTable(ledger.store, 'k', { mode, updates: true, deletes: true });
        await sql(`INSERT INTO k VALUES ('x', 'a')`);
        await settle();
        const s = (await ledger.head()).size;
        // Exactly the keys the later versions get: x's update at s + 5 and delete at s + 6, and
        // y's re-insert (with other content) after its delete at s + 8.
        await sql(`INSERT INTO k VALUES ($1, 'trap'), ($2, 'trap'), ($3, 'trap')`, [`x#update@${s + 5}`, `x#delete@${s + 6}`, `y@${s + 8}`]);
        await settle();
        await sql(`INSERT INTO k VALUES ('y', 'b')`);
        await settle();
        await sql(`UPDATE k SET v = 'a2' WHERE id = 'x'`);
        await settle();
        await sql(`DELETE FROM k WHERE id = 'x'`);
        await settle();
        await sql(`DELETE FROM k WHERE id = 'y'`);
        await settle();
        await sql(`INSERT INTO k VALUES ('y', 'c')`);
        await settle();
        const pks = (await sql(`SELECT seq, event_pk FROM audit_chain WHERE event_kind = 'k' ORDER BY seq`)).rows.map((r) => [Number(r.seq), r.event_pk]);
        assert.deepEqual(pks, [
          [s, 'x'],
          [s + 1, `x#update@${s + 5}~`],
          [s + 2, `x#delete@${s + 6}~`],
          [s + 3, `y@${s + 8}~`],
          [s + 4, 'y'],
          [s + 5, `x#update@${s + 5}`],
          [s + 6, `x#delete@${s + 6}`],
          [s + 7, `y#delete@${s + 7}`],
          [s + 8, `y@${s + 8}`],
        ]);
        const report = await scanCapture(ledger.store);
        assert.equal(report.ok, true, JSON.stringify(report.findings));
        assert.equal((await ledger.verify()).ok, true);
      } finally {
        await pool.end();
        await ledger.close();
      }
    });
  }
});
