/** `sealtrail witness serve`: a C2SP tlog-witness for other machines' ledgers. */
import { existsSync, rmSync } from 'node:fs';
import type { Command } from 'commander';
import { loadCosigner } from '../../anchor/keys.js';
import { Witness, startWitnessServer, type RunningWitness } from '../../anchor/witness-server.js';
import { SealtrailError } from '../../core/errors.js';
import type { WithContext } from '../program.js';

export function register(program: Command, withContext: WithContext): void {
  const witness = program.command('witness').description('run a transparency-log witness (c2sp.org/tlog-witness)');
  witness
    .command('serve')
    .description('serve add-checkpoint until interrupted')
    .requiredOption('--key-file <path>', 'the witness cosigner key (sealtrail keygen --witness)')
    .requiredOption('--log <vkey...>', "verifier key(s) of the logs to witness (origin = the key's name)")
    .option('--state <file>', 'SQLite file keeping the latest cosigned checkpoint per log', 'witness-state.db')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port to listen on (0: any free port)', '7380')
    .action(
      withContext<{ keyFile: string; log: string[]; state: string; host: string; port: string }>(async (ctx, { opts }) => {
        const port = Number(opts.port);
        if (!/^\d+$/.test(opts.port) || port > 65535) throw new SealtrailError('invalid_argument', `--port must be 0..65535, got ${JSON.stringify(opts.port)}`);
        const signer = loadCosigner(opts.keyFile);
        const stateExisted = existsSync(opts.state);
        const w = new Witness({ signer, logs: opts.log, statePath: opts.state });
        let running: RunningWitness;
        try {
          running = await startWitnessServer(w, { host: opts.host, port });
        } catch (err) {
          // A witness that never served leaves no new state file behind (a mistyped --port writes nothing).
          w.close();
          if (!stateExisted) for (const suffix of ['', '-wal', '-shm']) rmSync(`${opts.state}${suffix}`, { force: true });
          throw err;
        }
        ctx.out.note(`witness ${w.signer.name} listening on ${running.url}; verifier key:`);
        ctx.out.result(w.signer.verifierKey, { url: running.url, verifier_key: w.signer.verifierKey });
        await new Promise<void>((resolve) => {
          const stop = () => resolve();
          process.once('SIGINT', stop);
          process.once('SIGTERM', stop);
        });
        await running.close();
        w.close();
        return 0;
      }),
    );
}
