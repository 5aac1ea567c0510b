import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ERROR_CATALOGUE, errorCodes, type ErrorCode } from '../../src/core/errors.js';

interface DocRow {
  code: string;
  meaning: string;
  exit: number;
  http: number;
}

/** Rows of the one table in docs/errors.md whose header is `| code | meaning | exit | HTTP |`. */
function documentedCodes(): DocRow[] {
  const text = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
  const cells = (line: string): string[] =>
    line
      .trim()
      .replace(/^\||\|$/g, '')
      .split('|')
      .map((cell) => cell.trim());
  const lines = text.split('\n');
  const header = lines.findIndex((line) => /^\|\s*code\s*\|/i.test(line.trim()));
  assert.ok(header >= 0, 'docs/errors.md has a table headed | code | meaning | exit | HTTP |');
  assert.deepEqual(cells(lines[header] ?? '').map((c) => c.toLowerCase()), ['code', 'meaning', 'exit', 'http']);

  const rows: DocRow[] = [];
  for (const line of lines.slice(header + 2)) {
    if (!line.trim().startsWith('|')) break;
    const [code = '', meaning = '', exit = '', http = ''] = cells(line);
    rows.push({ code: code.replace(/`/g, ''), meaning, exit: Number(exit), http: Number(http) });
  }
  return rows;
}

describe('error catalogue and docs/errors.md', () => {
  const rows = documentedCodes();
  const byCode = new Map(rows.map((row) => [row.code, row]));

  it('documents every code once', () => {
    assert.equal(byCode.size, rows.length, 'no code appears twice in the table');
  });

  for (const code of errorCodes()) {
    it(`documents ${code} with the catalogue's exit and HTTP status`, () => {
      const row = byCode.get(code);
      assert.ok(row, `${code} is missing from docs/errors.md`);
      assert.ok(row.meaning.length > 10, `${code} has a meaning written out`);
      assert.equal(row.exit, ERROR_CATALOGUE[code].exit, `exit status of ${code}`);
      assert.equal(row.http, ERROR_CATALOGUE[code].http, `HTTP status of ${code}`);
    });
  }

  it('documents no code that the catalogue lacks', () => {
    const unknown = rows.map((row) => row.code).filter((code) => !Object.hasOwn(ERROR_CATALOGUE, code as ErrorCode));
    assert.deepEqual(unknown, []);
  });
});
