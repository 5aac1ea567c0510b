import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { printable, printResult, reportError, toJson, toSealtrailError } from '../../src/cli/output.js';
import { SealtrailError } from '../../src/core/errors.js';

function capture(): { write(text: string): void; text: string } {
  return {
    text: '',
    write(text: string) {
      this.text += text;
    },
  };
}

function report(err: unknown, options: { debug?: boolean; json?: boolean } = {}) {
  const stdout = capture();
  const stderr = capture();
  const status = reportError(err, { debug: options.debug ?? false, json: options.json ?? false, stdout, stderr });
  return { status, stdout: stdout.text, stderr: stderr.text };
}

describe('printResult', () => {
  it('prints human text, computing it lazily, without --json', () => {
    const stdout = capture();
    printResult({ json: false, stdout }, () => 'head 42', { size: 42 });
    assert.equal(stdout.text, 'head 42\n');
  });

  it('prints exactly one JSON line with --json and never computes the human text', () => {
    const stdout = capture();
    printResult({ json: true, stdout }, () => assert.fail('human text computed'), { size: 42n, root: new Uint8Array([0xab, 0x01]) });
    assert.equal(stdout.text, '{"size":42,"root":"ab01"}\n');
  });

  it('keeps bigints beyond 2^53 exact by writing them as strings', () => {
    assert.equal(toJson({ n: 2n ** 64n }), '{"n":"18446744073709551616"}');
  });
});

describe('reportError', () => {
  it('prints one line with message and code and returns the catalogue exit status', () => {
    const result = report(new SealtrailError('integrity_failure', 'entry 7 does not match its chain hash'));
    assert.equal(result.status, 1);
    assert.equal(result.stderr, 'sealtrail: entry 7 does not match its chain hash [integrity_failure]\n');
    assert.equal(result.stdout, '');
  });

  it('folds a multi-line message onto one line', () => {
    const result = report(new SealtrailError('invalid_argument', 'bad\n  input'));
    assert.equal(result.stderr, 'sealtrail: bad input [invalid_argument]\n');
  });

  it('with --json also prints {"error":{code,message,details}} on stdout', () => {
    const result = report(new SealtrailError('out_of_range', 'no entry 9', { details: { seq: 9 } }), { json: true });
    assert.deepEqual(JSON.parse(result.stdout), { error: { code: 'out_of_range', message: 'no entry 9', details: { seq: 9 } } });
  });

  it('shows the stack and causes only with --debug', () => {
    const err = new SealtrailError('database_error', 'insert failed', { cause: new Error('disk I/O error') });
    assert.doesNotMatch(report(err).stderr, /\bat /);
    const debug = report(err, { debug: true }).stderr;
    assert.match(debug, /\n\s+at /);
    assert.match(debug, /Caused by: Error: disk I\/O error/);
    assert.match(debug, /sealtrail: insert failed \[database_error\]\n$/);
  });

  it('maps an unexpected error to internal (exit 2) without a stack', () => {
    const result = report(new TypeError('x is undefined'));
    assert.equal(result.status, 2);
    assert.equal(result.stderr, 'sealtrail: internal error: TypeError: x is undefined [internal] (run with --debug for details)\n');
  });

  it('maps PostgreSQL connection failures to database_unreachable', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    assert.equal(toSealtrailError(refused).code, 'database_unreachable');
    const dns = Object.assign(new Error('getaddrinfo ENOTFOUND db.invalid'), { code: 'ENOTFOUND' });
    assert.equal(toSealtrailError(dns).code, 'database_unreachable');
    const auth = Object.assign(new Error('password authentication failed for user "app"'), { code: '28P01' });
    assert.equal(toSealtrailError(auth).code, 'database_unreachable');
    const multi = Object.assign(new AggregateError([refused], ''), { code: 'ECONNREFUSED' });
    const mapped = toSealtrailError(multi);
    assert.equal(mapped.code, 'database_unreachable');
    assert.match(mapped.message, /ECONNREFUSED 127\.0\.0\.1:5432/);
  });

  it('maps SQLite open failures to database_unreachable', () => {
    const cantOpen = Object.assign(new Error('unable to open database file'), { code: 'SQLITE_CANTOPEN' });
    assert.equal(toSealtrailError(cantOpen).code, 'database_unreachable');
    const noDir = new TypeError('Cannot open database because the directory does not exist');
    assert.equal(report(noDir).status, 2);
    assert.equal(toSealtrailError(noDir).code, 'database_unreachable');
  });

  it('does not treat any missing file as an unreachable database', () => {
    const missing = Object.assign(new Error("ENOENT: no such file or directory, open 'x.json'"), { code: 'ENOENT' });
    assert.equal(toSealtrailError(missing).code, 'internal');
  });
});

describe('printable', () => {
  it('escapes C0, DEL, C1 and bidi controls; keeps layout only when asked', () => {
    assert.equal(printable('a\u001b[2Kb'), 'a\\x1b[2Kb');
    assert.equal(printable('\u0000\u0007\u007f\u0080\u009b'), '\\x00\\x07\\x7f\\x80\\x9b');
    assert.equal(printable('x\u202ey\u2066z\u2069\u202a'), 'x\\u202ey\\u2066z\\u2069\\u202a');
    assert.equal(printable('line\nnext\tcol\r'), 'line\\x0anext\\x09col\\x0d');
    assert.equal(printable('line\nnext\tcol\r', { layout: true }), 'line\nnext\tcol\\x0d');
    assert.equal(printable('ünïcode ✓ 日本'), 'ünïcode ✓ 日本');
  });

  it('human results, notes and errors are escaped; JSON stays exact', () => {
    const stdout = capture();
    printResult({ json: false, stdout }, 'pk \u001b[1A\rok', { pk: '\u001b' });
    assert.equal(stdout.text, 'pk \\x1b[1A\\x0dok\n');
    const json = capture();
    printResult({ json: true, stdout: json }, 'ignored', { pk: '\u001b[1A\u202e' });
    assert.equal(JSON.parse(json.text).pk, '\u001b[1A\u202e');
    const r = report(new SealtrailError('duplicate_event', 'event x/\u001b]0;pwned\u0007 exists'));
    assert.equal(r.stderr, 'sealtrail: event x/\\x1b]0;pwned\\x07 exists [duplicate_event]\n');
  });
});
