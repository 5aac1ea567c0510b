/**
 * Settings validation: every refusal is pipeline_settings_invalid naming the YAML path and rule,
 * and nothing is recorded (the database stays without pipeline runs). Good settings compile to the
 * same canonical hash however they are spelled (key order, defaults left out).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { openLedger } from '../../../src/ledger/ledger.js';
import { compileSettings, parseSettingsYaml } from '../../../src/pipeline/engine/pipeline-settings.js';
import { runPipeline } from '../../../src/pipeline/engine/run-pipeline.js';
import { PipelineRecorder } from '../../../src/pipeline/pipeline-recorder.js';
import { sqliteUrl } from '../../helpers/databases.js';

const base = () => ({
  source: { plugin: 'csv', on_success: 'raw', options: { path: 'in.csv', on_validation_failure: 'discard' } },
  transforms: [{ name: 't1', plugin: 'passthrough', input: 'raw', on_success: 'mid', on_error: 'discard' }],
  gates: [{ name: 'g', input: 'mid', condition: 'row.v > 1', routes: { true: 'big', false: 'out' } }],
  sinks: { out: { plugin: 'json', options: { path: 'out.jsonl' } }, big: { plugin: 'json', options: { path: 'big.jsonl' } } },
});

type Mutate = (s: ReturnType<typeof base> & Record<string, unknown>) => void;

const CASES: { name: string; mutate: Mutate; path: string; rule: string }[] = [
  { name: 'unknown top-level key', mutate: (s) => (s.sink = {}), path: 'sink', rule: 'unknown_key' },
  { name: 'unknown transform key', mutate: (s) => ((s.transforms[0] as Record<string, unknown>).on_succes = 'x'), path: 'transforms[0].on_succes', rule: 'unknown_key' },
  { name: 'unknown plugin option', mutate: (s) => ((s.sinks.out.options as Record<string, unknown>).pth = 'x'), path: 'sinks.out.options.pth', rule: 'unknown_key' },
  { name: 'unknown source plugin', mutate: (s) => (s.source.plugin = 'xml'), path: 'source.plugin', rule: 'unknown_plugin' },
  { name: 'unknown transform plugin', mutate: (s) => (s.transforms[0]!.plugin = 'llm'), path: 'transforms[0].plugin', rule: 'unknown_plugin' },
  { name: 'a sink plugin used as a transform', mutate: (s) => (s.transforms[0]!.plugin = 'csv'), path: 'transforms[0].plugin', rule: 'unknown_plugin' },
  { name: 'dangling on_success', mutate: (s) => (s.transforms[0]!.on_success = 'nowhere'), path: 'transforms[0].on_success', rule: 'dangling' },
  { name: 'dangling gate route', mutate: (s) => (s.gates[0]!.routes.true = 'nowhere'), path: 'gates[0].routes.true', rule: 'dangling' },
  { name: 'dangling on_error', mutate: (s) => (s.transforms[0]!.on_error = 'nowhere'), path: 'transforms[0].on_error', rule: 'dangling' },
  { name: 'missing on_error', mutate: (s) => delete (s.transforms[0] as Record<string, unknown>).on_error, path: 'transforms[0].on_error', rule: 'missing_on_error' },
  { name: 'missing on_validation_failure', mutate: (s) => delete (s.source.options as Record<string, unknown>).on_validation_failure, path: 'source.options.on_validation_failure', rule: 'required' },
  {
    name: 'a cycle',
    mutate: (s) => {
      s.transforms.push({ name: 't2', plugin: 'passthrough', input: 'loop', on_success: 'raw2', on_error: 'discard' }, { name: 't3', plugin: 'passthrough', input: 'raw2', on_success: 'loop', on_error: 'discard' });
      s.gates[0]!.routes.false = 'loop';
    },
    path: 'transforms[1]',
    rule: 'cycle',
  },
  { name: 'a sink nobody reaches', mutate: (s) => ((s.sinks as Record<string, unknown>).spare = { plugin: 'json', options: { path: 's.jsonl' } }), path: 'sinks.spare', rule: 'unreachable' },
  { name: 'a transform nobody feeds', mutate: (s) => s.transforms.push({ name: 'orphan', plugin: 'passthrough', input: 'nothing', on_success: 'out', on_error: 'discard' }), path: 'transforms[1]', rule: 'unreachable' },
  { name: 'two consumers of one connection', mutate: (s) => s.transforms.push({ name: 't9', plugin: 'passthrough', input: 'raw', on_success: 'out', on_error: 'discard' }), path: 'transforms[1].input', rule: 'ambiguous' },
  { name: 'a CEL syntax error', mutate: (s) => (s.gates[0]!.condition = 'row.v >'), path: 'gates[0].condition', rule: 'cel' },
  { name: 'a CEL variable other than row', mutate: (s) => (s.gates[0]!.condition = 'v > 1'), path: 'gates[0].condition', rule: 'cel' },
  { name: 'a CEL result that is no route label', mutate: (s) => (s.gates[0]!.condition = '1 + 2'), path: 'gates[0].condition', rule: 'cel_type' },
  { name: 'fork without fork_to', mutate: (s) => (s.gates[0]!.routes.true = 'fork'), path: 'gates[0].routes.true', rule: 'fork_without_branches' },
  { name: 'a fork branch going nowhere', mutate: (s) => Object.assign(s.gates[0]!, { routes: { true: 'fork', false: 'out' }, fork_to: ['big', 'nowhere'] }), path: 'gates[0].fork_to[1]', rule: 'dangling' },
  { name: 'coalesce (not supported yet)', mutate: (s) => (s.coalesce = [{ name: 'c' }]), path: 'coalesce', rule: 'unsupported' },
  { name: 'a failsink that does not exist', mutate: (s) => ((s.sinks.out as Record<string, unknown>).failsink = 'nope'), path: 'sinks.out.failsink', rule: 'dangling' },
  { name: 'a bad retry value', mutate: (s) => (s.retry = { max_attempts: 0 }), path: 'retry.max_attempts', rule: 'type' },
  { name: 'a duplicate node name', mutate: (s) => (s.gates[0]!.name = 't1'), path: 'gates[0].name', rule: 'duplicate' },
  { name: 'an http URL with credentials', mutate: (s) => Object.assign(s.transforms[0]!, { plugin: 'http', options: { url: 'http://u:secret@127.0.0.1/' } }), path: 'transforms[0].options.url', rule: 'credentials' },
];

describe('pipeline settings validation', () => {
  for (const c of CASES) {
    it(`refuses ${c.name}, naming ${c.path}`, () => {
      const s = base() as ReturnType<typeof base> & Record<string, unknown>;
      c.mutate(s);
      assert.throws(
        () => compileSettings(s),
        (e: { code?: string; details?: { path?: string; rule?: string }; message: string }) => {
          assert.equal(e.code, 'pipeline_settings_invalid', e.message);
          assert.deepEqual({ path: e.details?.path, rule: e.details?.rule }, { path: c.path, rule: c.rule }, e.message);
          assert.ok(!e.message.includes('secret'), 'no credentials in the message');
          return true;
        },
      );
    });
  }

  it('refuses invalid YAML and duplicate keys', () => {
    for (const text of ['source: [unclosed', 'sinks: {}\nsinks: {}\n']) {
      assert.throws(() => parseSettingsYaml(text), (e: { code?: string; details?: { rule?: string } }) => e.code === 'pipeline_settings_invalid' && e.details?.rule === 'yaml');
    }
  });

  it('canonical settings and their hash do not depend on spelling or defaults', () => {
    const a = compileSettings(base());
    const yaml = `
sinks:
  big: { options: { path: big.jsonl }, plugin: json }
  out: { plugin: json, options: { path: out.jsonl }, failsink: discard, required_fields: [] }
gates:
  - { name: g, input: mid, condition: "row.v > 1", routes: { "true": big, "false": out } }
transforms:
  - { name: t1, plugin: passthrough, input: raw, on_success: mid, on_error: discard, options: {} }
source: { plugin: csv, on_success: raw, options: { on_validation_failure: discard, path: in.csv } }
`;
    const b = compileSettings(parseSettingsYaml(yaml));
    assert.equal(a.settingsHash, b.settingsHash);
    assert.notEqual(compileSettings({ ...base(), retry: { max_attempts: 2 } }).settingsHash, a.settingsHash);
  });

  it('a refused configuration records nothing', async () => {
    const url = sqliteUrl();
    const s = base() as ReturnType<typeof base> & Record<string, unknown>;
    s.transforms[0]!.on_success = 'nowhere';
    await assert.rejects(runPipeline(s, { db: url }), { code: 'pipeline_settings_invalid' });
    const ledger = await openLedger({ url });
    try {
      assert.deepEqual(await new PipelineRecorder(ledger).listRuns(), []);
    } finally {
      await ledger.close();
    }
  });
});
