/**
 * Pipeline settings (docs/pipelines.md): parsed from YAML or given as an object, validated whole
 * before anything runs, and compiled into a graph of plugin instances. Nodes are wired by
 * connection names: a node emits on `on_success` (a connection another node takes as `input`, or
 * a sink name) and gate routes name sinks, connections or `fork`. Every refusal is a
 * pipeline_settings_invalid error whose `details.path` names the offending place.
 */
import { Environment } from '@marcbachmann/cel-js';
import { parse as parseYaml } from 'yaml';
import { BUILTIN_PLUGINS } from '../plugins/builtin-plugins.js';
import { stableHash } from '../stable-hash.js';
import { OptionReader, settingsError, type PluginDefinition, type SinkDefinition, type SinkInstance, type SourceDefinition, type SourceInstance, type TransformDefinition, type TransformInstance } from './plugin-api.js';

export const TOP_LEVEL_KEYS = ['source', 'transforms', 'gates', 'coalesce', 'aggregations', 'sinks', 'checkpoint', 'retry', 'landscape'] as const;

export type Target = { kind: 'sink'; name: string } | { kind: 'transform' | 'gate'; name: string };

export interface RetrySettings {
  max_attempts: number;
  initial_delay_ms: number;
  max_delay_ms: number;
  exponential_base: number;
  jitter_ms: number;
}

export interface CompiledSource {
  kind: 'source';
  name: 'source';
  def: SourceDefinition;
  instance: SourceInstance;
  config: Record<string, unknown>;
  onSuccess: Target;
  /** `discard` or a sink name. */
  onValidationFailure: string;
}

export interface CompiledTransform {
  kind: 'transform';
  name: string;
  def: TransformDefinition;
  instance: TransformInstance;
  config: Record<string, unknown>;
  onSuccess: Target;
  /** `discard` or a sink name. */
  onError: string;
}

export interface CompiledGate {
  kind: 'gate';
  name: string;
  config: Record<string, unknown>;
  condition: string;
  evaluate: (row: unknown) => unknown;
  /** Route label → a target or `fork`. */
  routes: Record<string, Target | 'fork'>;
  forkTo: { branch: string; target: Target }[];
}

export interface CompiledSink {
  kind: 'sink';
  name: string;
  def: SinkDefinition;
  instance: SinkInstance;
  config: Record<string, unknown>;
  /** `discard` or another sink's name. */
  failsink: string;
  requiredFields: string[];
}

export type CompiledNode = CompiledSource | CompiledTransform | CompiledGate | CompiledSink;

export interface CompiledPipeline {
  /** The settings with every default filled in: what is recorded on the run and hashed. */
  canonical: Record<string, unknown>;
  settingsHash: string;
  source: CompiledSource;
  transforms: Map<string, CompiledTransform>;
  gates: Map<string, CompiledGate>;
  sinks: Map<string, CompiledSink>;
  /** In registration order: source, transforms, gates, sinks. */
  nodes: CompiledNode[];
  retry: RetrySettings | null;
  landscapeUrl: string | null;
}

export interface LoadOptions {
  /** Plugins added to (or overriding) the built-ins, by name. */
  plugins?: readonly PluginDefinition[];
  /** Relative paths in plugin options resolve against this (default: the working directory). */
  baseDir?: string;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_-]{0,63}$/;
const RESERVED_ROUTES = ['discard', 'fork', 'continue'];

