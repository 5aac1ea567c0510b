/** `sealtrail keygen`: a new Ed25519 signing key (or witness cosigner key) in a 0600 file; prints the verifier key. */
import type { Command } from 'commander';
import { writeKeyFile } from '../../anchor/keys.js';
import { generateCosignerKey } from '../../core/cosignature.js';
import { generateSignerKey } from '../../core/note.js';
import type { ExitStatus, WithContext } from '../program.js';

export function register(program: Command, withContext: WithContext): void {
  program
    .command('keygen')
    .description('create a signing key file (mode 0600) and print its C2SP verifier key as the last line')
    .requiredOption('--origin <origin>', 'key name: the log origin (e.g. example.com/audit), or the witness name with --witness')
    .requiredOption('--key-file <path>', 'where to write the key; an existing file is never overwritten')
    .option('--witness', 'create a witness cosigner key (tlog-cosignature) instead of a log signing key')
    .action(
      withContext<{ origin: string; keyFile: string; witness?: boolean }>(async (ctx, { opts }): Promise<ExitStatus> => {
        const { signerKey, verifierKey } = opts.witness ? generateCosignerKey(opts.origin) : generateSignerKey(opts.origin);
        writeKeyFile(opts.keyFile, signerKey);
        ctx.out.result(`wrote ${opts.witness ? 'witness cosigner' : 'signing'} key ${opts.keyFile} (mode 0600); verifier key:\n${verifierKey}`, {
          key_file: opts.keyFile,
          type: opts.witness ? 'cosignature' : 'ed25519',
          verifier_key: verifierKey,
        });
        return 0;
      }),
    );
}
