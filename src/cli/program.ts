/**
 * The `sealtrail` command line: global options, the command-group registry, and the context every
 * command action receives. Commands live one group per file in ./commands/ and are thin: parse,
 * call the library, print through ctx.out, return an exit status.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { allowInsecureKeyFiles } from '../anchor/keys.js';
import { SealtrailError } from '../core/errors.js';
import { resolveConfig, type ResolvedConfig } from './config.js';
import { createOutput, reportError, type Output, type TextSink } from './output.js';

/** 0 ok, 1 integrity failure found, 2 usage or environment error. */
export type ExitStatus = 0 | 1 | 2;

/** Options every command accepts, wherever they appear on the command line. */
export interface GlobalOptions {
  db?: string;
  config?: string;
  json?: boolean;
  debug?: boolean;
  allowInsecureKeyFile?: boolean;
}

export interface CommandContext {
  /** Resolved on first use, so a command that needs no configuration still runs when it is broken. */
  readonly config: ResolvedConfig;
  readonly json: boolean;
  readonly debug: boolean;
  readonly out: Output;
}

export interface Invocation<Opts> {
  /** Positional operands as typed (variadic ones flattened); `command.processedArgs` has parsed ones. */
  args: string[];
  /** This command's own options (global ones are already folded into ctx). */
  opts: Opts;
  command: Command;
}

/**
 * Always async: with an `ExitStatus | Promise<ExitStatus>` return type TypeScript widens `return 0`
 * in an async handler to number and rejects it.
 */
export type CommandHandler<Opts> = (ctx: CommandContext, invocation: Invocation<Opts>) => Promise<ExitStatus>;

/** Turns a handler into a commander action that builds the context and records the exit status. */
export type WithContext = <Opts extends object = Record<string, unknown>>(
  handler: CommandHandler<Opts>,
) => (...commanderArgs: unknown[]) => Promise<void>;

/** What every ./commands/<group>.ts exports. */
export interface CommandGroup {
  register(program: Command, withContext: WithContext): void;
}

/**
 * Every command group, in help order. Adding a group is one line here; the dynamic import keeps it
 * one line while TypeScript still checks that the module exports `register`.
 */
const COMMAND_GROUPS: readonly (() => Promise<CommandGroup>)[] = [
  () => import('./commands/ledger.js'),
  () => import('./commands/demo.js'),
  () => import('./commands/tasks.js'),
  () => import('./commands/pipeline.js'),
  () => import('./commands/capture.js'),
  () => import('./commands/keys.js'),
  () => import('./commands/checkpoint.js'),
  () => import('./commands/tiles.js'),
  () => import('./commands/witness.js'),
  () => import('./commands/monitor.js'),
  () => import('./commands/serve.js'),
  () => import('./commands/token.js'),
  () => import('./commands/config.js'),
  () => import('./commands/pipeline-run.js'),
];

export interface RunOptions {
  env?: Readonly<Record<string, string | undefined>>;
  cwd?: string;
  stdout?: TextSink;
  stderr?: TextSink;
}

/** Runs the CLI on user arguments (process.argv.slice(2)) and returns the exit status. Never throws. */
export async function runCli(args: readonly string[], options: RunOptions = {}): Promise<ExitStatus> {
  // Parsing may fail before commander has read --json/--debug, so scan for them up front.
  const beforeOperands = args.includes('--') ? args.slice(0, args.indexOf('--')) : args;
  const report = { json: beforeOperands.includes('--json'), debug: beforeOperands.includes('--debug') };
  const io = { stdout: options.stdout ?? process.stdout, stderr: options.stderr ?? process.stderr };

  try {
    const { program, status } = await buildProgram(options);
    await program.parseAsync([...args], { from: 'user' });
    return status();
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return 0;
      // Bare `sealtrail` (or a group without a subcommand): help already went to stderr.
      if (err.code === 'commander.help') return 2;
      const usage = new SealtrailError('invalid_argument', `${err.message.replace(/^error:\s*/, '')} (see --help)`, {
        details: { reason: err.code },
      });
      return reportError(usage, { ...report, debug: false, ...io });
    }
    return reportError(err, { ...report, ...io });
  }
}

export async function buildProgram(options: RunOptions = {}): Promise<{ program: Command; status: () => ExitStatus }> {
  const stdout = options.stdout ?? process.stdout;
  const stderr = options.stderr ?? process.stderr;
  let status: ExitStatus = 0;

  const program = new Command('sealtrail')
    .description('Complete, tamper-evident audit trails on SQLite or PostgreSQL.')
    .version(packageVersion(), '-V, --version', 'print the sealtrail version')
    .helpOption('-h, --help', 'show help for a command')
    .option('--db <url>', 'SQLite file path or postgres:// URL (env SEALTRAIL_DB, default ./sealtrail.db)')
    .option('--config <file>', `config file (env SEALTRAIL_CONFIG, default ./sealtrail.config.json if present)`)
    .option('--json', 'print results (and errors) as JSON documents on stdout')
    .option('--debug', 'show stack traces and error causes')
    .option('--allow-insecure-key-file', 'accept key files that group or others can read (refused by default, as ssh does)')
    // Subcommands created with .command() inherit these settings, so they must come before registration.
    // Every subcommand's --help lists the global options too (--db, --json, --debug…).
    .configureHelp({ showGlobalOptions: true })
    .exitOverride()
    .configureOutput({
      writeOut: (text) => void stdout.write(text),
      writeErr: (text) => void stderr.write(text),
      // runCli prints usage errors itself, in the same one-line format as every other error.
      outputError: () => {},
    });

  const withContext: WithContext = (handler) => async (...commanderArgs) => {
    const command = commanderArgs[commanderArgs.length - 1] as Command;
    const globals = command.optsWithGlobals<GlobalOptions & Record<string, unknown>>();
    allowInsecureKeyFiles(globals.allowInsecureKeyFile === true);
    const ctx = createContext(globals, { ...options, stdout, stderr });
    status = await handler(ctx, { args: [...command.args], opts: command.opts(), command });
  };

  for (const load of COMMAND_GROUPS) (await load()).register(program, withContext);
  return { program, status: () => status };
}

function createContext(globals: GlobalOptions & Record<string, unknown>, options: RunOptions): CommandContext {
  const json = globals.json === true;
  let config: ResolvedConfig | undefined;
  return {
    get config() {
      config ??= resolveConfig({ flags: globals, env: options.env ?? process.env, cwd: options.cwd ?? process.cwd() });
      return config;
    },
    json,
    debug: globals.debug === true,
    out: createOutput({ json, stdout: options.stdout, stderr: options.stderr }),
  };
}

/** Read at run time so the same code works from src/ (tsx) and dist/: both sit two levels below it. */
function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
  return typeof pkg.version === 'string' ? pkg.version : '0.0.0';
}
