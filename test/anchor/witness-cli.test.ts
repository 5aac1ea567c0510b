/**
 * `sealtrail witness serve` refuses what it cannot run on with a coded error, never `internal`: a
 * port another process listens on, and a state file that is not a witness state (left untouched).
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { writeKeyFile } from '../../src/anchor/keys.js';
import { generateCosignerKey } from '../../src/core/cosignature.js';
import { generateSignerKey } from '../../src/core/note.js';
import { isSealtrailError } from '../../src/core/errors.js';
import { Witness, startWitnessServer } from '../../src/anchor/witness-server.js';
import { CosignatureSigner } from '../../src/core/cosignature.js';
import { tempDir } from '../helpers/databases.js';
import { errorCode, sealtrail } from '../helpers/cli.js';

const dir = tempDir('sealtrail-witness-cli-');
const keyFile = join(dir, 'witness.key');
const cosigner = generateCosignerKey('witness.example/w1');
writeKeyFile(keyFile, cosigner.signerKey);
const logVkey = generateSignerKey('example.com/audit').verifierKey;

const servers: Server[] = [];
after(() => {
  for (const s of servers) s.close();
});

async function occupiedPort(): Promise<number> {
  const server = createServer();
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return (server.address() as AddressInfo).port;
}

const serve = (state: string, port: number | string, host = '127.0.0.1') =>
  sealtrail(['witness', 'serve', '--key-file', keyFile, '--log', logVkey, '--state', state, '--host', host, '--port', String(port), '--json'], { cwd: dir });

describe('witness serve refuses what it cannot run on', () => {
  it('a port another process listens on is address_in_use naming the port, and no state file is left behind', async () => {
    const port = await occupiedPort();
    const state = join(dir, 'used-port.db');
    const r = await serve(state, port);
    assert.equal(r.status, 2);
    assert.equal(errorCode(r.stdout), 'address_in_use');
    assert.match(r.stderr, new RegExp(`127\\.0\\.0\\.1:${port}: another process already listens there \\[address_in_use\\]`));
    assert.equal(existsSync(state), false);
  });

  it('a host that is not an address of this machine is invalid_argument', async () => {
    const r = await serve(join(dir, 'bad-host.db'), 0, '192.0.2.1');
    assert.equal(r.status, 2);
    assert.equal(errorCode(r.stdout), 'invalid_argument');
    assert.match(r.stderr, /192\.0\.2\.1 is not an address of this machine/);
  });

  it('a garbage state file is witness_state_invalid (not_a_database) and is left as it was', async () => {
    const state = join(dir, 'garbage.db');
    const garbage = Buffer.concat([Buffer.from('this is not sqlite\n'), Buffer.alloc(4096, 0xa5)]);
    writeFileSync(state, garbage);
    const r = await serve(state, 0);
    assert.equal(r.status, 2);
    assert.equal(errorCode(r.stdout), 'witness_state_invalid');
    assert.match(r.stderr, /garbage\.db is not an SQLite database/);
    assert.deepEqual(readFileSync(state), garbage);
  });

  it('another program’s database with a different witness_state table is witness_state_invalid (wrong_schema), in the library too', () => {
    const state = join(dir, 'other.db');
    const db = new Database(state);
    db.exec('CREATE TABLE witness_state (id INTEGER PRIMARY KEY, value TEXT)');
    db.close();
    assert.throws(
      () => new Witness({ signer: CosignatureSigner.fromKey(cosigner.signerKey), logs: [logVkey], statePath: state }),
      (err) => isSealtrailError(err, 'witness_state_invalid') && (err.details as { reason: string }).reason === 'wrong_schema',
    );
  });

  it('a state file in a directory that does not exist is witness_state_invalid (cannot_open)', () => {
    assert.throws(
      () => new Witness({ signer: CosignatureSigner.fromKey(cosigner.signerKey), logs: [logVkey], statePath: join(dir, 'no-such-dir', 'w.db') }),
      (err) => isSealtrailError(err, 'witness_state_invalid') && (err.details as { reason: string }).reason === 'cannot_open',
    );
  });

  it('startWitnessServer on a used port rejects with address_in_use', async () => {
    const port = await occupiedPort();
    const w = new Witness({ signer: CosignatureSigner.fromKey(cosigner.signerKey), logs: [logVkey], statePath: join(dir, 'lib.db') });
    try {
      await assert.rejects(startWitnessServer(w, { port }), (err) => isSealtrailError(err, 'address_in_use'));
    } finally {
      w.close();
    }
  });
});
