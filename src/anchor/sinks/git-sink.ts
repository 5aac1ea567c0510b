/**
 * `git:<repo-dir>`: the same hash-linked log as the file sink, kept as a file in a git
 * repository and committed (and pushed, when the repository has a remote) after every append.
 * git is run with execFile, never through a shell. Reading uses the committed file (HEAD), the
 * version that has left this machine when a remote is configured.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { SealtrailError } from '../../core/errors.js';
import { appendRecord, parseLog } from './jsonl-log.js';
import type { PublishOutcome, PublishRecord, Sink, SinkContents } from './sink.js';

const run = promisify(execFile);

export const GIT_SINK_FILE = 'sealtrail-checkpoints.jsonl';

export class GitSink implements Sink {
  readonly kind = 'git' as const;
  readonly latestOnly = false;

  constructor(
    readonly spec: string,
    readonly dir: string,
  ) {}

  async publish(record: PublishRecord): Promise<PublishOutcome> {
    appendRecord(join(this.dir, GIT_SINK_FILE), record);
    // Committed even when the line was already there: a crash may have come between append and commit.
    const status = await this.git(['status', '--porcelain', '--', GIT_SINK_FILE]);
    if (status.trim() !== '') {
      await this.git(['add', '--', GIT_SINK_FILE]);
      const identity = (await this.git(['config', 'user.email'], true)).trim() === '' ? ['-c', 'user.name=sealtrail', '-c', 'user.email=sealtrail@localhost'] : [];
      await this.git([...identity, 'commit', '--quiet', '--no-verify', '-m', `sealtrail checkpoint ${record.origin} size ${record.seq}`, '--', GIT_SINK_FILE]);
    }
    const remotes = (await this.git(['remote'])).split('\n').filter((r) => r.trim() !== '');
    if (remotes.length > 0) await this.git(['push', '--quiet', remotes[0]!, 'HEAD']);
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
      const { stdout } = await run('git', ['-C', this.dir, ...args], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
      return stdout;
    } catch (err) {
      const e = err as { code?: unknown; stderr?: string };
      if (tolerant && typeof e.code === 'number') return '';
      const reason = (e.stderr ?? '').trim().split('\n')[0] || String(e.code ?? 'failed');
      throw new SealtrailError('sink_failed', `git ${args[0] === '-c' ? 'commit' : args[0]} in ${this.dir} failed: ${reason}`, {
        details: { sink: this.spec },
      });
    }
  }
}