function isMap(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function keysOnly(v: unknown, path: string, allowed: readonly string[], required: readonly string[] = []): Record<string, unknown> {
  if (!isMap(v)) throw settingsError(path, 'type', 'must be a mapping');
  for (const k of Object.keys(v)) if (!allowed.includes(k)) throw settingsError(path === '' ? k : `${path}.${k}`, 'unknown_key', `unknown key (expected one of ${allowed.join(', ')})`);
  for (const k of required) if (v[k] === undefined || v[k] === null) throw settingsError(path === '' ? k : `${path}.${k}`, 'required', 'is required');
  return v;
}

function name(v: unknown, path: string): string {
  if (typeof v !== 'string' || !NAME.test(v)) throw settingsError(path, 'name', 'must be a name of letters, digits, _ or - (at most 64, not starting with a digit)');
  return v;
}

/** Parses settings YAML (any YAML error is a settings error) without validating it. */
export function parseSettingsYaml(text: string): unknown {
  try {
    return parseYaml(text, { prettyErrors: false, uniqueKeys: true });
  } catch (cause) {
    throw settingsError('', 'yaml', `the settings are not valid YAML: ${(cause as Error).message.split('\n')[0]}`);
  }
}

const CEL = new Environment({ unlistedVariablesAreDyn: false }).registerVariable('row', 'map');

/** Validates settings and builds the plugin instances; throws pipeline_settings_invalid naming the path. */
export function compileSettings(input: unknown, options: LoadOptions = {}): CompiledPipeline {
  const baseDir = options.baseDir ?? process.cwd();
  const registry = new Map<string, PluginDefinition>();
  for (const p of [...BUILTIN_PLUGINS, ...(options.plugins ?? [])]) registry.set(`${p.kind}:${p.name}`, p);
  const plugin = <K extends PluginDefinition['kind']>(kind: K, v: unknown, path: string): Extract<PluginDefinition, { kind: K }> => {
    if (typeof v !== 'string' || v === '') throw settingsError(path, 'required', 'must name a plugin');
    const def = registry.get(`${kind}:${v}`);
    if (!def) {
      const known = [...registry.values()].filter((p) => p.kind === kind).map((p) => p.name);
      throw settingsError(path, 'unknown_plugin', `unknown ${kind} plugin ${v} (known: ${known.join(', ')})`);
    }
    if (!['deterministic', 'seeded', 'io_read', 'io_write', 'external_call', 'non_deterministic'].includes(def.determinism)) {
      throw settingsError(path, 'determinism', `plugin ${v} declares no valid determinism class`);
    }
    return def as Extract<PluginDefinition, { kind: K }>;
  };

  const top = keysOnly(input, '', TOP_LEVEL_KEYS, ['source', 'sinks']);
  for (const k of ['coalesce', 'aggregations'] as const) {
    if (top[k] !== undefined && !(Array.isArray(top[k]) && top[k].length === 0)) throw settingsError(k, 'unsupported', `${k} is not supported by this engine version yet (docs/pipelines.md)`);
  }

  // ---- sinks first: every other section refers to them ----
  const sinksIn = top.sinks;
  if (!isMap(sinksIn) || Object.keys(sinksIn).length === 0) throw settingsError('sinks', 'required', 'must map at least one sink name to its settings');
  const sinks = new Map<string, CompiledSink>();
  const sinkCanon: Record<string, unknown> = {};
  for (const [sinkName, raw] of Object.entries(sinksIn)) {
    const path = `sinks.${sinkName}`;
    name(sinkName, path);
    if (RESERVED_ROUTES.includes(sinkName)) throw settingsError(path, 'reserved', `${sinkName} is reserved`);
    const s = keysOnly(raw, path, ['plugin', 'options', 'failsink', 'required_fields'], ['plugin']);
    const def = plugin('sink', s.plugin, `${path}.plugin`);
    const instance = def.create(reader(s.options, `${path}.options`, baseDir));
    const requiredFields = new OptionReader({ required_fields: s.required_fields ?? [] }, path).stringList('required_fields');
    const failsink = s.failsink ?? 'discard';
    if (typeof failsink !== 'string') throw settingsError(`${path}.failsink`, 'type', 'must be a sink name or discard');
    const config = { name: sinkName, plugin: def.name, options: s.options ?? {}, failsink, required_fields: requiredFields };
    sinkCanon[sinkName] = { plugin: def.name, options: s.options ?? {}, failsink, required_fields: requiredFields };
    sinks.set(sinkName, { kind: 'sink', name: sinkName, def, instance, config, failsink, requiredFields });
  }
  for (const s of sinks.values()) {
    if (s.failsink === 'discard') continue;
    if (!sinks.has(s.failsink)) throw settingsError(`sinks.${s.name}.failsink`, 'dangling', `no sink named ${s.failsink}`);
    if (s.failsink === s.name) throw settingsError(`sinks.${s.name}.failsink`, 'cycle', 'a sink cannot be its own failsink');
    if (sinks.get(s.failsink)!.failsink !== 'discard') throw settingsError(`sinks.${s.failsink}.failsink`, 'cycle', `${s.failsink} is a failsink and must itself fail to discard`);
  }
  const sinkOrDiscard = (v: unknown, path: string): string => {
    if (typeof v !== 'string' || v === '') throw settingsError(path, 'required', 'must be a sink name or discard');
    if (v !== 'discard' && !sinks.has(v)) throw settingsError(path, 'dangling', `no sink named ${v}`);
    return v;
  };

  // ---- source ----
  const src = keysOnly(top.source, 'source', ['plugin', 'options', 'on_success'], ['plugin', 'on_success']);
  const sourceDef = plugin('source', src.plugin, 'source.plugin');
  const sourceOptions = reader(src.options, 'source.options', baseDir);
  const onValidationFailure = sinkOrDiscard(sourceOptions.raw('on_validation_failure'), 'source.options.on_validation_failure');
  const sourceInstance = sourceDef.create(sourceOptions);
  const sourceOnSuccess = name(src.on_success, 'source.on_success');

  // ---- transforms and gates: names, inputs ----
  const consumers = new Map<string, { kind: 'transform' | 'gate'; name: string; path: string }>();
  const nodeNames = new Set<string>();
  const claim = (kind: 'transform' | 'gate', nodeName: string, input: string, path: string) => {
    if (nodeNames.has(nodeName) || sinks.has(nodeName) || nodeName === 'source') throw settingsError(`${path}.name`, 'duplicate', `the name ${nodeName} is already used`);
    nodeNames.add(nodeName);
    if (sinks.has(input)) throw settingsError(`${path}.input`, 'ambiguous', `${input} is a sink name; a connection must have its own name`);
    const prior = consumers.get(input);
    if (prior) throw settingsError(`${path}.input`, 'ambiguous', `connection ${input} is already the input of ${prior.path}`);
    consumers.set(input, { kind, name: nodeName, path });
  };
  const transformsIn = top.transforms ?? [];
  if (!Array.isArray(transformsIn)) throw settingsError('transforms', 'type', 'must be a list');
  const gatesIn = top.gates ?? [];
  if (!Array.isArray(gatesIn)) throw settingsError('gates', 'type', 'must be a list');
  const rawTransforms = transformsIn.map((raw: unknown, i) => {
    const path = `transforms[${i}]`;
    const t = keysOnly(raw, path, ['name', 'plugin', 'input', 'on_success', 'on_error', 'options'], ['name', 'plugin', 'input', 'on_success']);
    if (t.on_error === undefined || t.on_error === null) throw settingsError(`${path}.on_error`, 'missing_on_error', 'every transform names where its error results go: a sink name or discard');
    claim('transform', name(t.name, `${path}.name`), name(t.input, `${path}.input`), path);
    return { t, path };
  });
  const rawGates = gatesIn.map((raw: unknown, i) => {
    const path = `gates[${i}]`;
    const g = keysOnly(raw, path, ['name', 'input', 'condition', 'routes', 'fork_to'], ['name', 'input', 'condition', 'routes']);
    claim('gate', name(g.name, `${path}.name`), name(g.input, `${path}.input`), path);
    return { g, path };
  });
  const target = (v: unknown, path: string): Target => {
    const n = typeof v === 'string' ? v : '';
    if (sinks.has(n)) return { kind: 'sink', name: n };
    const c = consumers.get(n);
    if (c) return { kind: c.kind, name: c.name };
    throw settingsError(path, 'dangling', `${String(v)} is neither a sink nor the input of any transform or gate`);
  };

  const source: CompiledSource = {
    kind: 'source',
    name: 'source',
    def: sourceDef,
    instance: sourceInstance,
    config: { name: 'source', plugin: sourceDef.name, options: src.options ?? {}, on_success: sourceOnSuccess },
    onSuccess: target(sourceOnSuccess, 'source.on_success'),
    onValidationFailure,
  };

  const transforms = new Map<string, CompiledTransform>();
  for (const { t, path } of rawTransforms) {
    const def = plugin('transform', t.plugin, `${path}.plugin`);
    const instance = def.create(reader(t.options, `${path}.options`, baseDir));
    const onError = sinkOrDiscard(t.on_error, `${path}.on_error`);
    const config = { name: t.name, plugin: def.name, input: t.input, on_success: t.on_success, on_error: onError, options: t.options ?? {} };
    transforms.set(t.name as string, { kind: 'transform', name: t.name as string, def, instance, config, onSuccess: target(t.on_success, `${path}.on_success`), onError });
  }

  const gates = new Map<string, CompiledGate>();
  for (const { g, path } of rawGates) {
    if (typeof g.condition !== 'string' || g.condition.trim() === '') throw settingsError(`${path}.condition`, 'type', 'must be a CEL expression');
    const checked = CEL.check(g.condition);
    if (!checked.valid) throw settingsError(`${path}.condition`, 'cel', `not a valid CEL expression over row: ${String(checked.error?.message ?? checked.error).split('\n')[0]}`);
    if (!['bool', 'string', 'dyn'].includes(String(checked.type))) throw settingsError(`${path}.condition`, 'cel_type', `must evaluate to a bool or a string route label, not ${String(checked.type)}`);
    const program = CEL.parse(g.condition);
    if (!isMap(g.routes) || Object.keys(g.routes).length === 0) throw settingsError(`${path}.routes`, 'required', 'must map route labels to a sink, a connection or fork');
    const forkTo = g.fork_to === undefined ? [] : new OptionReader({ fork_to: g.fork_to }, path).stringList('fork_to');
    if (new Set(forkTo).size !== forkTo.length) throw settingsError(`${path}.fork_to`, 'duplicate', 'a branch appears twice');
    const routes: Record<string, Target | 'fork'> = {};
    for (const [label, dest] of Object.entries(g.routes)) {
      if (dest === 'fork') {
        if (forkTo.length === 0) throw settingsError(`${path}.routes.${label}`, 'fork_without_branches', 'routes to fork but the gate has no fork_to');
        routes[label] = 'fork';
      } else routes[label] = target(dest, `${path}.routes.${label}`);
    }
    for (const b of forkTo) if (b in routes) throw settingsError(`${path}.fork_to`, 'duplicate', `branch ${b} is also a route label`);
    if (forkTo.length > 0 && !Object.values(routes).includes('fork')) throw settingsError(`${path}.fork_to`, 'fork_unused', 'fork_to is set but no route says fork');
    const config = { name: g.name, input: g.input, condition: g.condition, routes: g.routes, fork_to: forkTo };
    gates.set(g.name as string, {
      kind: 'gate',
      name: g.name as string,
      config,
      condition: g.condition,
      evaluate: (row) => program({ row }),
      routes,
      forkTo: forkTo.map((b, i) => ({ branch: b, target: target(b, `${path}.fork_to[${i}]`) })),
    });
  }

  const retry = top.retry === undefined || top.retry === null ? null : readRetry(top.retry);
  let landscapeUrl: string | null = null;
  if (top.landscape !== undefined && top.landscape !== null) {
    const l = new OptionReader(top.landscape, 'landscape');
    landscapeUrl = l.optString('url') ?? null;
    l.done();
  }
  if (top.checkpoint !== undefined && top.checkpoint !== null) {
    const c = new OptionReader(top.checkpoint, 'checkpoint');
    if (c.bool('enabled', false)) throw settingsError('checkpoint.enabled', 'unsupported', 'checkpoint and resume are not supported by this engine version yet (docs/pipelines.md)');
    c.raw('frequency');
    c.done();
  }

  const pipeline: CompiledPipeline = {
    canonical: {},
    settingsHash: '',
    source,
    transforms,
    gates,
    sinks,
    nodes: [source, ...transforms.values(), ...gates.values(), ...sinks.values()],
    retry,
    landscapeUrl,
  };
  checkGraph(pipeline, rawTransforms.map((r) => r.path), rawGates.map((r) => r.path));
  pipeline.canonical = {
    source: { plugin: sourceDef.name, on_success: sourceOnSuccess, options: src.options ?? {} },
    transforms: [...transforms.values()].map((t) => t.config),
    gates: [...gates.values()].map((g) => g.config),
    coalesce: [],
    aggregations: [],
    sinks: sinkCanon,
    checkpoint: { enabled: false },
    retry,
    // The ledger URL may hold a password: it is not part of the recorded settings.
    landscape: {},
  };
  pipeline.settingsHash = stableHash(pipeline.canonical);
  return pipeline;
}

function reader(options: unknown, path: string, baseDir: string): OptionReader {
  return new OptionReader(options, path, baseDir);
}

function readRetry(raw: unknown): RetrySettings {
  const r = new OptionReader(raw, 'retry');
  const retry = {
    max_attempts: r.int('max_attempts', 3, 1),
    initial_delay_ms: r.int('initial_delay_ms', 100),
    max_delay_ms: r.int('max_delay_ms', 10_000),
    exponential_base: r.int('exponential_base', 2, 1),
    jitter_ms: r.int('jitter_ms', 50),
  };
  r.done();
  return retry;
}

/** No cycles; every transform, gate and sink reachable from the source. */
function checkGraph(p: CompiledPipeline, transformPaths: string[], gatePaths: string[]): void {
  const key = (t: Target | { kind: 'source'; name: string }) => `${t.kind}:${t.name}`;
  const next = new Map<string, Target[]>();
  const add = (from: string, t: Target) => next.set(from, [...(next.get(from) ?? []), t]);
  const sinkTarget = (n: string): Target[] => (n === 'discard' ? [] : [{ kind: 'sink', name: n }]);
  add('source:source', p.source.onSuccess);
  for (const t of sinkTarget(p.source.onValidationFailure)) add('source:source', t);
  for (const t of p.transforms.values()) {
    add(key(t), t.onSuccess);
    for (const s of sinkTarget(t.onError)) add(key(t), s);
  }
  for (const g of p.gates.values()) {
    for (const r of Object.values(g.routes)) if (r !== 'fork') add(key(g), r);
    for (const f of g.forkTo) add(key(g), f.target);
  }
  for (const s of p.sinks.values()) for (const f of sinkTarget(s.failsink)) add(key(s), f);
  const paths = new Map<string, string>();
  [...p.transforms.keys()].forEach((n, i) => paths.set(`transform:${n}`, transformPaths[i]!));
  [...p.gates.keys()].forEach((n, i) => paths.set(`gate:${n}`, gatePaths[i]!));
  // Cycle: a back edge in a depth-first walk (sinks only lead to their failsinks, checked already).
  const state = new Map<string, 'open' | 'done'>();
  const visit = (k: string) => {
    state.set(k, 'open');
    for (const t of next.get(k) ?? []) {
      const tk = key(t);
      if (t.kind === 'sink') continue;
      if (state.get(tk) === 'open') throw settingsError(paths.get(tk) ?? tk, 'cycle', `the graph has a cycle through ${t.name}`);
      if (!state.has(tk)) visit(tk);
    }
    state.set(k, 'done');
  };
  visit('source:source');
  const reached = new Set<string>(['source:source']);
  const queue = ['source:source'];
  while (queue.length > 0) {
    for (const t of next.get(queue.shift()!) ?? []) {
      if (!reached.has(key(t))) {
        reached.add(key(t));
        queue.push(key(t));
      }
    }
  }
  for (const n of p.nodes) {
    if (reached.has(key(n))) continue;
    const path = n.kind === 'sink' ? `sinks.${n.name}` : (paths.get(key(n)) ?? n.name);
    throw settingsError(path, 'unreachable', n.kind === 'sink' ? `no node ever sends rows to sink ${n.name}` : `nothing emits on the input of ${n.name}`);
  }
}
