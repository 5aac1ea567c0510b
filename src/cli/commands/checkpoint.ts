/** `sealtrail checkpoint`: sign the current head, record it, publish it (and anything missed) to every sink. */
import type { Command } from 'commander';
import { loadSigners } from '../../anchor/keys.js';
import { issueCheckpoint } from '../../anchor/publish.js';
import { ERROR_CATALOGUE, type ErrorCode } from '../../core/errors.js';
import type { WithContext } from '../program.js';
import { withLedger } from './ledger.js';

export function register(program: Command, withContext: WithContext): void {
  program
    .command('checkpoint')
    .description('sign a C2SP checkpoint of the current head, print it, and publish it to the sinks')
    .option('--key-file <path...>', 'signing key file(s); several during a key rotation (default: config keyFile, else env SEALTRAIL_SIGNING_KEY)')
    .option('--sink <spec...>', 'file:<path>, git:<repo-dir>, witness:<url>, webhook:<url>, tiles:file:<dir> or tiles:s3://<bucket>/<prefix> (default: config sinks)')
    .option('--origin <origin>', "checkpoint origin (default: the first key's name)")
    .option('--witness-vkey <vkey...>', 'cosigner key of a witness sink: <vkey> (named after the URL without scheme) or <vkey>@<url> (default: config witnessVkeys)')
    .action(
      withContext<{ keyFile?: string[]; sink?: string[]; origin?: string }>(async (ctx, { opts }) => {
        const keyFiles = opts.keyFile ?? (ctx.config.keyFile ? [ctx.config.keyFile] : []);
        const signers = loadSigners({ keyFiles, env: process.env });
        const sinks = opts.sink ?? ctx.config.sinks;
        return withLedger(ctx, async (ledger) => {
          const { checkpoint, publish } = await issueCheckpoint(ledger, signers, {
            sinks,
            vkeys: ctx.config.vkeys,
            witnessKeys: ctx.config.witnessVkeys,
            ...(opts.origin ? { origin: opts.origin } : {}),
          });
          for (const r of publish.results) {
            if (r.status === 'failed') ctx.out.note(`sink ${r.sink}: not published: ${r.error?.message ?? 'failed'} [${r.error?.code ?? 'sink_failed'}]`);
            if (r.status === 'conflict') ctx.out.note(`sink ${r.sink}: REFUSED: ${r.conflict?.message ?? ''} [witness_conflict]`);
            if (r.status === 'published') ctx.out.note(`sink ${r.sink}: published size ${r.published.join(', ')}`);
          }
          ctx.out.result(checkpoint.note, {
            id: checkpoint.id,
            origin: checkpoint.origin,
            size: checkpoint.size,
            root: checkpoint.root.toString('base64'),
            chain_hash: checkpoint.chainHash.toString('hex'),
            note: checkpoint.note,
            sinks: publish.results,
            alerts: publish.alerts.map((a) => ({ kind: a.kind, severity: a.severity, seq: a.seq, reason: a.reason })),
          });
          // A refusal, a forged cosignature or an edited checkpoint row is an integrity finding, not an outage.
          const integrity = publish.results.some(
            (r) => r.status === 'conflict' || (r.status === 'failed' && r.error !== undefined && isErrorCode(r.error.code) && ERROR_CATALOGUE[r.error.code].exit === 1),
          );
          if (integrity) return 1;
          return publish.ok ? 0 : 2;
        });
      }),
    );
}

function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERROR_CATALOGUE, code);
}
