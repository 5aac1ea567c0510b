import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compareCodePoints } from '../../src/core/compare-code-points.js';
import { compareFindings, type ScanFinding } from '../../src/ledger/scan.js';

test('scan output is ordered by code point, whatever the locale', () => {
  // UTF-16 order (and `<`) would put the astral 😀 before U+E000; a locale would fold case.
  const pks = ['😀', '\uE000', 'b', 'B', 'a', 'é'];
  assert.deepEqual([...pks].sort(compareCodePoints), ['B', 'a', 'b', 'é', '\uE000', '😀']);
  const findings: ScanFinding[] = pks.map((pk) => ({ type: 'deleted', event_kind: 'k', event_pk: pk, seq: 1 }));
  assert.deepEqual(findings.sort(compareFindings).map((f) => f.event_pk), ['B', 'a', 'b', 'é', '\uE000', '😀']);
});
