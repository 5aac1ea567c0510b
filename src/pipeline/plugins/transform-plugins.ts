/** Built-in transforms that only look at the row: passthrough, field_mapper, truncate, keyword_filter, json_explode. */
import { settingsError, type PipelineRow, type TransformDefinition } from '../engine/plugin-api.js';

export const passthroughTransform: TransformDefinition = {
  kind: 'transform',
  name: 'passthrough',
  version: '1.0',
  determinism: 'deterministic',
  create(options) {
    options.done();
    return { process: (row) => ({ row }) };
  },
};

/** Renames fields (`mapping: {from: to}`); `select_only: true` keeps only the mapped ones. */
export const fieldMapperTransform: TransformDefinition = {
  kind: 'transform',
  name: 'field_mapper',
  version: '1.0',
  determinism: 'deterministic',
  create(options) {
    const mapping = options.stringMap('mapping');
    const selectOnly = options.bool('select_only', false);
    options.done();
    return {
      process(row) {
        const out: PipelineRow = selectOnly ? {} : { ...row };
        for (const [from, to] of Object.entries(mapping)) {
          if (!(from in row)) continue;
          if (!selectOnly) delete out[from];
          out[to] = row[from];
        }
        return { row: out };
      },
    };
  },
};

/** Cuts string fields to a maximum length (`fields: {name: max}`), appending `suffix` when cut. */
export const truncateTransform: TransformDefinition = {
  kind: 'transform',
  name: 'truncate',
  version: '1.0',
  determinism: 'deterministic',
  create(options) {
    const raw = options.raw('fields');
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw) || Object.values(raw).some((v) => !Number.isSafeInteger(v) || (v as number) < 0)) {
      throw settingsError(`${options.path}.fields`, raw === undefined ? 'required' : 'type', 'must map field names to maximum lengths');
    }
    const fields = raw as Record<string, number>;
    const suffix = options.optString('suffix') ?? '';
    options.done();
    return {
      process(row) {
        const out = { ...row };
        const cut: string[] = [];
        for (const [f, max] of Object.entries(fields)) {
          const v = out[f];
          if (typeof v === 'string' && [...v].length > max) {
            out[f] = [...v].slice(0, Math.max(0, max - [...suffix].length)).join('') + suffix;
            cut.push(f);
          }
        }
        return { row: out, reason: { truncated: cut } };
      },
    };
  },
};

/** An error result when a blocked keyword occurs in one of `fields` (default: every string field). */
export const keywordFilterTransform: TransformDefinition = {
  kind: 'transform',
  name: 'keyword_filter',
  version: '1.0',
  determinism: 'deterministic',
  create(options) {
    const blocked = options.stringList('blocked');
    const fields = options.has('fields') ? options.stringList('fields') : null;
    const caseSensitive = options.bool('case_sensitive', false);
    options.done();
    const norm = (s: string) => (caseSensitive ? s : s.toLowerCase());
    const words = blocked.map(norm);
    return {
      process(row) {
        for (const [f, v] of Object.entries(row)) {
          if ((fields && !fields.includes(f)) || typeof v !== 'string') continue;
          const hit = words.find((w) => norm(v).includes(w));
          if (hit !== undefined) return { error: { reason: 'blocked_keyword', field: f, keyword: blocked[words.indexOf(hit)] } };
        }
        return { row };
      },
    };
  },
};

/** One row → one row per element of the array in `field` (→ an `expanded` parent and its children). */
export const jsonExplodeTransform: TransformDefinition = {
  kind: 'transform',
  name: 'json_explode',
  version: '1.0',
  determinism: 'deterministic',
  createsTokens: true,
  create(options) {
    const field = options.string('field');
    const outputField = options.optString('output_field') ?? field;
    const indexField = options.optString('index_field');
    options.done();
    return {
      process(row) {
        const items = row[field];
        if (!Array.isArray(items)) return { error: { reason: 'not_an_array', field } };
        if (items.length === 0) return { error: { reason: 'empty_array', field } };
        return {
          rows: items.map((item: unknown, i) => {
            const out: PipelineRow = { ...row };
            delete out[field];
            out[outputField] = item;
            if (indexField !== undefined) out[indexField] = i;
            return out;
          }),
        };
      },
    };
  },
};
