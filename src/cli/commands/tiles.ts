/** `sealtrail tiles export <dir>`: the ledger as static C2SP tlog-tiles files. */
import type { Command } from 'commander';
import { exportTiles } from '../../anchor/tiles/export-tiles.js';
import type { ExitStatus, WithContext } from '../program.js';
import { withLedger } from './ledger.js';

export function register(program: Command, withContext: WithContext): void {
  const tiles = program.command('tiles').description('the ledger as static C2SP tlog-tiles files (c2sp.org/tlog-tiles)');
  tiles
    .command('export')
    .description('write checkpoint, tile/… and tile/entries/… for the newest checkpoint into <dir>; re-running writes only what changed')
    .argument('<dir>', 'directory to write (created when missing)')
    .option('--vkey <vkey...>', 'trusted verifier keys; the checkpoint is exported only when it verifies (default: config vkeys)')
    .action(
      withContext<{ vkey?: string[] }>(async (ctx, { args, opts }) =>
        withLedger(ctx, async (ledger): Promise<ExitStatus> => {
          const result = await exportTiles(ledger, args[0]!, { vkeys: opts.vkey ?? ctx.config.vkeys });
          const summary =
            result.mode === 'none'
              ? `${result.dir} already holds the checkpoint of size ${result.size}; nothing written`
              : `${result.dir}: checkpoint of size ${result.size} (${result.mode}, from size ${result.fromSize}): ${result.written.length} file(s) written`;
          ctx.out.result(summary, {
            dir: result.dir,
            checkpoint_id: result.checkpointId,
            size: result.size,
            from_size: result.fromSize,
            mode: result.mode,
            written: result.written,
          });
          return 0;
        }),
      ),
    );
}
