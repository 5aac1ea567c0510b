import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { runCli } from '../../src/cli/program.js';
import { generateSignerKey, NoteSigner } from '../../src/core/note.js';
import { openLedger } from '../../src/ledger/ledger.js';
import { TOKEN_EVENT_KIND } from '../../src/server/api-tokens.js';
import { sqliteUrl } from '../helpers/databases.js';

const mainTs = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const tsxLoader = import.meta.resolve('tsx');

async function cli(args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const status = await runCli(args, { env: {}, stdout: { write: (t: string) => (stdout += t) }, stderr: { write: (t: string) => (stderr += t) } });
  return { status, stdout, stderr };
}

describe('sealtrail token and sealtrail serve', () => {
  it('creates a token printed once, lists it without the secret, revokes it; both chained', async () => {
    const db = sqliteUrl();
    assert.equal((await cli(['init', '--db', db])).status, 0);
    const created = await cli(['token', 'create', '--role', 'writer', '--name', 'ci runner', '--db', db, '--json']);
    assert.equal(created.status, 0, created.stderr);
    const token = JSON.parse(created.stdout) as { id: string; token: string; role: string };
    assert.match(token.token, /^st_[A-Za-z0-9_-]{43}$/);
    const listed = await cli(['token', 'list', '--db', db]);
    assert.match(listed.stdout, new RegExp(`${token.id}\\s+writer .* active\\s+ci runner`));
    assert.ok(!listed.stdout.includes(token.token), 'the secret is never shown again');
    assert.equal((await cli(['token', 'revoke', token.id, '--db', db])).status, 0);
    assert.match((await cli(['token', 'list', '--db', db])).stdout, /revoked 20/);
    const bad = await cli(['token', 'create', '--role', 'root', '--name', 'x', '--db', db]);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /\[invalid_argument\]/);

    const ledger = await openLedger({ url: db, migrate: false });
    try {
      const events = [];
      for await (const e of ledger.entries()) if (e.kind === TOKEN_EVENT_KIND) events.push(JSON.parse(e.payload!) as Record<string, unknown>);
      assert.deepEqual(events.map((e) => e['action']), ['create', 'revoke']);
      assert.equal(typeof events[0]!['token_sha256'], 'string');
      assert.ok(!JSON.stringify(events).includes(token.token), 'only the digest is chained');
    } finally {
      await ledger.close();
    }
  });

  it('serves until SIGTERM, finishing the request in flight, and logs no token or payload', async () => {
    const db = sqliteUrl();
    assert.equal((await cli(['init', '--db', db])).status, 0);
    const { token } = JSON.parse((await cli(['token', 'create', '--role', 'writer', '--name', 'w', '--db', db, '--json'])).stdout) as { token: string };
    // debug: a log line as each request arrives tells the test when the batch is in flight.
    const config = join(dirname(db), 'sealtrail.config.json');
    writeFileSync(config, JSON.stringify({ server: { logLevel: 'debug' } }));
    const child = spawn(process.execPath, ['--import', tsxLoader, mainTs, 'serve', '--db', db, '--port', '0', '--config', config], { env: { PATH: process.env['PATH'] ?? '' }, stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const logLines: string[] = [];
    const stdout = createInterface({ input: child.stdout });
    const stderr = createInterface({ input: child.stderr });
    const address = await new Promise<string>((resolve, reject) => {
      stderr.on('line', (line) => {
        const m = /serving (http:\/\/\S+)/.exec(line);
        if (m) resolve(m[1]!);
      });
      child.on('exit', () => reject(new Error('serve exited before listening')));
    });
    const batchSeen = new Promise<void>((resolve) => {
      stdout.on('line', (line) => {
        logLines.push(line);
        if (line.includes('incoming request') && line.includes('/api/events/batch')) resolve();
      });
    });
    const body = Array.from({ length: 3000 }, (_, i) => JSON.stringify({ kind: 'inflight', pk: String(i), payload: { secret: 'payload-secret-value', i } })).join('\n');
    const pending = fetch(`${address}/api/events/batch`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-ndjson' }, body });
    await batchSeen;
    child.kill('SIGTERM');
    const res = await pending;
    assert.equal(res.status, 201, 'the request in flight was answered');
    assert.equal(((await res.json()) as { entries: unknown[] }).entries.length, 3000);
    assert.equal(await exited, 0, 'a clean exit after shutdown');
    const logs = logLines.join('\n');
    assert.ok(logs.includes('"url":"/api/events/batch"'), 'requests are logged as JSON');
    assert.ok(!logs.includes(token) && !logs.includes('payload-secret-value'), 'no token and no payload in the logs');
    const ledger = await openLedger({ url: db, migrate: false });
    try {
      assert.equal((await ledger.head()).size, 3001);
    } finally {
      await ledger.close();
    }
  });

  it('serves the /log/ reads without a token when the config sets server.publicLog', async () => {
    const db = sqliteUrl();
    assert.equal((await cli(['init', '--db', db])).status, 0);
    const ledger = await openLedger({ url: db, migrate: false });
    try {
      await ledger.append('public', 'one', { n: 1 });
      await ledger.checkpoint(NoteSigner.fromKey(generateSignerKey('example.com/public').signerKey));
    } finally {
      await ledger.close();
    }
    const config = join(dirname(db), 'sealtrail.config.json');
    writeFileSync(config, JSON.stringify({ server: { publicLog: true } }));
    const child = spawn(process.execPath, ['--import', tsxLoader, mainTs, 'serve', '--db', db, '--port', '0', '--config', config], { env: { PATH: process.env['PATH'] ?? '' }, stdio: ['ignore', 'ignore', 'pipe'] });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const address = await new Promise<string>((resolve, reject) => {
        createInterface({ input: child.stderr }).on('line', (line) => {
          const m = /serving (http:\/\/\S+)/.exec(line);
          if (m) resolve(m[1]!);
        });
        child.on('exit', () => reject(new Error('serve exited before listening')));
      });
      const checkpoint = await fetch(`${address}/log/checkpoint`);
      assert.equal(checkpoint.status, 200);
      assert.match(await checkpoint.text(), /^example\.com\/public\n1\n/);
      assert.equal((await fetch(`${address}/log/tile/entries/000.p/1`)).status, 200);
      assert.equal((await fetch(`${address}/api/head`)).status, 401, 'only /log/ is public');
    } finally {
      child.kill('SIGTERM');
      assert.equal(await exited, 0);
    }
  });
});
