/** Built-in sources: `csv` (header row, RFC 4180) and `json` (an array or JSON Lines), each with a schema. */
import { readFileSync } from 'node:fs';
import { SealtrailError } from '../../core/errors.js';
import { settingsError, type SourceDefinition, type SourceItem } from '../engine/plugin-api.js';
import { parseCsv } from './csv-text.js';
import { applySchema, readSchema } from './row-schema.js';

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (cause) {
    throw new SealtrailError('pipeline_plugin_failed', `cannot read the source file ${path}: ${(cause as Error).message}`, { cause, details: { path } });
  }
}

export const csvSource: SourceDefinition = {
  kind: 'source',
  name: 'csv',
  version: '1.0',
  determinism: 'io_read',
  create(options) {
    const path = options.file('path');
    const schema = readSchema(options);
    options.done();
    return {
      schema,
      *load(): Iterable<SourceItem> {
        const [header, ...records] = parseCsv(readText(path));
        if (!header) return;
        for (const values of records) {
          if (values.length !== header.length) {
            yield { invalid: { row: { _raw: values }, error: `expected ${header.length} columns, found ${values.length}` } };
            continue;
          }
          yield applySchema(schema, Object.fromEntries(header.map((h, i) => [h, values[i]])), true);
        }
      },
    };
  },
};

export const jsonSource: SourceDefinition = {
  kind: 'source',
  name: 'json',
  version: '1.0',
  determinism: 'io_read',
  create(options) {
    const path = options.file('path');
    const format = options.optString('format') ?? (path.endsWith('.jsonl') ? 'jsonl' : 'array');
    if (format !== 'array' && format !== 'jsonl') throw settingsError(`${options.path}.format`, 'enum', 'must be array or jsonl');
    const schema = readSchema(options);
    options.done();
    return {
      schema,
      *load(): Iterable<SourceItem> {
        const text = readText(path);
        if (format === 'array') {
          let data: unknown;
          try {
            data = JSON.parse(text);
          } catch (cause) {
            throw new SealtrailError('pipeline_plugin_failed', `the source file ${path} is not JSON: ${(cause as Error).message}`, { cause, details: { path } });
          }
          if (!Array.isArray(data)) throw new SealtrailError('pipeline_plugin_failed', `the source file ${path} must hold a JSON array`, { details: { path } });
          for (const record of data) yield applySchema(schema, record, false);
          return;
        }
        for (const [i, line] of text.split(/\r?\n/).entries()) {
          if (line.trim() === '') continue;
          let record: unknown;
          try {
            record = JSON.parse(line);
          } catch {
            yield { invalid: { row: { _line: i + 1, _raw: line }, error: `line ${i + 1} is not JSON` } };
            continue;
          }
          yield applySchema(schema, record, false);
        }
      },
    };
  },
};
