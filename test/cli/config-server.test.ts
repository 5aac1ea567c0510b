import { describe, it, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveConfig } from '../../src/cli/config.js';
import { isSealtrailError } from '../../src/core/errors.js';

let cwd: string;
beforeEach(() => {
  cwd = mkdtempSync(join(tmpdir(), 'sealtrail-config-server-'));
});
afterEach(() => {
  rmSync(cwd, { recursive: true, force: true });
});

function withFile(values: unknown) {
  writeFileSync(join(cwd, 'sealtrail.config.json'), JSON.stringify(values));
  return resolveConfig({ flags: {}, env: {}, cwd });
}

function refused(values: unknown, pattern: RegExp): void {
  assert.throws(
    () => withFile(values),
    (err: unknown) => isSealtrailError(err, 'config_invalid') && pattern.test(err.message),
  );
}

describe('the server settings', () => {
  it('default to loopback port 7070 with no public log reads', () => {
    const config = resolveConfig({ flags: {}, env: {}, cwd });
    assert.deepEqual(config.server, { host: '127.0.0.1', port: 7070, publicLog: false });
    assert.equal(config.sources.server, 'default');
  });

  it('read limits from the config file, noting where they came from', () => {
    const config = withFile({ server: { host: '0.0.0.0', port: 8080, bodyLimit: 4096, rateLimit: 10, rateLimitWindow: '10s', requestTimeout: '5s', publicLog: true, payloads: '/var/lib/p' } });
    assert.deepEqual(config.server, { host: '0.0.0.0', port: 8080, bodyLimit: 4096, rateLimit: 10, rateLimitWindow: '10s', requestTimeout: '5s', publicLog: true, payloads: '/var/lib/p' });
    assert.equal(config.sources.server, 'file');
  });

  it('refuse unknown keys and bad values, naming the key', () => {
    refused({ server: { prot: 1 } }, /"server" has unknown key "prot"/);
    refused({ server: { port: 70000 } }, /"server.port" must be a TCP port/);
    refused({ server: { rateLimit: 0 } }, /"server.rateLimit" must be a positive integer/);
    refused({ server: { requestTimeout: 'soon' } }, /"server.requestTimeout" must be a duration/);
    refused({ server: { publicLog: 'yes' } }, /"server.publicLog" must be true or false/);
    refused({ server: { payloads: '' } }, /"server.payloads"/);
    refused({ server: { logLevel: 'loud' } }, /"server.logLevel" must be one of error, warn, info, debug/);
  });
});
