/**
 * `sealtrail demo`: the README's main command. Builds a fresh embedded ledger of realistic agent
 * activity, signs a checkpoint, verifies, proves one entry offline, then tampers with COPIES of
 * the database the way a malicious DBA would and shows each tampering caught.
 */
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { generateSignerKey, NoteSigner, NoteVerifier } from '../../core/note.js';
import { openLedger, type Ledger } from '../../ledger/ledger.js';
import { tamper, type Tampering } from '../../ledger/tamper-simulator.js';
import { parseTrustedState } from '../../ledger/trusted-state.js';
import type { Divergence } from '../../ledger/verifier.js';
import { SealtrailError } from '../../core/errors.js';
import type { ExitStatus, WithContext } from '../program.js';
import { checkProofBundle, formatProofBundle } from '../../ledger/proof-bundle.js';

const ORIGIN = 'demo.sealtrail.local/ledger';

/** The file the demo writes first into its directory: only a directory holding it is ever replaced. */
export const DEMO_MARKER = '.sealtrail-demo';

/**
 * Makes `dir` an empty demo directory. A missing or empty directory is used; one holding the demo's
 * marker file (made by an earlier run) is replaced; anything else is refused, never deleted.
 */
export function prepareDemoDir(dir: string): void {
  if (existsSync(dir)) {
    if (!statSync(dir).isDirectory()) {
      throw new SealtrailError('invalid_argument', `--dir ${dir} exists and is not a directory; choose another --dir`, { details: { path: dir } });
    }
    const entries = readdirSync(dir);
    if (entries.length > 0) {
      if (!entries.includes(DEMO_MARKER)) {
        throw new SealtrailError(
          'invalid_argument',
          `--dir ${dir} is not empty and was not made by sealtrail demo; refusing to replace it (choose a new or empty --dir)`,
          { details: { path: dir } },
        );
      }
      rmSync(dir, { recursive: true, force: true });
    }
  }
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, DEMO_MARKER), 'made by `sealtrail demo`; the next demo run with this --dir replaces this directory\n');
}

interface DemoTamper {
  name: string;
  description: string;
  tampering: Tampering;
}

export function register(program: Command, withContext: WithContext): void {
  program
    .command('demo')
    .description('build a demo ledger, sign a checkpoint, verify, then show tampered copies being caught')
    .option('--dir <dir>', 'where the demo files go: a new or empty directory, or one an earlier demo made (replaced)', 'sealtrail-demo')
    .option('--events <n>', 'how many audit events to append', '5000')
    .action(
      withContext<{ dir: string; events: string }>(async (ctx, { opts }): Promise<ExitStatus> => {
        const dir = resolve(opts.dir);
        const count = Number(opts.events);
        if (!/^\d+$/.test(opts.events) || !Number.isSafeInteger(count) || count < 20) {
          throw new SealtrailError('invalid_argument', `--events must be an integer ≥ 20, got ${JSON.stringify(opts.events)}`);
        }
        prepareDemoDir(dir);
        const say = (line: string) => {
          if (!ctx.json) process.stdout.write(`${line}\n`);
        };
        const dbPath = join(dir, 'ledger.db');
        const keys = generateSignerKey(ORIGIN);
        const keyFile = join(dir, 'signing.key');
        writeFileSync(keyFile, `${keys.signerKey}\n`, { mode: 0o600 });
        chmodSync(keyFile, 0o600);
        writeFileSync(join(dir, 'verifier.vkey'), `${keys.verifierKey}\n`);

        say(`sealtrail demo — files in ${dir}\n`);
        const started = process.hrtime.bigint();
        let ledger = await openLedger({ url: dbPath });
        await appendActivity(ledger, count);
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        say(`1. appended ${count} audit events of simulated agent activity (task starts, repo reads and writes,`);
        say(`   commits, tool calls, approvals, deploys) to ${dbPath} in ${seconds.toFixed(2)} s, durable, group-committed`);

        const checkpoint = await ledger.checkpoint(NoteSigner.fromKey(keys.signerKey));
        const checkpointFile = join(dir, 'checkpoint.txt');
        writeFileSync(checkpointFile, checkpoint.note);
        say(`2. signed a C2SP checkpoint of the head (size ${checkpoint.size}) with a fresh Ed25519 key:`);
        say(`   ${checkpointFile}  (verifier key in ${join(dir, 'verifier.vkey')}, signing key in ${keyFile}, mode 0600)`);

        const report = await ledger.verify();
        say(`3. verified every entry client-side: ${report.ok ? 'ok' : 'FAILED'} — ${report.checked} event hashes, chain links and the Merkle root re-derived`);

        const seq = Math.ceil(count / 3);
        const proof = await ledger.proveInclusion(seq, checkpoint.size);
        const entry = (await ledger.entry(seq))!;
        const bundle = formatProofBundle(entry, proof, checkpoint.note);
        const proofFile = join(dir, `proof-${seq}.txt`);
        writeFileSync(proofFile, bundle);
        const offline = checkProofBundle(bundle, [keys.verifierKey]);
        say(`4. proved entry ${seq} (${entry.kind}/${entry.pk}) is in the signed tree with ${proof.proof.length} hashes: ${proofFile}`);
        say(`   checked offline against the verifier key: ${offline.ok ? 'ok' : `FAILED (${offline.reason})`}`);
        await ledger.close();

        const trusted = parseTrustedState(checkpoint.note, [NoteVerifier.fromKey(keys.verifierKey)]);
        const victim = Math.ceil(count / 2);
        const tamperings: DemoTamper[] = [
          { name: 'edit', description: `edit the payload of entry ${victim}`, tampering: { type: 'edit_payload', seq: victim, payload: { action: 'deploy', approved_by: 'nobody' } } },
          { name: 'delete', description: `delete entry ${victim}`, tampering: { type: 'delete_row', seq: victim } },
          { name: 'truncate', description: `cut off the last 10 entries and rewind the head`, tampering: { type: 'truncate_tail', keep: count - 10, rewindHead: true } },
          {
            name: 'rechain',
            description: `edit entry ${victim} and recompute every later hash, the Merkle tree and the head`,
            tampering: { type: 'rechain', seq: victim, payload: { action: 'deploy', approved_by: 'nobody' } },
          },
        ];
        say(`5. tampered with copies of the database, as a DBA with full write access could, and verified each`);
        say(`   against the signed checkpoint (the original is untouched):`);
        const results: Array<{ tampering: string; file: string; caught: boolean; table_only: Divergence | null; divergence: Divergence | null }> = [];
        for (const t of tamperings) {
          const copy = join(dir, `tampered-${t.name}.db`);
          copyFileSync(dbPath, copy);
          ledger = await openLedger({ url: copy });
          try {
            await tamper(ledger.store, t.tampering);
            const tableOnly = await ledger.verify();
            const against = await ledger.verify({ trusted, from: 1 });
            const d = against.divergence;
            results.push({ tampering: t.name, file: copy, caught: !against.ok, table_only: tableOnly.divergence, divergence: d });
            say(`   - ${t.description}:`);
            say(`       ${d ? `caught at seq ${d.seq}: ${d.reason}` : 'NOT CAUGHT'}${tableOnly.ok ? '  (invisible to a table-only check: only the checkpoint kept outside reveals it)' : ''}`);
          } finally {
            await ledger.close();
          }
        }
        const allCaught = results.every((r) => r.caught) && report.ok && offline.ok;
        say(`\n${allCaught ? 'Every tampering was caught.' : 'SOMETHING WAS NOT CAUGHT.'} Try it yourself:`);
        say(`  npx sealtrail verify --db ${dbPath}`);
        say(`  npx sealtrail verify --db ${join(dir, 'tampered-rechain.db')} --trusted ${checkpointFile} --vkey "$(cat ${join(dir, 'verifier.vkey')})" --from 1`);
        say(`  npx sealtrail check-proof ${proofFile} --vkey "$(cat ${join(dir, 'verifier.vkey')})"`);
        if (ctx.json) {
          ctx.out.result('', {
            ok: allCaught,
            dir,
            db: dbPath,
            events: count,
            checkpoint: checkpointFile,
            verified: { ok: report.ok, checked: report.checked },
            proof: { seq, file: proofFile, ok: offline.ok },
            tamperings: results,
          });
        }
        return allCaught ? 0 : 1;
      }),
    );
}

