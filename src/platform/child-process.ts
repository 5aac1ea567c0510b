/**
 * The one way sealtrail starts a child process. Children never inherit this process's
 * environment: they get PATH, HOME, LANG=C and LC_ALL=C, plus the variables a caller names
 * explicitly. Anything called SEALTRAIL_* (signing keys, database URLs with passwords) is never
 * passed, whatever the caller asks, because a child may run code we do not control (git hooks,
 * credential helpers, an agent's fsmonitor). Commands run through execFile, never a shell.
 */
import { execFile } from 'node:child_process';

export interface ChildOptions {
  cwd?: string;
  /** Kill the child after this long (default: no limit). */
  timeoutMs?: number;
  /** Output beyond this many bytes fails the command (default 64 MiB). */
  maxBuffer?: number;
  /** Variables set for the child, on top of the minimal environment. */
  env?: Readonly<Record<string, string>>;
  /** Names copied from this process's environment when set (e.g. SSH_AUTH_SOCK for a push). */
  passThrough?: readonly string[];
}

export interface ChildResult {
  stdout: string;
  stderr: string;
}

/** A child that could not start, exited non-zero, was killed or produced too much output. */
export class ChildProcessFailure extends Error {
  override readonly name = 'ChildProcessFailure';

  constructor(
    message: string,
    /** The exit status; null when the child was killed or never started. */
    readonly exitCode: number | null,
    readonly stderr: string,
    /** The OS error (ENOENT: the program is missing) or the signal that ended the child. */
    readonly reason: string | null,
  ) {
    super(message);
  }
}

const FORBIDDEN_PREFIX = 'SEALTRAIL_';
const DEFAULT_MAX_BUFFER = 64 * 1024 * 1024;

/** The environment a child gets: minimal, plus what the caller names, never SEALTRAIL_*. */
export function childEnvironment(options: Pick<ChildOptions, 'env' | 'passThrough'> = {}, parent: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const env: Record<string, string> = { LANG: 'C', LC_ALL: 'C' };
  for (const name of ['PATH', 'HOME', ...(options.passThrough ?? [])]) {
    const value = parent[name];
    if (value !== undefined) env[name] = value;
  }
  Object.assign(env, options.env ?? {});
  for (const name of Object.keys(env)) if (name.toUpperCase().startsWith(FORBIDDEN_PREFIX)) delete env[name];
  return env;
}

/** Runs `command` with `args` (no shell) in a minimal environment; rejects with ChildProcessFailure. */
export function runChild(command: string, args: readonly string[], options: ChildOptions = {}): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    execFile(
      command,
      args,
      {
        ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
        ...(options.timeoutMs === undefined ? {} : { timeout: options.timeoutMs }),
        maxBuffer: options.maxBuffer ?? DEFAULT_MAX_BUFFER,
        encoding: 'utf8',
        windowsHide: true,
        env: childEnvironment(options),
      },
      (err, stdout, stderr) => {
        if (!err) {
          resolve({ stdout, stderr });
          return;
        }
        const e = err as NodeJS.ErrnoException & { code?: unknown; signal?: NodeJS.Signals | null; killed?: boolean };
        const exitCode = typeof e.code === 'number' ? e.code : null;
        const reason = typeof e.code === 'string' ? e.code : (e.signal ?? null);
        const firstLine = (stderr || '').trim().split('\n')[0] ?? '';
        const why = firstLine !== '' ? firstLine : exitCode !== null ? `exit status ${exitCode}` : (reason ?? 'failed');
        reject(new ChildProcessFailure(why, exitCode, stderr ?? '', reason));
      },
    );
  });
}
