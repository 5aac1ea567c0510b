import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sealtrail as run, type RunResult } from '../helpers/cli.js';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const packageVersion = (JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { version: string }).version;

/** Runs the real CLI in a child process, in `cwd`, with only the environment given (plus PATH). */
const sealtrail = (cwd: string, args: string[], env: Record<string, string> = {}): Promise<RunResult> => run(args, { cwd, env });

function lines(text: string): string[] {
  return text.split('\n').filter((line) => line !== '');
}

let cwd: string;
before(() => {
  cwd = mkdtempSync(join(tmpdir(), 'sealtrail-cli-'));
});
after(() => {
  rmSync(cwd, { recursive: true, force: true });
});

// Each case spawns a process (~0.5 s); they share nothing but the temp root, so run a few at once.
describe('sealtrail CLI', { concurrency: 4 }, () => {
  it('--version prints the package version', async () => {
    const result = await sealtrail(cwd, ['--version']);
    assert.equal(result.status, 0);
    assert.equal(result.stdout.trim(), packageVersion);
  });

  it('--help lists the global options and the commands', async () => {
    const result = await sealtrail(cwd, ['--help']);
    assert.equal(result.status, 0);
    for (const option of ['--db <url>', '--config <file>', '--json', '--debug', '--version', '--help']) {
      assert.ok(result.stdout.includes(option), `help mentions ${option}`);
    }
    assert.match(result.stdout, /^\s+config\s/m);
  });

  it('exits 2 with one coded line for an unknown option', async () => {
    const result = await sealtrail(cwd, ['config', '--no-such-option']);
    assert.equal(result.status, 2);
    assert.deepEqual(lines(result.stderr), ["sealtrail: unknown option '--no-such-option' (see --help) [invalid_argument]"]);
    assert.equal(result.stdout, '');
  });

  it('exits 2 for an unknown command and for unexpected arguments', async () => {
    const unknown = await sealtrail(cwd, ['frobnicate']);
    assert.equal(unknown.status, 2);
    assert.match(unknown.stderr, /^sealtrail: unknown command 'frobnicate'.*\[invalid_argument\]\n$/);
    const extra = await sealtrail(cwd, ['config', 'surplus']);
    assert.equal(extra.status, 2);
    assert.match(extra.stderr, /\[invalid_argument\]\n$/);
  });

  it('exits 2 and shows usage on stderr when no command is given', async () => {
    const result = await sealtrail(cwd, []);
    assert.equal(result.status, 2);
    assert.match(result.stderr, /Usage: sealtrail/);
    assert.equal(result.stdout, '');
  });

  it('--json prints the result as one JSON document on stdout', async () => {
    const result = await sealtrail(cwd, ['config', '--json']);
    assert.equal(result.status, 0, result.stderr);
    assert.equal(lines(result.stdout).length, 1);
    const config = JSON.parse(result.stdout) as { db: string; sources: { db: string } };
    assert.equal(config.db, join(cwd, 'sealtrail.db'));
    assert.equal(config.sources.db, 'default');
  });

  it('applies flag > environment > config file > default', async () => {
    const dir = mkdtempSync(join(cwd, 'precedence-'));
    const db = async (args: string[], env: Record<string, string> = {}): Promise<string> => {
      const result = await sealtrail(dir, ['--json', ...args, 'config'], env);
      assert.equal(result.status, 0, result.stderr);
      return (JSON.parse(result.stdout) as { db: string }).db;
    };
    assert.equal(await db([]), join(dir, 'sealtrail.db'));
    writeFileSync(join(dir, 'sealtrail.config.json'), JSON.stringify({ db: 'file.db' }));
    assert.equal(await db([]), join(dir, 'file.db'));
    assert.equal(await db([], { SEALTRAIL_DB: 'env.db' }), join(dir, 'env.db'));
    assert.equal(await db(['--db', 'flag.db'], { SEALTRAIL_DB: 'env.db' }), join(dir, 'flag.db'));
  });

  it('never prints a database password', async () => {
    const result = await sealtrail(cwd, ['config', '--db', 'postgres://auditor:s3cret@db.example/audit']);
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /postgres:\/\/auditor:\*\*\*@db\.example\/audit/);
    assert.doesNotMatch(result.stdout + result.stderr, /s3cret/);
  });

  describe('with an invalid config file', () => {
    let dir: string;
    before(() => {
      dir = mkdtempSync(join(cwd, 'invalid-'));
      writeFileSync(join(dir, 'sealtrail.config.json'), '{ "db": "x.db", ');
    });

    it('exits 2 with one line naming the file and the code, and no stack trace', async () => {
      const result = await sealtrail(dir, ['config']);
      assert.equal(result.status, 2);
      const errorLines = lines(result.stderr);
      assert.equal(errorLines.length, 1, result.stderr);
      assert.match(errorLines[0] ?? '', /^sealtrail: config file .*sealtrail\.config\.json is not valid JSON.* \[config_invalid\]$/);
      assert.doesNotMatch(result.stderr, /\n\s+at /);
      assert.equal(result.stdout, '');
    });

    it('with --json also prints the error as a JSON document on stdout', async () => {
      const result = await sealtrail(dir, ['--json', 'config']);
      assert.equal(result.status, 2);
      const doc = JSON.parse(result.stdout) as { error: { code: string; message: string } };
      assert.equal(doc.error.code, 'config_invalid');
      assert.match(doc.error.message, /not valid JSON/);
    });

    it('with --debug shows the stack trace', async () => {
      const result = await sealtrail(dir, ['--debug', 'config']);
      assert.equal(result.status, 2);
      assert.match(result.stderr, /\n\s+at .*config\.ts/);
      assert.match(result.stderr, /\[config_invalid\]\n$/);
    });

    it('still answers --help and --version', async () => {
      assert.equal((await sealtrail(dir, ['--help'])).status, 0);
      assert.equal((await sealtrail(dir, ['--version'])).status, 0);
    });
  });
});