const AGENTS = ['agent-ci', 'agent-refactor', 'agent-docs', 'agent-release'];
const REPOS = ['payments-api', 'web-frontend', 'infra', 'data-pipeline'];

/** A deterministic, realistic stream of what automated tasks did, appended concurrently. */
async function appendActivity(ledger: Ledger, count: number): Promise<void> {
  const events = Array.from({ length: count }, (_, i) => {
    const task = `task-${Math.floor(i / 10) + 1}`;
    const step = i % 10;
    const agent = AGENTS[Math.floor(i / 10) % AGENTS.length]!;
    const repo = REPOS[Math.floor(i / 7) % REPOS.length]!;
    const at = new Date(Date.UTC(2026, 10, 24, 9, 0, 0) + i * 1500).toISOString();
    const kinds = ['task_start', 'repo_read', 'tool_call', 'repo_write', 'repo_write', 'repo_commit', 'tool_call', 'approval', 'deploy', 'task_complete'] as const;
    const kind = kinds[step]!;
    const payload: Record<string, unknown> = { task, agent, at };
    if (kind !== 'task_start' && kind !== 'task_complete') payload.repo = repo;
    if (kind === 'repo_write') payload.files = [`src/module-${i % 13}.ts`, `test/module-${i % 13}.test.ts`];
    if (kind === 'repo_commit') Object.assign(payload, { commit: (i * 2654435761).toString(16).padStart(8, '0').slice(0, 8), lines_added: i % 97, lines_deleted: i % 31 });
    if (kind === 'tool_call') payload.tool = step === 2 ? 'run_tests' : 'lint';
    if (kind === 'approval') payload.approved_by = 'alice@example.com';
    if (kind === 'deploy') payload.environment = i % 20 === 8 ? 'production' : 'staging';
    if (kind === 'task_complete') payload.status = i % 70 === 9 ? 'failed' : 'success';
    return { kind, pk: `${task}/${step}`, payload };
  });
  // Many concurrent writers, as in a real task runner: group commit shares the fsyncs.
  const lanes = 16;
  await Promise.all(
    Array.from({ length: lanes }, async (_, lane) => {
      for (let i = lane * 50; i < events.length; i += lanes * 50) await ledger.appendBatch(events.slice(i, i + 50));
    }),
  );
}
