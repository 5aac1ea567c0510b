/**
 * Sinks written by several processes at once (the monitor and a cron `checkpoint`): publishers in
 * separate processes take turns on the file and git sinks, so every checkpoint lands once, in
 * order, every hash link holds and verification finds nothing. And a push from the git sink hands
 * its hooks no signing key.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadSigners, writeKeyFile } from '../../src/anchor/keys.js';
import { issueCheckpoint, publishPending } from '../../src/anchor/publish.js';
import { GIT_SINK_FILE } from '../../src/anchor/sinks/git-sink.js';
import { parseLog } from '../../src/anchor/sinks/jsonl-log.js';
import { verifyAgainstSinks } from '../../src/anchor/verify-sinks.js';
import { openLedger } from '../../src/ledger/ledger.js';
import { BACKENDS, tempDir } from '../helpers/databases.js';
import { FAST_RETRY, gitRepo, logKeys, seededLedger } from './helpers.js';

const PUBLISHER = fileURLToPath(new URL('./fixtures/publisher.ts', import.meta.url));

function publisher(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', PUBLISHER, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`publisher failed (${code}): ${err}`))));
  });
}

/** A git sink repository with a bare remote it pushes to. */
function gitSinkWithRemote(): { repo: string; remote: string } {
  const repo = gitRepo();
  const remote = join(tempDir('sealtrail-remote-'), 'remote.git');
  execFileSync('git', ['init', '-q', '--bare', remote]);
  execFileSync('git', ['-C', repo, 'remote', 'add', 'origin', remote]);
  return { repo, remote };
}

for (const backend of BACKENDS) {
  describe(`publishers in separate processes on ${backend.name}`, () => {
    it('keep every file and git sink record once, in order, with every link intact', async () => {
      const url = await backend.freshUrl();
      const keys = logKeys();
      const keyFile = join(tempDir(), 'log.key');
      writeKeyFile(keyFile, keys.signerKey);
      const { repo } = gitSinkWithRemote();
      const sinks = [`file:${join(tempDir(), 'checkpoints.jsonl')}`, `git:${repo}`];
      const ledger = await seededLedger(url, 3);
      try {
        // The anchoring tables exist before the publishers race.
        assert.ok((await issueCheckpoint(ledger, keys.signer, { sinks, retry: FAST_RETRY })).publish.ok);
        await Promise.all(['p', 'q', 'r'].map((prefix) => publisher([url, keyFile, prefix, '4', ...sinks])));
        assert.ok((await publishPending(ledger, sinks, { retry: FAST_RETRY })).ok);

        const issued = (await ledger.checkpoints()).map((c) => c.note);
        assert.equal(issued.length, 1 + 3 * 4);
        // Two publishers that sign the same head make the same note (Ed25519 is deterministic); a sink keeps it once.
        const notes = [...new Set(issued)];
        const fileLog = parseLog(readFileSync(sinks[0]!.slice('file:'.length), 'utf8'));
        const gitLog = parseLog(execFileSync('git', ['-C', repo, 'show', `HEAD:${GIT_SINK_FILE}`], { encoding: 'utf8' }));
        for (const [name, log] of [['file', fileLog], ['git', gitLog]] as const) {
          assert.deepEqual(log.problems, [], `${name} sink links`);
          assert.deepEqual(
            log.records.map((r) => r.note).sort(),
            [...notes].sort(),
            `${name} sink holds every checkpoint exactly once`,
          );
          const sizes = log.records.map((r) => r.seq);
          assert.deepEqual(sizes, [...sizes].sort((a, b) => a - b), `${name} sink sizes never go backwards`);
        }
        const report = await verifyAgainstSinks(ledger, { sinks, vkeys: [keys.verifierKey], retry: FAST_RETRY });
        assert.deepEqual(report.findings, []);
      } finally {
        await ledger.close();
      }
    });
  });
}

describe('the git sink push', () => {
  it('runs hooks and the receiving side without SEALTRAIL_* or any key material in their environment', async () => {
    const keys = logKeys();
    const seed = keys.signerKey.split('+').slice(4).join('+');
    const { repo, remote } = gitSinkWithRemote();
    const dumps = tempDir('sealtrail-dumps-');
    const hook = (path: string, dump: string) => {
      writeFileSync(path, `#!/bin/sh\nenv > '${dump}'\nexit 0\n`);
      chmodSync(path, 0o755);
    };
    hook(join(repo, '.git', 'hooks', 'pre-push'), join(dumps, 'pre-push.env'));
    hook(join(remote, 'hooks', 'pre-receive'), join(dumps, 'pre-receive.env'));
    hook(join(remote, 'hooks', 'post-receive'), join(dumps, 'post-receive.env'));

    const saved = { ...process.env };
    const ledger = await openLedger({ url: join(tempDir(), 'ledger.db') });
    try {
      process.env['SEALTRAIL_SIGNING_KEY'] = keys.signerKey;
      const signers = loadSigners({ env: process.env });
      assert.equal(process.env['SEALTRAIL_SIGNING_KEY'], undefined, 'the key is gone from the environment once loaded');
      assert.equal(loadSigners({ env: process.env })[0]!.name, keys.origin, 'and still loads again in this process');
      // A library caller that never loads it still hands it to no child, nor other SEALTRAIL_* values.
      process.env['SEALTRAIL_SIGNING_KEY'] = keys.signerKey;
      process.env['SEALTRAIL_DB'] = 'postgres://sealtrail:hunter2@db.example/prod';
      await ledger.append('login', 'u1', { user: 'u1' });
      const { publish } = await issueCheckpoint(ledger, signers, { sinks: [`git:${repo}`], retry: FAST_RETRY });
      assert.ok(publish.ok, JSON.stringify(publish.results));
    } finally {
      for (const name of Object.keys(process.env)) if (!(name in saved)) delete process.env[name];
      Object.assign(process.env, saved);
      await ledger.close();
    }
    assert.equal(execFileSync('git', ['-C', remote, 'log', '--oneline'], { encoding: 'utf8' }).split('\n').filter(Boolean).length, 1, 'pushed');
    for (const name of ['pre-push.env', 'pre-receive.env', 'post-receive.env']) {
      const path = join(dumps, name);
      assert.ok(existsSync(path), `${name} ran`);
      const env = readFileSync(path, 'utf8');
      assert.doesNotMatch(env, /SEALTRAIL_/, name);
      assert.equal(env.includes(keys.signerKey) || env.includes(seed) || env.includes('hunter2'), false, `${name} saw no secret`);
    }
  });
});
