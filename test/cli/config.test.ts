import { describe, it, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseDuration, resolveConfig } from '../../src/cli/config.js';
import { isSealtrailError } from '../../src/core/errors.js';

let cwd: string;
beforeEach(() => {
  cwd = mkdtempSync(join(tmpdir(), 'sealtrail-config-'));
});
afterEach(() => {
  rmSync(cwd, { recursive: true, force: true });
});

function writeConfig(values: unknown, name = 'sealtrail.config.json'): string {
  const path = join(cwd, name);
  writeFileSync(path, typeof values === 'string' ? values : JSON.stringify(values));
  return path;
}

function rejects(fn: () => unknown, code: string, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(isSealtrailError(err), `expected a SealtrailError, got ${String(err)}`);
    assert.equal(err.code, code);
    assert.match(err.message, pattern);
    return true;
  });
}

describe('resolveConfig precedence', () => {
  it('uses the defaults when nothing is configured', () => {
    const config = resolveConfig({ flags: {}, env: {}, cwd });
    assert.equal(config.db, join(cwd, 'sealtrail.db'));
    assert.equal(config.maxPayloadBytes, 1_048_576);
    assert.equal(config.keyFile, undefined);
    assert.deepEqual(config.sinks, []);
    assert.deepEqual(config.vkeys, []);
    assert.deepEqual(config.monitor, { interval: '1h', window: '24h', stateFile: join(cwd, '.sealtrail', 'monitor-state.json') });
    assert.equal(config.configFile, null);
    assert.equal(config.sources.db, 'default');
  });

  it('lets the config file beat the default, the environment beat the file, and the flag beat the environment', () => {
    writeConfig({ db: 'from-file.db', maxPayloadBytes: 10 });
    const fileOnly = resolveConfig({ flags: {}, env: {}, cwd });
    assert.equal(fileOnly.db, join(cwd, 'from-file.db'));
    assert.equal(fileOnly.sources.db, 'file');
    assert.equal(fileOnly.maxPayloadBytes, 10);

    const env = { SEALTRAIL_DB: 'postgres://app@db.example/audit', SEALTRAIL_MAX_PAYLOAD_BYTES: '20' };
    const withEnv = resolveConfig({ flags: {}, env, cwd });
    assert.equal(withEnv.db, 'postgres://app@db.example/audit');
    assert.equal(withEnv.sources.db, 'env');
    assert.equal(withEnv.maxPayloadBytes, 20);

    const withFlag = resolveConfig({ flags: { db: 'flag.db' }, env, cwd });
    assert.equal(withFlag.db, join(cwd, 'flag.db'));
    assert.equal(withFlag.sources.db, 'flag');
    assert.equal(withFlag.maxPayloadBytes, 20, 'settings without a flag still come from the environment');
  });

  it('treats an empty environment variable as unset', () => {
    writeConfig({ db: 'from-file.db' });
    assert.equal(resolveConfig({ flags: {}, env: { SEALTRAIL_DB: '' }, cwd }).sources.db, 'file');
  });

  it('reads the file named by --config before the one named by SEALTRAIL_CONFIG, and both before ./sealtrail.config.json', () => {
    writeConfig({ maxPayloadBytes: 1 });
    writeConfig({ maxPayloadBytes: 2 }, 'env.json');
    writeConfig({ maxPayloadBytes: 3 }, 'flag.json');
    const env = { SEALTRAIL_CONFIG: 'env.json' };
    assert.equal(resolveConfig({ flags: {}, env: {}, cwd }).maxPayloadBytes, 1);
    assert.equal(resolveConfig({ flags: {}, env, cwd }).maxPayloadBytes, 2);
    const chosen = resolveConfig({ flags: { config: 'flag.json' }, env, cwd });
    assert.equal(chosen.maxPayloadBytes, 3);
    assert.equal(chosen.configFile, join(cwd, 'flag.json'));
  });

  it('resolves relative paths in a config file against its directory and flag/env paths against the cwd', () => {
    mkdirSync(join(cwd, 'etc'));
    writeConfig({ db: 'ledger.db', keyFile: 'keys/signer.key', sinks: ['file:anchors.txt', 'git:anchors'] }, 'etc/conf.json');
    const config = resolveConfig({ flags: { config: 'etc/conf.json' }, env: { SEALTRAIL_KEY_FILE: 'k.key' }, cwd });
    assert.equal(config.db, join(cwd, 'etc', 'ledger.db'));
    assert.equal(config.keyFile, join(cwd, 'k.key'));
    assert.deepEqual(config.sinks, [`file:${join(cwd, 'etc', 'anchors.txt')}`, `git:${join(cwd, 'etc', 'anchors')}`]);
  });

  it('splits SEALTRAIL_SINKS on commas', () => {
    const config = resolveConfig({ flags: {}, env: { SEALTRAIL_SINKS: 'file:/a.txt, witness:https://witness.example/add' }, cwd });
    assert.deepEqual(config.sinks, ['file:/a.txt', 'witness:https://witness.example/add']);
    assert.equal(config.sources.sinks, 'env');
  });

  it('fills monitor settings the file leaves out with their defaults', () => {
    writeConfig({ monitor: { interval: '15m', webhook: 'https://alerts.example/hook', sinkMaxAge: '2d' } });
    const { monitor } = resolveConfig({ flags: {}, env: {}, cwd });
    assert.deepEqual(monitor, {
      interval: '15m',
      window: '24h',
      stateFile: join(cwd, '.sealtrail', 'monitor-state.json'),
      webhook: 'https://alerts.example/hook',
      sinkMaxAge: '2d',
    });
  });
});

