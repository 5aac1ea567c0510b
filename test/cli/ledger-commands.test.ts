/** The ledger commands end to end (in-process through runCli), on both backends. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateSignerKey } from '../../src/core/note.js';
import { openLedger } from '../../src/ledger/ledger.js';
import { tamper } from '../../src/ledger/tamper-simulator.js';
import { BACKENDS, tempDir } from '../helpers/databases.js';
import { cli, jsonLines } from '../helpers/cli.js';

for (const backend of BACKENDS) {
  describe(`ledger commands on ${backend.name}`, () => {
    it('init, append, head and verify speak JSON and exit 0 on an intact ledger', async () => {
      const db = await backend.freshUrl();
      assert.equal((await cli(['init', '--db', db, '--json'])).status, 0);
      // On PostgreSQL `init` chains capture's install event first.
      const base = (JSON.parse((await cli(['head', '--db', db, '--json'])).stdout) as { size: number }).size;
      assert.equal(base, backend.name === 'postgres' ? 1 : 0);
      const appended = await cli(['append', 'deploy', 'run-1', '{"actor":"ci","ok":true}', '--db', db, '--json']);
      assert.equal(appended.status, 0, appended.stderr);
      const entry = JSON.parse(appended.stdout) as { seq: number; event_hash: string; chain_hash: string };
      assert.equal(entry.seq, base + 1);
      assert.match(entry.chain_hash, /^[0-9a-f]{64}$/);
      const head = JSON.parse((await cli(['head', '--db', db, '--json'])).stdout) as { size: number; chain_hash: string; root: string };
      assert.deepEqual({ size: head.size, chain_hash: head.chain_hash }, { size: base + 1, chain_hash: entry.chain_hash });
      assert.equal(Buffer.from(head.root, 'base64').length, 32);
      const verified = await cli(['verify', '--db', db, '--json']);
      assert.equal(verified.status, 0);
      const report = JSON.parse(verified.stdout) as Record<string, unknown>;
      assert.deepEqual(
        { ok: report.ok, checked: report.checked, size: report.size, chain_hash: report.chain_hash, root: report.root, head_size: report.head_size, divergence: report.divergence },
        { ok: true, checked: base + 1, size: base + 1, chain_hash: entry.chain_hash, root: head.root, head_size: base + 1, divergence: null },
      );
    });

    it('append --jsonl stops at a bad line: lines before it committed, none after, the line named', async () => {
      const db = await backend.freshUrl();
      const file = join(tempDir(), 'events.jsonl');
      const good = Array.from({ length: 7 }, (_, i) => JSON.stringify({ kind: 'import', pk: `p${i}`, payload: { i } }));
      writeFileSync(file, [...good.slice(0, 4), '{"kind":"import","pk":"bad","payload":{"x": }', ...good.slice(4)].join('\n') + '\n');
      const result = await cli(['append', '--jsonl', file, '--db', db, '--json']);
      assert.equal(result.status, 2);
      const docs = jsonLines(result.stdout) as Array<{ seq?: number; error?: { code: string; message: string } }>;
      assert.deepEqual(docs.slice(0, 4).map((d) => d.seq), [1, 2, 3, 4]);
      assert.equal(docs[4]!.error!.code, 'invalid_json');
      assert.match(docs[4]!.error!.message, /line 5/);
      assert.match(result.stderr, /line 5.*\[invalid_json\]/);
      const ledger = await openLedger({ url: db });
      try {
        assert.equal((await ledger.head()).size, 4);
      } finally {
        await ledger.close();
      }
    });

    it('append --jsonl reports a duplicate with a different payload at its line and keeps the lines before it', async () => {
      const db = await backend.freshUrl();
      const file = join(tempDir(), 'dup.jsonl');
      const lines = [
        { kind: 'k', pk: 'a', payload: 1 },
        { kind: 'k', pk: 'b', payload: 2 },
        { kind: 'k', pk: 'a', payload: 3 },
        { kind: 'k', pk: 'c', payload: 4 },
      ];
      writeFileSync(file, lines.map((l) => JSON.stringify(l)).join('\n'));
      const result = await cli(['append', '--jsonl', file, '--db', db]);
      assert.equal(result.status, 2);
      assert.match(result.stderr, /line 3.*\[duplicate_event\]/);
      const ledger = await openLedger({ url: db });
      try {
        assert.equal((await ledger.head()).size, 2);
      } finally {
        await ledger.close();
      }
    });

    it('verify exits 1 with the divergence, and --trusted catches a re-chain the table cannot show', async () => {
      const db = await backend.freshUrl();
      const ledger = await openLedger({ url: db });
      await ledger.appendBatch(Array.from({ length: 9 }, (_, i) => ({ kind: 'e', pk: String(i), payload: { i } })));
      const trustedFile = join(tempDir(), 'head.json');
      writeFileSync(trustedFile, (await cli(['head', '--db', db, '--json'])).stdout);
      await tamper(ledger.store, { type: 'rechain', seq: 3, payload: { i: 'forged' } });
      await ledger.close();
      assert.equal((await cli(['verify', '--db', db])).status, 0, 'invisible to the table alone');
      const caught = await cli(['verify', '--db', db, '--trusted', trustedFile, '--json']);
      assert.equal(caught.status, 1);
      const report = JSON.parse(caught.stdout) as { checked: number; size: number; divergence: unknown };
      assert.deepEqual({ checked: report.checked, size: report.size, divergence: report.divergence }, { checked: 8, size: 8, divergence: { seq: 9, kind: 'e', pk: '8', reason: 'checkpoint_mismatch' } });
      const edited = await openLedger({ url: db });
      await tamper(edited.store, { type: 'edit_payload', seq: 5, payload: { i: 'x' } });
      await edited.close();
      const failed = await cli(['verify', '--db', db, '--json']);
      assert.equal(failed.status, 1);
      assert.deepEqual((JSON.parse(failed.stdout) as { divergence: unknown }).divergence, { seq: 5, kind: 'e', pk: '4', reason: 'event_hash_mismatch' });
    });

    it('prove inclusion makes a bundle that check-proof accepts offline and rejects when altered', async () => {
      const db = await backend.freshUrl();
      const dir = tempDir();
      const keys = generateSignerKey('audit.example/log');
      const keyFile = join(dir, 'k.key');
      writeFileSync(keyFile, keys.signerKey, { mode: 0o600 });
      const ledger = await openLedger({ url: db });
      await ledger.appendBatch(Array.from({ length: 21 }, (_, i) => ({ kind: 'e', pk: String(i), payload: { i } })));
      await ledger.close();
      const proved = await cli(['prove', 'inclusion', '13', '--key-file', keyFile, '--db', db]);
      assert.equal(proved.status, 0, proved.stderr);
      assert.ok(!proved.stdout.includes(keys.signerKey.split('+').slice(4).join('+')), 'the signing key is not printed');
      const proofFile = join(dir, 'proof.txt');
      writeFileSync(proofFile, proved.stdout);
      const ok = await cli(['check-proof', proofFile, '--vkey', keys.verifierKey, '--json']);
      assert.equal(ok.status, 0, ok.stdout + ok.stderr);
      assert.equal((JSON.parse(ok.stdout) as { seq: number }).seq, 13);
      const lines = proved.stdout.split('\n');
      lines[3] = Buffer.alloc(32, 7).toString('base64'); // replace the first proof hash
      writeFileSync(proofFile, lines.join('\n'));
      assert.equal((await cli(['check-proof', proofFile, '--vkey', keys.verifierKey])).status, 1);
      const other = generateSignerKey('audit.example/log');
      writeFileSync(proofFile, proved.stdout);
      assert.notEqual((await cli(['check-proof', proofFile, '--vkey', other.verifierKey])).status, 0, 'an untrusted key is refused');

      const consistency = await cli(['prove', 'consistency', '5', '21', '--db', db, '--json']);
      assert.equal(consistency.status, 0);
      assert.ok((JSON.parse(consistency.stdout) as { proof: string[] }).proof.length > 0);
    });
  });
}

describe('ledger commands and bad environments', () => {
  it('an unreachable PostgreSQL is a one-line database_unreachable error, exit 2', async () => {
    const result = await cli(['head', '--db', 'postgres://nobody:secret@127.0.0.1:1/nowhere']);
    assert.equal(result.status, 2);
    assert.match(result.stderr, /\[database_unreachable\]/);
    assert.ok(!result.stderr.includes('secret'), 'the password is not shown');
    assert.equal(result.stderr.trim().split('\n').length, 1);
  });

  it('malformed payload JSON is refused before anything is written', async () => {
    const db = join(tempDir(), 'x.db');
    const result = await cli(['append', 'k', 'p', '{"a":NaN}', '--db', db]);
    assert.equal(result.status, 2);
    assert.match(result.stderr, /\[invalid_json\]/);
    const ledger = await openLedger({ url: db });
    try {
      assert.equal((await ledger.head()).size, 0);
    } finally {
      await ledger.close();
    }
  });
});
