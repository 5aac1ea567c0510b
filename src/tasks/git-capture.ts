/**
 * What a task changed in a working tree, measured with the system git. The repository belongs to
 * an agent, so its configuration is hostile input: every git command runs without a shell (paths
 * and refs are data, not syntax), with a 5 s timeout, in a minimal environment holding no
 * secrets, and with every repository setting that would make git run a program switched off
 * (fsmonitor, hooks, external diff, textconv, clean/smudge filters). Any failure — missing path,
 * not a repository, no commits yet, git missing or failing — yields an honest "not captured"
 * result with the reason, never an exception: the audit record is still written, it just says the
 * change could not be measured.
 */
import { stat } from 'node:fs/promises';
import { ChildProcessFailure, runChild } from '../platform/child-process.js';

export const GIT_TIMEOUT_MS = 5_000;
export const STATUS_SUMMARY_MAX_CHARS = 5_120;
export const DIFF_SUMMARY_MAX_CHARS = 10_240;
/** Beyond this much output a command counts as failed rather than exhausting memory. */
const MAX_OUTPUT_BYTES = 64 * 1024 * 1024;

/**
 * Settings given on the command line win over the repository's own. The untracked cache is off
 * so the answer never depends on what the agent left in the index extension.
 */
const NO_PROGRAMS = ['-c', 'core.fsmonitor=false', '-c', 'core.hooksPath=/dev/null', '-c', 'core.untrackedCache=false'];
/** Diff options that keep git from running drivers the repository's attributes name. */
const PLAIN_DIFF = ['--no-ext-diff', '--no-textconv', '--ignore-submodules=dirty'];

export type GitCaptureFailure = 'missing_path' | 'not_a_repository' | 'no_commits' | 'git_failed';

export interface GitCapture {
  ok: boolean;
  /** Why nothing was captured; absent when ok. */
  reason?: GitCaptureFailure;
  /** git's own message for the failure, if any. */
  detail?: string;
  /** `git status --porcelain`, capped; null when not captured. */
  statusSummary: string | null;
  /** `git diff --stat HEAD`, cut at whole lines; null when not captured. */
  diffSummary: string | null;
  /** Tracked changes against HEAD (rename destinations) followed by untracked files, repository-relative. */
  filesChanged: string[];
  /** True numstat totals against HEAD (binary files count 0); null when not captured. */
  linesAdded: number | null;
  linesDeleted: number | null;
  /** The HEAD commit, when there is one. */
  head: string | null;
}

class GitCommandError extends Error {}

/** Config overrides passed through the environment (names may hold any character, even '='). */
type ConfigOverrides = ReadonlyArray<readonly [key: string, value: string]>;

async function git(cwd: string, args: readonly string[], overrides: ConfigOverrides = []): Promise<string> {
  const env: Record<string, string> = {
    // No index.lock (the task may be using git concurrently), no prompts, no system-wide config.
    GIT_OPTIONAL_LOCKS: '0',
    GIT_TERMINAL_PROMPT: '0',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_COUNT: String(overrides.length),
  };
  overrides.forEach(([key, value], i) => {
    env[`GIT_CONFIG_KEY_${i}`] = key;
    env[`GIT_CONFIG_VALUE_${i}`] = value;
  });
  try {
    return (await runChild('git', [...NO_PROGRAMS, ...args], { cwd, env, timeoutMs: GIT_TIMEOUT_MS, maxBuffer: MAX_OUTPUT_BYTES })).stdout;
  } catch (err) {
    const reason = err instanceof ChildProcessFailure ? err.message : 'git failed';
    throw new GitCommandError(`git ${args[0] ?? ''}: ${reason}`);
  }
}

/**
 * A clean or smudge filter (`filter.<name>.clean` plus a matching .gitattributes line) runs a
 * program whenever git reads a changed file; git has no switch to turn filters off, so every
 * filter the repository's configuration defines is overridden with an empty command.
 */
async function filterOverrides(top: string): Promise<ConfigOverrides> {
  let listing: string;
  try {
    listing = await git(top, ['config', '--null', '--get-regexp', '^filter\\.']);
  } catch {
    return []; // exit 1: no filter defined
  }
  const names = new Set<string>();
  for (const item of listing.split('\0')) {
    const key = item.split('\n', 1)[0] ?? '';
    const last = key.lastIndexOf('.');
    if (key.toLowerCase().startsWith('filter.') && last > 'filter.'.length) names.add(key.slice('filter.'.length, last));
  }
  return [...names].flatMap((name) => [
    [`filter.${name}.clean`, ''],
    [`filter.${name}.smudge`, ''],
    [`filter.${name}.process`, ''],
    [`filter.${name}.required`, 'false'],
  ]) as ConfigOverrides;
}

function notCaptured(reason: GitCaptureFailure, detail?: string, head: string | null = null): GitCapture {
  return {
    ok: false,
    reason,
    ...(detail === undefined ? {} : { detail }),
    statusSummary: null,
    diffSummary: null,
    filesChanged: [],
    linesAdded: null,
    linesDeleted: null,
    head,
  };
}