describe('resolveConfig validation', () => {
  it('rejects a config file that is not JSON, naming the file', () => {
    const path = writeConfig('{ "db": ');
    rejects(() => resolveConfig({ flags: {}, env: {}, cwd }), 'config_invalid', new RegExp(`${path}.*not valid JSON`));
  });

  it('rejects a config file that is not an object', () => {
    writeConfig([1, 2]);
    rejects(() => resolveConfig({ flags: {}, env: {}, cwd }), 'config_invalid', /must contain a JSON object/);
  });

  it('rejects unknown keys, top level and nested', () => {
    writeConfig({ db: 'x.db', databse: 'typo.db' });
    rejects(() => resolveConfig({ flags: {}, env: {}, cwd }), 'config_invalid', /unknown key "databse"/);
    writeConfig({ monitor: { intervall: '1h' } });
    rejects(() => resolveConfig({ flags: {}, env: {}, cwd }), 'config_invalid', /"monitor" has unknown key "intervall"/);
  });

  it('rejects wrong types, naming the key and the source', () => {
    writeConfig({ maxPayloadBytes: '1mb' });
    rejects(() => resolveConfig({ flags: {}, env: {}, cwd }), 'config_invalid', /config file .*"maxPayloadBytes" must be a positive integer, got "1mb"/);
    writeConfig({ sinks: 'file:/x' });
    rejects(() => resolveConfig({ flags: {}, env: {}, cwd }), 'config_invalid', /"sinks" must be an array of strings/);
    writeConfig({ vkeys: ['not a key'] });
    rejects(() => resolveConfig({ flags: {}, env: {}, cwd }), 'config_invalid', /"vkeys\[0\]" must be a verifier key/);
    writeConfig({ monitor: { window: 'a day' } });
    rejects(() => resolveConfig({ flags: {}, env: {}, cwd }), 'config_invalid', /"monitor.window" must be a duration/);
  });

  it('rejects bad environment values, naming the variable', () => {
    rejects(
      () => resolveConfig({ flags: {}, env: { SEALTRAIL_MAX_PAYLOAD_BYTES: '0' }, cwd }),
      'config_invalid',
      /^environment SEALTRAIL_MAX_PAYLOAD_BYTES must be a positive integer/,
    );
    rejects(
      () => resolveConfig({ flags: {}, env: { SEALTRAIL_SINKS: 'ftp:/x' }, cwd }),
      'config_invalid',
      /^environment SEALTRAIL_SINKS must be a sink spec/,
    );
    rejects(
      () => resolveConfig({ flags: {}, env: { SEALTRAIL_SINKS: 'witness:not-a-url' }, cwd }),
      'config_invalid',
      /http:\/\/ or https:\/\/ URL/,
    );
  });

  it('rejects a database URL of another kind without showing its password', () => {
    assert.throws(
      () => resolveConfig({ flags: { db: 'mysql://root:hunter2@db/audit' }, env: {}, cwd }),
      (err: unknown) => {
        assert.ok(isSealtrailError(err, 'unsupported_database_url'));
        assert.match(err.message, /^--db /);
        assert.doesNotMatch(err.message, /hunter2/);
        return true;
      },
    );
  });

  it('reports a missing explicitly named config file', () => {
    rejects(
      () => resolveConfig({ flags: {}, env: { SEALTRAIL_CONFIG: 'nope.json' }, cwd }),
      'config_invalid',
      /nope\.json does not exist \(named by environment SEALTRAIL_CONFIG\)/,
    );
  });
});

describe('parseDuration', () => {
  it('converts each unit to milliseconds', () => {
    assert.equal(parseDuration('250ms'), 250);
    assert.equal(parseDuration('15s'), 15_000);
    assert.equal(parseDuration('30m'), 1_800_000);
    assert.equal(parseDuration('1h'), 3_600_000);
    assert.equal(parseDuration('24h'), 86_400_000);
    assert.equal(parseDuration('2d'), 172_800_000);
  });

  for (const junk of ['', 'h', '1', '1 h', '-1h', '1.5h', '0s', '1w', 'abc', '99999999999999999d']) {
    it(`rejects ${JSON.stringify(junk)} with invalid_argument`, () => {
      rejects(() => parseDuration(junk), 'invalid_argument', /invalid duration/);
    });
  }
});
