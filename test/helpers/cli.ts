/**
 * Running the sealtrail CLI from tests, two ways: in-process through runCli (fast, output
 * captured) and as a real child process on src/cli/main.ts (stdin bytes, signals, exit codes,
 * environment), the way a user runs it.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCli } from '../../src/cli/program.js';
import { tempDir } from './databases.js';

export interface RunResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

const repo = fileURLToPath(new URL('../../', import.meta.url));
const mainTs = join(repo, 'src', 'cli', 'main.ts');
// An absolute loader URL: `--import tsx` would be resolved from the child's (temporary) cwd.
const tsxLoader = import.meta.resolve('tsx');

/** The CLI in this process, with only the environment given (default none); stdout and stderr are captured. */
export async function cli(args: string[], env: Record<string, string> = {}): Promise<{ status: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const status = await runCli(args, { stdout: { write: (t: string) => (stdout += t) }, stderr: { write: (t: string) => (stderr += t) }, env });
  return { status, stdout, stderr };
}

export interface SpawnOptions {
  /** Working directory (default: a fresh temp dir). */
  cwd?: string;
  /** The child's whole environment besides PATH. */
  env?: Record<string, string>;
  /** Bytes for stdin, then closed; without it stdin is /dev/null. */
  input?: string | Buffer;
}

/** Starts the real CLI as a child process with pipes on all three streams (stdin left open). */
export function startSealtrail(args: string[], options: Omit<SpawnOptions, 'input'> = {}): ChildProcessWithoutNullStreams {
  return spawn(process.execPath, ['--import', tsxLoader, mainTs, ...args], {
    cwd: options.cwd ?? tempDir(),
    env: { PATH: process.env['PATH'] ?? '', ...options.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

/** Runs the real CLI to its end in a child process and collects what it printed. */
export function sealtrail(args: string[], options: SpawnOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', tsxLoader, mainTs, ...args], {
      cwd: options.cwd ?? tempDir(),
      env: { PATH: process.env['PATH'] ?? '', ...options.env },
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
    if (options.input !== undefined) child.stdin!.end(options.input);
  });
}

/** The non-empty lines of a `--json` stdout, each parsed. */
export function jsonLines<T = unknown>(text: string): T[] {
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as T);
}

/** The code of the first `{"error": …}` document a `--json` run printed, if any. */
export function errorCode(stdout: string): string | undefined {
  return jsonLines<{ error?: { code: string } }>(stdout.split('\n').filter((l) => l.startsWith('{"error"')).join('\n'))[0]?.error?.code;
}