async function topLevel(repoPath: string): Promise<{ top: string } | { failure: GitCapture }> {
  try {
    if (!(await stat(repoPath)).isDirectory()) return { failure: notCaptured('missing_path', `${repoPath} is not a directory`) };
  } catch {
    return { failure: notCaptured('missing_path', `${repoPath} does not exist`) };
  }
  try {
    return { top: (await git(repoPath, ['rev-parse', '--show-toplevel'])).replace(/\n$/, '') };
  } catch (err) {
    return { failure: notCaptured('not_a_repository', (err as Error).message) };
  }
}

async function headOf(top: string): Promise<string | null> {
  try {
    const out = (await git(top, ['rev-parse', '--verify', '--quiet', 'HEAD^{commit}'])).trim();
    return out === '' ? null : out;
  } catch {
    return null;
  }
}

/** The commit HEAD points at, or null (no repository, no commits, git failure). */
export async function readHead(repoPath: string): Promise<string | null> {
  const found = await topLevel(repoPath);
  return 'top' in found ? headOf(found.top) : null;
}

export async function captureGitChanges(repoPath: string): Promise<GitCapture> {
  const found = await topLevel(repoPath);
  if ('failure' in found) return found.failure;
  const { top } = found;
  const head = await headOf(top);
  if (head === null) return notCaptured('no_commits', 'the repository has no commits, so there is no HEAD to compare with');
  try {
    const overrides = await filterOverrides(top);
    const [status, stat, numstat, untracked] = await Promise.all([
      git(top, ['status', '--porcelain', '--ignore-submodules=dirty'], overrides),
      git(top, ['diff', '--no-color', ...PLAIN_DIFF, '--stat', 'HEAD'], overrides),
      git(top, ['diff', ...PLAIN_DIFF, '--numstat', '-z', 'HEAD'], overrides),
      git(top, ['ls-files', '--others', '--exclude-standard', '-z'], overrides),
    ]);
    const counts = parseNumstat(numstat);
    const files = [...counts.files];
    const seen = new Set(files);
    for (const path of untracked.split('\0')) {
      if (path !== '' && !seen.has(path)) {
        seen.add(path);
        files.push(path);
      }
    }
    return {
      ok: true,
      statusSummary: capStatusSummary(status),
      diffSummary: capDiffSummary(stat),
      filesChanged: files,
      linesAdded: counts.added,
      linesDeleted: counts.deleted,
      head,
    };
  } catch (err) {
    return notCaptured('git_failed', (err as Error).message, head);
  }
}

/** `git status --porcelain` output kept to 5,120 characters, with the full size in bytes when cut. */
export function capStatusSummary(output: string): string {
  const text = output.replace(/\n$/, '');
  if (text.length <= STATUS_SUMMARY_MAX_CHARS) return text;
  let end = STATUS_SUMMARY_MAX_CHARS;
  // Never split a surrogate pair.
  if (isHighSurrogate(text.charCodeAt(end - 1))) end--;
  return `${text.slice(0, end)}\n... (truncated, total ${Buffer.byteLength(output, 'utf8')} bytes)`;
}

/** `git diff --stat` output cut at the last whole line within 10,240 characters, with the full line count when cut. */
export function capDiffSummary(output: string): string {
  const text = output.replace(/\n$/, '');
  if (text.length <= DIFF_SUMMARY_MAX_CHARS) return text;
  const lines = text.split('\n');
  let length = 0;
  let kept = 0;
  for (const line of lines) {
    const next = length + (kept === 0 ? 0 : 1) + line.length;
    if (next > DIFF_SUMMARY_MAX_CHARS) break;
    length = next;
    kept++;
  }
  return `${lines.slice(0, kept).join('\n')}\n... (truncated, total ${lines.length} lines)`;
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

/**
 * Parses `git diff --numstat -z`: `added\tdeleted\tpath\0`, or for a rename or copy
 * `added\tdeleted\t\0from\0to\0`. Binary files show `-` for both counts and add no lines.
 */
export function parseNumstat(output: string): { files: string[]; added: number; deleted: number } {
  const tokens = output.split('\0');
  const files: string[] = [];
  let added = 0;
  let deleted = 0;
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    if (token === '') continue;
    const m = /^(\d+|-)\t(\d+|-)\t([\s\S]*)$/.exec(token);
    if (!m) throw new GitCommandError(`git diff --numstat: unexpected output ${JSON.stringify(token.slice(0, 80))}`);
    if (m[1] !== '-') added += Number(m[1]);
    if (m[2] !== '-') deleted += Number(m[2]);
    if (m[3] === '') {
      const to = tokens[i + 2];
      if (to === undefined) throw new GitCommandError('git diff --numstat: truncated rename entry');
      files.push(to);
      i += 2;
    } else {
      files.push(m[3]!);
    }
  }
  return { files, added, deleted };
}
