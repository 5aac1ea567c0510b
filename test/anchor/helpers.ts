/** Shared fixtures for the anchoring tests: seeded ledgers, keys, a recording webhook, a git repo, a witness. */
import { execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { generateCosignerKey, CosignatureSigner } from '../../src/core/cosignature.js';
import { generateSignerKey, NoteSigner } from '../../src/core/note.js';
import type { Ledger } from '../../src/ledger/ledger.js';
import { Witness, startWitnessServer, type RunningWitness } from '../../src/anchor/witness-server.js';
import { tempDir } from '../helpers/databases.js';
import { appendSeeded, seededLedger as seedLedger } from '../helpers/ledgers.js';

export const FAST_RETRY = { attempts: 2, baseDelayMs: 10, timeoutMs: 5_000 };

export interface LogKeys {
  origin: string;
  signerKey: string;
  verifierKey: string;
  signer: NoteSigner;
}

export function logKeys(origin = 'example.com/audit'): LogKeys {
  const { signerKey, verifierKey } = generateSignerKey(origin);
  return { origin, signerKey, verifierKey, signer: NoteSigner.fromKey(signerKey) };
}

/** Anchoring's events: logins and deploys by three users, pks `<prefix><n>`. */
const anchorEvent = (prefix: string) => (i: number) => ({ kind: i % 2 ? 'deploy' : 'login', pk: `${prefix}${i + 1}`, payload: { n: i + 1, user: `u${i % 3}` } });

export function seededLedger(url: string, count: number, prefix = 'e'): Promise<Ledger> {
  return seedLedger(url, count, anchorEvent(prefix));
}

export function appendEvents(ledger: Ledger, count: number, prefix: string): Promise<void> {
  return appendSeeded(ledger, count, anchorEvent(prefix));
}

export function gitRepo(): string {
  const dir = join(tempDir('sealtrail-git-'), 'repo');
  execFileSync('git', ['init', '-q', dir]);
  execFileSync('git', ['-C', dir, 'config', 'user.email', 'test@example.com']);
  execFileSync('git', ['-C', dir, 'config', 'user.name', 'test']);
  return dir;
}

export interface Recorder {
  url: string;
  posts: unknown[];
  /** Make the next `n` POSTs fail with 503. */
  failNext(n: number): void;
  close(): Promise<void>;
}

/** An HTTP endpoint that records JSON POSTs and serves them back on GET (the webhook sink's read-back). */
export async function startRecorder(): Promise<Recorder> {
  const posts: unknown[] = [];
  let failures = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method === 'POST') {
        if (failures > 0) {
          failures--;
          res.writeHead(503).end();
          return;
        }
        posts.push(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        res.writeHead(204).end();
      } else {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(posts));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    posts,
    failNext: (n) => (failures = n),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

export interface TestWitness {
  witness: Witness;
  running: RunningWitness;
  url: string;
  verifierKey: string;
  /** The `--witness-vkey` value binding verifierKey to this witness's URL. */
  witnessKey: string;
  statePath: string;
  close(): Promise<void>;
}

export async function startTestWitness(logVkeys: string[], statePath = join(tempDir('sealtrail-witness-'), 'witness.db'), name = 'witness.example/w1'): Promise<TestWitness> {
  const { signerKey, verifierKey } = generateCosignerKey(name);
  const witness = new Witness({ signer: CosignatureSigner.fromKey(signerKey), logs: logVkeys, statePath });
  const running = await startWitnessServer(witness);
  return {
    witness,
    running,
    url: running.url,
    verifierKey,
    witnessKey: `${verifierKey}@${running.url}`,
    statePath,
    close: async () => {
      await running.close();
      witness.close();
    },
  };
}
