/**
 * Property: over random linear pipelines (0–3 transforms among passthrough, truncate and
 * keyword_filter, with random on_error, and an optional gate) and random inputs, on SQLite, every
 * token has exactly one terminal outcome, the rows in each sink's file equal the outcomes
 * recorded at that sink, every source row is accounted for, and the sweep is empty. Replay a
 * failure with the seed printed by test/helpers/replay.ts.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import '../../helpers/replay.js';
import { replayHint } from '../../helpers/replay.js';
import { sqliteUrl } from '../../helpers/databases.js';
import { assertSweepEmpty, runIn, workDir } from './engine-fixtures.js';

const transformArb = fc.record({
  plugin: fc.constantFrom('passthrough', 'truncate', 'keyword_filter'),
  onError: fc.constantFrom('discard', 'errors'),
});
const pipelineArb = fc.record({
  transforms: fc.array(transformArb, { maxLength: 3 }),
  gate: fc.option(fc.integer({ min: 0, max: 5 }), { nil: undefined }),
  rows: fc.array(fc.record({ v: fc.integer({ min: 0, max: 5 }), text: fc.constantFrom('plain', 'has x', 'long text here', '') }), { maxLength: 12 }),
});

describe('pipeline engine property (sqlite)', () => {
  it('random linear pipelines: one terminal per token, sink files match outcomes, empty sweep', async () => {
    await fc.assert(
      fc.asyncProperty(pipelineArb, async ({ transforms, gate, rows }) => {
        const dir = workDir({ 'in.json': JSON.stringify(rows) });
        const conn = (i: number) => `c${i}`;
        const ts = transforms.map((t, i) => ({
          name: `t${i}`,
          plugin: t.plugin,
          input: conn(i),
          on_success: conn(i + 1),
          on_error: t.onError,
          options: t.plugin === 'truncate' ? { fields: { text: 4 } } : t.plugin === 'keyword_filter' ? { blocked: ['x'] } : {},
        }));
        const last = conn(transforms.length);
        // The last connection feeds the gate if there is one, else the main sink.
        ts.forEach((t) => {
          if (t.on_success === last && gate === undefined) t.on_success = 'out';
        });
        const settings = {
          source: { plugin: 'json', on_success: transforms.length === 0 ? (gate === undefined ? 'out' : last) : conn(0), options: { path: 'in.json', on_validation_failure: 'discard' } },
          transforms: ts,
          gates: gate === undefined ? [] : [{ name: 'g', input: last, condition: `row.v > ${gate}`, routes: { true: 'high', false: 'out' } }],
          sinks: {
            out: { plugin: 'json', options: { path: 'out.jsonl' } },
            // Sinks nobody can reach are refused, so only the ones this pipeline can reach exist.
            ...(gate === undefined ? {} : { high: { plugin: 'json', options: { path: 'high.jsonl' } } }),
            ...(transforms.some((t) => t.onError === 'errors') ? { errors: { plugin: 'json', options: { path: 'errors.jsonl' } } } : {}),
          },
        };
        const r = await runIn(sqliteUrl(), dir, settings);
        try {
          const rec = r.audit.records;
          assert.equal(rec.pipeline_rows.length, rows.length, replayHint());
          const terminal = rec.pipeline_token_outcomes.filter((o) => o.is_terminal === 1);
          assert.equal(terminal.length, rec.pipeline_tokens.length, replayHint());
          assert.equal(new Set(terminal.map((o) => o.token_id)).size, terminal.length, replayHint());
          for (const sink of Object.keys(settings.sinks)) {
            const file = join(dir, `${sink}.jsonl`);
            const lines = existsSync(file) ? r.read(`${sink}.jsonl`).split('\n').filter((l) => l !== '').length : 0;
            assert.equal(lines, terminal.filter((o) => o.sink_name === sink).length, `${sink}: ${replayHint()}`);
            assert.equal(r.result.written[sink] ?? 0, lines, replayHint());
          }
          await assertSweepEmpty(r.ledger, r.result.runId);
        } finally {
          await r.ledger.close();
        }
      }),
      { numRuns: 12 },
    );
  });
});
