/**
 * The capture commands as a user sees them, through the real CLI on a real PostgreSQL: names that
 * come from the database are escaped in human output (a pk or table name cannot forge "scan: ok"
 * or repaint the screen), and scan and sequence draw progress on a terminal.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { postgresUrl, tempDir } from '../helpers/databases.js';
import { sealtrail } from '../helpers/cli.js';

const evilTable = 'log\u001b[2J\u001b[Hx';
const evilPk = 'p1\u001b[2K\r\nscan: ok\u202e';

async function sql(url: string, text: string, params: unknown[] = []): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(text, params);
  } finally {
    await client.end();
  }
}

const quotedIdent = (name: string) => `"${name.replace(/"/g, '""')}"`;

describe('capture commands in human output', () => {
  it('scan escapes table names and pks: a row edited under an evil pk is one finding line, never a forged "scan: ok"', async () => {
    const db = await postgresUrl();
    assert.equal((await sealtrail(['init', '--db', db])).status, 0);
    await sql(db, `CREATE TABLE ${quotedIdent(evilTable)} (id text PRIMARY KEY, msg text)`);
    // The argument is a table name as PostgreSQL parses it: quoted, since it holds control characters.
    const watch = await sealtrail(['watch', quotedIdent(evilTable), '--db', db]);
    assert.equal(watch.status, 0, watch.stderr);
    assert.equal(watch.stdout.includes('\u001b'), false);
    await sql(db, `INSERT INTO ${quotedIdent(evilTable)} VALUES ($1, 'a'), ('p2', 'b')`, [evilPk]);
    await sql(db, `UPDATE ${quotedIdent(evilTable)} SET msg = 'rewritten' WHERE id = $1`, [evilPk]);

    const scan = await sealtrail(['scan', '--db', db]);
    assert.equal(scan.status, 1, scan.stderr);
    for (const c of ['\u001b', '\r', '\u202e']) assert.equal(scan.stdout.includes(c), false, JSON.stringify(scan.stdout));
    const lines = scan.stdout.trimEnd().split('\n');
    assert.equal(lines.includes('scan: ok'), false, scan.stdout);
    assert.match(scan.stdout, /^edited: "log\\x1b\[2J\\x1b\[Hx" p1\\x1b\[2K\\x0d\\x0ascan: ok\\u202e \(seq \d+\)$/m);
    assert.match(lines[lines.length - 1]!, /^scan: 1 finding\(s\)/);

    // --json keeps the names exactly.
    const json = await sealtrail(['scan', '--db', db, '--json']);
    const report = JSON.parse(json.stdout) as { findings: Array<{ event_pk: string; event_kind: string }> };
    assert.equal(report.findings[0]!.event_pk, evilPk);
  });
});

// `script` gives the child a pseudo-terminal, so the progress line (drawn only on a TTY) is seen.
const script = (() => {
  try {
    execFileSync('script', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

const mainTs = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

function onTerminal(args: string[]): string {
  const command = [process.execPath, '--import', import.meta.resolve('tsx'), mainTs, ...args].map(shellQuote).join(' ');
  return execFileSync('script', ['-qec', command, '/dev/null'], { cwd: tempDir(), env: { PATH: process.env['PATH'] ?? '' }, encoding: 'utf8' });
}

describe('capture commands on a terminal', { skip: script ? false : 'needs script(1) for a pseudo-terminal' }, () => {
  it('sequence --once and scan draw a progress line with their counts', async () => {
    const db = await postgresUrl();
    assert.equal((await sealtrail(['init', '--db', db])).status, 0);
    await sql(db, 'CREATE TABLE queued_rows (id int PRIMARY KEY)');
    assert.equal((await sealtrail(['watch', 'queued_rows', '--mode', 'queued', '--db', db])).status, 0);
    await sql(db, 'INSERT INTO queued_rows SELECT generate_series(1, 1234)');

    const sequence = onTerminal(['sequence', '--once', '--db', db]);
    assert.match(sequence, /\rsequence 1,234 [\d,]+\/s/);
    assert.match(sequence, /chained 1234 captured events \(queued and wal\)/);

    const scan = onTerminal(['scan', '--db', db]);
    assert.match(scan, /\rscan queued_rows 1,234 [\d,]+\/s/);
    assert.match(scan, /scan: ok/);
  });
});

