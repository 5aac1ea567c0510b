/**
 * `git:<repo-dir>`: the same hash-linked log as the file sink, kept as a file in a git
 * repository and committed (and pushed, when the repository has a remote) after every append.
 * Reading uses the committed file (HEAD), the version that has left this machine when a remote
 * is configured.
 *
 * Append, commit and push happen under a lock in the repository's git directory, so two
 * publishers (the monitor and a cron `checkpoint`) never link to the same line or race on the
 * index. git runs without a shell in a minimal environment: the push's hooks, credential helpers
 * and ssh see PATH, HOME, the locale and the few variables a push needs to authenticate, never
 * SEALTRAIL_* (the signing key, the database URL).
 */
import { join } from 'node:path';
import { SealtrailError } from '../../core/errors.js';
import { redact } from '../../core/redact.js';
import { ChildProcessFailure, runChild } from '../../platform/child-process.js';
import { withFileLock } from '../../platform/file-lock.js';
import { appendRecord, parseLog } from './jsonl-log.js';
import type { PublishOutcome, PublishRecord, Sink, SinkContents } from './sink.js';

/** What a commit and a push to an ssh or https remote may need from the operator's environment. */
const GIT_PASS_THROUGH = [
  'SSH_AUTH_SOCK',
  'GIT_SSH',
  'GIT_SSH_COMMAND',
  'GIT_SSH_VARIANT',
  'GIT_ASKPASS',
  'GIT_CONFIG_GLOBAL',
  'GIT_CONFIG_NOSYSTEM',
  'XDG_CONFIG_HOME',
  'GIT_AUTHOR_NAME',
  'GIT_AUTHOR_EMAIL',
  'GIT_COMMITTER_NAME',
  'GIT_COMMITTER_EMAIL',
  'HTTPS_PROXY',
  'https_proxy',
  'HTTP_PROXY',
  'http_proxy',
  'NO_PROXY',
  'no_proxy',
];

export const GIT_SINK_FILE = 'sealtrail-checkpoints.jsonl';

export class GitSink implements Sink {
  readonly kind = 'git' as const;
  readonly latestOnly = false;

  constructor(
    readonly spec: string,
    readonly dir: string,
  ) {}

  async publish(record: PublishRecord): Promise<PublishOutcome> {
    const gitDir = (await this.git(['rev-parse', '--absolute-git-dir'])).trim();
    const file = join(this.dir, GIT_SINK_FILE);
    await withFileLock(
      file,
      async () => {
        appendRecord(file, record);
        // Committed even when the line was already there: a crash may have come between append and commit.
        const status = await this.git(['status', '--porcelain', '--', GIT_SINK_FILE]);
        if (status.trim() !== '') {
          await this.git(['add', '--', GIT_SINK_FILE]);
          const identity = (await this.git(['config', 'user.email'], true)).trim() === '' ? ['-c', 'user.name=sealtrail', '-c', 'user.email=sealtrail@localhost'] : [];
          await this.git([...identity, 'commit', '--quiet', '--no-verify', '-m', `sealtrail checkpoint ${record.origin} size ${record.seq}`, '--', GIT_SINK_FILE]);
        }
        const remotes = (await this.git(['remote'])).split('\n').filter((r) => r.trim() !== '');
        if (remotes.length > 0) await this.git(['push', '--quiet', remotes[0]!, 'HEAD']);
      },
      { lockPath: join(gitDir, 'sealtrail-sink.lock'), what: `the git sink ${this.dir}` },
    );
    return { status: 'published' };
  }

  async read(): Promise<SinkContents> {
    let text: string;
    try {
      await this.git(['rev-parse', '--git-dir']);
      const hasHead = (await this.git(['rev-parse', '--verify', '--quiet', 'HEAD'], true)).trim() !== '';
      text = hasHead ? await this.git(['show', `HEAD:${GIT_SINK_FILE}`], true) : '';
    } catch (err) {
      return { records: [], readable: true, problems: [{ seq: null, reason: 'sink_unreadable', message: (err as Error).message }] };
    }
    return parseLog(text);
  }

  /** Runs git in the repository; with `tolerant`, a non-zero exit yields '' instead of an error. */
  private async git(args: string[], tolerant = false): Promise<string> {
    try {
      const { stdout } = await runChild('git', ['-C', this.dir, ...args], {
        maxBuffer: 256 * 1024 * 1024,
        env: { GIT_TERMINAL_PROMPT: '0' },
        passThrough: GIT_PASS_THROUGH,
      });
      return stdout;
    } catch (err) {
      if (!(err instanceof ChildProcessFailure)) throw err;
      if (tolerant && err.exitCode !== null) return '';
      // git quotes remote URLs in its errors, tokens and all.
      const reason = redact(err.message);
      throw new SealtrailError('sink_failed', `git ${args[0] === '-c' ? 'commit' : args[0]} in ${this.dir} failed: ${reason}`, {
        details: { sink: redact(this.spec) },
      });
    }
  }
}
