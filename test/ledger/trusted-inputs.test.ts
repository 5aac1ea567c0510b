/**
 * Trusted inputs: checkpoints bind the chain hash (sealtrail-chain-hash line), a checkpoint is
 * trusted only through a verifier key and for its own origin, `checkpoint --origin` cannot sign
 * for another log, and check-proof handles bundles without an entry as inclusion-only.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openCheckpoint, signCheckpoint } from '../../src/core/checkpoint.js';
import { CosignatureSigner, CosignatureVerifier, generateCosignerKey, verifyCosignature } from '../../src/core/cosignature.js';
import { isSealtrailError, type ErrorCode } from '../../src/core/errors.js';
import { GENESIS_HASH } from '../../src/core/chain.js';
import { NoteSigner, NoteVerifier, generateSignerKey, parseNote } from '../../src/core/note.js';
import { formatTlogProof, parseTlogProof } from '../../src/core/tlog-proof.js';
import { Witness } from '../../src/anchor/witness-server.js';
import type { Ledger } from '../../src/ledger/ledger.js';
import { tamper } from '../../src/ledger/tamper-simulator.js';
import { parseTrustedState } from '../../src/ledger/trusted-state.js';
import { BACKENDS, tempDir } from '../helpers/databases.js';
import { cli, errorCode } from '../helpers/cli.js';
import { seededLedger } from '../helpers/ledgers.js';

const isCode = (code: ErrorCode) => (e: unknown) => isSealtrailError(e, code);


const seeded = (url: string, n: number): Promise<Ledger> => seededLedger(url, n);

for (const backend of BACKENDS) {
  describe(`trusted inputs on ${backend.name}`, () => {
    it('ledger.checkpoint signs the chain hash as the sealtrail-chain-hash line, and the trusted state carries it', async () => {
      const ledger = await seeded(await backend.freshUrl(), 0);
      try {
        const keys = generateSignerKey('audit.example/log');
        const signer = NoteSigner.fromKey(keys.signerKey);
        const verifier = NoteVerifier.fromKey(keys.verifierKey);
        const empty = await ledger.checkpoint(signer);
        assert.deepEqual(openCheckpoint(empty.note, [verifier]).checkpoint.chainHash, GENESIS_HASH);
        await ledger.appendBatch(Array.from({ length: 7 }, (_, i) => ({ kind: 'e', pk: String(i), payload: { i } })));
        const head = await ledger.head();
        const cp = await ledger.checkpoint(signer);
        assert.equal(parseNote(cp.note).text.split('\n')[3], `sealtrail-chain-hash ${head.chainHash.toString('hex')}`);
        assert.deepEqual(cp.chainHash, head.chainHash);
        const trusted = parseTrustedState(cp.note, [verifier]);
        assert.deepEqual(trusted, { size: 7, root: head.root, chainHash: head.chainHash });
      } finally {
        await ledger.close();
      }
    });

    it('a trusted checkpoint note needs a verifier key and its own origin; a re-chain is caught through the signed chain hash', async () => {
      const ledger = await seeded(await backend.freshUrl(), 6);
      try {
        const keys = generateSignerKey('audit.example/log');
        const signer = NoteSigner.fromKey(keys.signerKey);
        const verifier = NoteVerifier.fromKey(keys.verifierKey);
        const cp = await ledger.checkpoint(signer);
        assert.throws(() => parseTrustedState(cp.note), isCode('verifier_key_required'));
        assert.throws(() => parseTrustedState(cp.note, []), isCode('verifier_key_required'));
        assert.throws(() => parseTrustedState(cp.note, [NoteVerifier.fromKey(generateSignerKey('audit.example/log').verifierKey)]), isCode('invalid_signature'));
        assert.throws(() => parseTrustedState(cp.note, [verifier], { origin: 'audit.example/other' }), isCode('origin_mismatch'));
        // The same key signing for another origin: refused unless that origin is expected explicitly.
        const head = await ledger.head();
        const foreign = signCheckpoint({ origin: 'audit.example/other', size: head.size, rootHash: head.root, chainHash: head.chainHash }, [signer]);
        assert.throws(() => parseTrustedState(foreign, [verifier]), isCode('origin_mismatch'));
        assert.equal(parseTrustedState(foreign, [verifier], { origin: 'audit.example/other' }).size, 6);

        await tamper(ledger.store, { type: 'rechain', seq: 2, payload: { forged: true } });
        const report = await ledger.verify({ trusted: parseTrustedState(cp.note, [verifier]) });
        assert.equal(report.ok, false);
        assert.equal(report.divergence?.reason, 'checkpoint_mismatch');
      } finally {
        await ledger.close();
      }
    });

    it('ledger.checkpoint refuses an origin other than the signing key name and records nothing', async () => {
      const ledger = await seeded(await backend.freshUrl(), 3);
      try {
        const a = NoteSigner.fromKey(generateSignerKey('audit.example/a').signerKey);
        const b = NoteSigner.fromKey(generateSignerKey('audit.example/b').signerKey);
        await assert.rejects(ledger.checkpoint(a, { origin: 'audit.example/b' }), isCode('invalid_argument'));
        await assert.rejects(ledger.checkpoint([a, b]), isCode('invalid_argument'), 'keys named after two logs');
        await assert.rejects(ledger.checkpoint([]), isCode('invalid_argument'));
        assert.deepEqual(await ledger.checkpoints(), []);
        assert.equal((await ledger.checkpoint(a, { origin: 'audit.example/a' })).origin, 'audit.example/a');
      } finally {
        await ledger.close();
      }
    });

    it('CLI: verify --trusted <note> needs --vkey and the right origin; checkpoint --origin cannot sign for another log', async () => {
      const db = await backend.freshUrl();
      const dir = tempDir();
      await (await seeded(db, 4)).close();
      const keys = generateSignerKey('audit.example/cli');
      const keyFile = join(dir, 'log.key');
      writeFileSync(keyFile, keys.signerKey, { mode: 0o600 });

      const refused = await cli(['checkpoint', '--key-file', keyFile, '--origin', 'audit.example/elsewhere', '--db', db, '--json']);
      assert.equal(refused.status, 2);
      assert.equal(errorCode(refused.stdout), 'invalid_argument');
      const signed = await cli(['checkpoint', '--key-file', keyFile, '--origin', 'audit.example/cli', '--db', db, '--json']);
      assert.equal(signed.status, 0, signed.stderr + signed.stdout);
      const note = (JSON.parse(signed.stdout) as { note: string }).note;
      assert.match(note, /\nsealtrail-chain-hash [0-9a-f]{64}\n\n/);
      const noteFile = join(dir, 'checkpoint.txt');
      writeFileSync(noteFile, note);

      const noKey = await cli(['verify', '--trusted', noteFile, '--db', db, '--json']);
      assert.equal(noKey.status, 2);
      assert.equal(errorCode(noKey.stdout), 'verifier_key_required');
      assert.equal((await cli(['verify', '--trusted', noteFile, '--vkey', keys.verifierKey, '--db', db])).status, 0);
      const wrongOrigin = await cli(['verify', '--trusted', noteFile, '--vkey', keys.verifierKey, '--origin', 'audit.example/other', '--db', db, '--json']);
      assert.equal(wrongOrigin.status, 1);
      assert.equal(errorCode(wrongOrigin.stdout), 'origin_mismatch');
      assert.equal((await cli(['verify', '--trusted', noteFile, '--vkey', keys.verifierKey, '--origin', 'audit.example/cli', '--db', db])).status, 0);
      assert.equal((await cli(['verify', '--trusted', noteFile, '--vkey', generateSignerKey('audit.example/cli').verifierKey, '--db', db])).status, 1, 'an untrusted key');
    });

    it('CLI: check-proof checks the origin, and a bundle without an entry only for inclusion of --leaf-hash, saying so', async () => {
      const db = await backend.freshUrl();
      const dir = tempDir();
      const ledger = await seeded(db, 12);
      const keys = generateSignerKey('audit.example/proofs');
      await ledger.checkpoint(NoteSigner.fromKey(keys.signerKey));
      const leaf = (await ledger.entry(5))!.leafHash;
      await ledger.close();
      const proved = await cli(['prove', 'inclusion', '5', '--db', db]);
      assert.equal(proved.status, 0, proved.stderr);
      const withEntry = join(dir, 'with-entry.txt');
      writeFileSync(withEntry, proved.stdout);
      const bare = join(dir, 'bare.txt');
      const { extra: _extra, ...rest } = parseTlogProof(proved.stdout);
      writeFileSync(bare, formatTlogProof(rest));

      const full = await cli(['check-proof', withEntry, '--vkey', keys.verifierKey, '--json']);
      assert.equal(full.status, 0, full.stderr);
      assert.deepEqual(JSON.parse(full.stdout), { ok: true, reason: null, seq: 5, kind: 'e', pk: '5', origin: 'audit.example/proofs', size: 12, inclusionOnly: false });
      const foreign = await cli(['check-proof', withEntry, '--vkey', keys.verifierKey, '--origin', 'audit.example/other', '--json']);
      assert.equal(foreign.status, 1);
      assert.equal(errorCode(foreign.stdout), 'origin_mismatch');

      const noLeaf = await cli(['check-proof', bare, '--vkey', keys.verifierKey, '--json']);
      assert.equal(noLeaf.status, 2);
      assert.equal(errorCode(noLeaf.stdout), 'invalid_argument');
      const inclusion = await cli(['check-proof', bare, '--vkey', keys.verifierKey, '--leaf-hash', leaf.toString('hex')]);
      assert.equal(inclusion.status, 0, inclusion.stderr);
      assert.match(inclusion.stdout, /^ok \(inclusion only\): leaf [0-9a-f]{64} is at seq 5 in audit\.example\/proofs at size 12; the bundle carries no entry, so its content was not checked\n$/);
      const asJson = await cli(['check-proof', bare, '--vkey', keys.verifierKey, '--leaf-hash', leaf.toString('base64'), '--json']);
      assert.deepEqual(JSON.parse(asJson.stdout), { ok: true, reason: null, seq: 5, kind: null, pk: null, origin: 'audit.example/proofs', size: 12, inclusionOnly: true });
      const otherLeaf = Buffer.alloc(32, 1).toString('hex');
      assert.equal((await cli(['check-proof', bare, '--vkey', keys.verifierKey, '--leaf-hash', otherLeaf])).status, 1);
      assert.equal((await cli(['check-proof', withEntry, '--vkey', keys.verifierKey, '--leaf-hash', otherLeaf])).status, 1, 'the entry must hash to the given leaf');
      assert.equal((await cli(['check-proof', bare, '--vkey', keys.verifierKey, '--leaf-hash', 'abc'])).status, 2);
    });
  });
}

describe('our witness and the chain-hash line', () => {
  it('cosigns a ledger checkpoint carrying the line; the cosignature covers it and the stored note keeps it', async () => {
    const ledger = await seeded(await BACKENDS[0]!.freshUrl(), 5);
    try {
      const keys = generateSignerKey('audit.example/witnessed');
      const cp = await ledger.checkpoint(NoteSigner.fromKey(keys.signerKey));
      const cosigner = generateCosignerKey('witness.example/w1');
      const witness = new Witness({ signer: CosignatureSigner.fromKey(cosigner.signerKey), logs: [keys.verifierKey], statePath: join(tempDir(), 'w.db'), now: () => 1_704_164_645 });
      try {
        const res = witness.addCheckpoint(`old 0\n\n${cp.note}`);
        assert.equal(res.status, 200, res.body);
        const body = parseNote(cp.note).text;
        assert.match(body, /\nsealtrail-chain-hash [0-9a-f]{64}\n$/);
        assert.equal(verifyCosignature(body, res.body.trimEnd(), CosignatureVerifier.fromKey(cosigner.verifierKey)).timeSeconds, 1_704_164_645n);
        const latest = witness.latest('audit.example/witnessed')!;
        assert.deepEqual(openCheckpoint(latest, [CosignatureVerifier.fromKey(cosigner.verifierKey)]).checkpoint.chainHash, cp.chainHash);
      } finally {
        witness.close();
      }
    } finally {
      await ledger.close();
    }
  });
});
