/** `sealtrail token create|list|revoke`: bearer tokens for the HTTP API. */
import type { Command } from 'commander';
import { createToken, listTokens, revokeToken } from '../../server/api-tokens.js';
import type { ExitStatus, WithContext } from '../program.js';
import { withLedger } from './ledger.js';

export function register(program: Command, withContext: WithContext): void {
  const token = program.command('token').description('bearer tokens for `sealtrail serve` (reader, writer, admin); only their SHA-256 is stored');

  token
    .command('create')
    .description('create a token and print it once (it cannot be shown again); chained as a ledger event')
    .requiredOption('--role <role>', 'reader (every GET), writer (+ recording POSTs) or admin (+ verify, scan)')
    .requiredOption('--name <label>', 'who or what the token is for')
    .action(
      withContext<{ role: string; name: string }>(async (ctx, { opts }) =>
        withLedger(ctx, async (ledger): Promise<ExitStatus> => {
          const t = await createToken(ledger, { role: opts.role, name: opts.name });
          ctx.out.note(`token ${t.id} (${t.role}, ${t.name}): store it now, it is not shown again`);
          ctx.out.result(t.token, { id: t.id, name: t.name, role: t.role, created_at: t.createdAt, token: t.token });
          return 0;
        }),
      ),
    );

  token
    .command('list')
    .description('every token: id, role, name, created, revoked (never the secret)')
    .action(
      withContext(async (ctx) =>
        withLedger(ctx, async (ledger): Promise<ExitStatus> => {
          const tokens = await listTokens(ledger);
          ctx.out.result(
            () => (tokens.length === 0 ? 'no tokens' : tokens.map((t) => `${t.id}  ${t.role.padEnd(6)}  ${t.createdAt}  ${t.revokedAt ? `revoked ${t.revokedAt}` : 'active'}  ${t.name}`).join('\n')),
            { tokens: tokens.map((t) => ({ id: t.id, name: t.name, role: t.role, created_at: t.createdAt, revoked_at: t.revokedAt })) },
          );
          return 0;
        }),
      ),
    );

  token
    .command('revoke <id>')
    .description('revoke a token: servers refuse it (401) within a second; chained as a ledger event')
    .action(
      withContext(async (ctx, { args }) =>
        withLedger(ctx, async (ledger): Promise<ExitStatus> => {
          const t = await revokeToken(ledger, args[0]);
          ctx.out.result(`revoked ${t.id} (${t.name})`, { id: t.id, revoked_at: t.revokedAt });
          return 0;
        }),
      ),
    );
}
