/**
 * Source schemas: `mode: fixed` (exactly the listed fields) or `observed` (the listed fields plus
 * any others), each field typed `str`, `int`, `float`, `bool` or `any`, optional with a trailing
 * `?`. CSV values arrive as text and are coerced; JSON values must already have the type.
 */
import { OptionReader, settingsError, type PipelineRow, type SourceItem } from '../engine/plugin-api.js';

const TYPES = ['str', 'int', 'float', 'bool', 'any'] as const;
type FieldType = (typeof TYPES)[number];

export interface RowSchema {
  mode: 'fixed' | 'observed';
  fields: { name: string; type: FieldType; optional: boolean }[];
}

export function readSchema(options: OptionReader): RowSchema {
  const raw = options.raw('schema');
  const path = `${options.path}.schema`;
  if (raw === undefined) return { mode: 'observed', fields: [] };
  const r = new OptionReader(raw, path);
  const mode = r.optString('mode') ?? 'observed';
  if (mode !== 'fixed' && mode !== 'observed') throw settingsError(`${path}.mode`, 'enum', 'must be fixed or observed');
  const fields = Object.entries(r.has('fields') ? r.stringMap('fields') : {}).map(([name, spec]) => {
    const optional = spec.endsWith('?');
    const type = optional ? spec.slice(0, -1) : spec;
    if (!(TYPES as readonly string[]).includes(type)) throw settingsError(`${path}.fields.${name}`, 'enum', `must be one of ${TYPES.join(', ')} (optionally with ?)`);
    return { name, type: type as FieldType, optional };
  });
  r.done();
  if (mode === 'fixed' && fields.length === 0) throw settingsError(`${path}.fields`, 'required', 'a fixed schema lists its fields');
  return { mode, fields };
}

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'list';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'float';
  return typeof v === 'string' ? 'str' : typeof v;
}

function coerce(value: unknown, type: FieldType, fromText: boolean): { ok: true; value: unknown } | { ok: false } {
  if (type === 'any') return { ok: true, value };
  if (fromText && typeof value === 'string') {
    const t = value.trim();
    if (type === 'str') return { ok: true, value };
    if (type === 'int') return /^[+-]?\d+$/.test(t) && Number.isSafeInteger(Number(t)) ? { ok: true, value: Number(t) } : { ok: false };
    if (type === 'float') {
      const n = Number(t);
      return t !== '' && Number.isFinite(n) ? { ok: true, value: n } : { ok: false };
    }
    if (t === 'true' || t === 'false') return { ok: true, value: t === 'true' };
    return { ok: false };
  }
  if (type === 'str') return typeof value === 'string' ? { ok: true, value } : { ok: false };
  if (type === 'int') return typeof value === 'number' && Number.isSafeInteger(value) ? { ok: true, value } : { ok: false };
  if (type === 'float') return typeof value === 'number' && Number.isFinite(value) ? { ok: true, value } : { ok: false };
  return typeof value === 'boolean' ? { ok: true, value } : { ok: false };
}

/** Validates (and for text sources coerces) one record against the schema. */
export function applySchema(schema: RowSchema, record: unknown, fromText: boolean): SourceItem {
  if (record === null || typeof record !== 'object' || Array.isArray(record)) return { invalid: { row: record, error: 'a row must be an object', actualType: typeOf(record) } };
  const input = record as PipelineRow;
  const out: PipelineRow = { ...input };
  for (const f of schema.fields) {
    const v = input[f.name];
    if (v === undefined || v === null || (fromText && v === '')) {
      if (f.optional) {
        out[f.name] = null;
        continue;
      }
      return { invalid: { row: record, error: `missing required field ${f.name}`, field: f.name, expectedType: f.type, actualType: v === undefined ? 'missing' : typeOf(v) } };
    }
    const c = coerce(v, f.type, fromText);
    if (!c.ok) return { invalid: { row: record, error: `field ${f.name} is not ${f.type}`, field: f.name, expectedType: f.type, actualType: typeOf(v) } };
    out[f.name] = c.value;
  }
  if (schema.mode === 'fixed') {
    const known = new Set(schema.fields.map((f) => f.name));
    const extra = Object.keys(input).find((k) => !known.has(k));
    if (extra !== undefined) return { invalid: { row: record, error: `unexpected field ${extra} (fixed schema)`, field: extra } };
  }
  // Non-finite numbers cannot be hashed canonically: such a row is invalid, never rounded.
  for (const [k, v] of Object.entries(out)) {
    if (typeof v === 'number' && !Number.isFinite(v)) return { invalid: { row: record, error: `field ${k} is not a finite number`, field: k, actualType: 'float' } };
  }
  return { row: out };
}
