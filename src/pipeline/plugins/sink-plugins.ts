/**
 * Built-in sinks: `csv` and `json` files and `database` (a table of the ledger database). Each
 * write appends (or, for a JSON array, rewrites) and flush makes it durable (fsync, or the
 * transaction's commit); the artifact describes exactly the bytes or rows of that write.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { canonicalText, sha256Hex } from '../stable-hash.js';
import { settingsError, type ArtifactDescriptor, type PipelineRow, type SinkDefinition, type SinkInstance } from '../engine/plugin-api.js';
import { csvLine } from './csv-text.js';

/** Appends to a file opened (truncated) on the first write; flush fsyncs and describes the bytes since the last flush. */
class FileWriter {
  private fd: number | null = null;
  private pending: Buffer[] = [];
  constructor(readonly path: string) {}

  private open(): number {
    mkdirSync(dirname(this.path), { recursive: true });
    return openSync(this.path, 'w');
  }

  append(text: string): void {
    this.fd ??= this.open();
    const buf = Buffer.from(text, 'utf8');
    writeSync(this.fd, buf);
    this.pending.push(buf);
  }

  rewrite(text: string): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = this.open();
    const buf = Buffer.from(text, 'utf8');
    writeSync(this.fd, buf);
    this.pending = [buf];
  }

  flush(type: string): ArtifactDescriptor {
    this.fd ??= this.open();
    fsyncSync(this.fd);
    const bytes = Buffer.concat(this.pending);
    this.pending = [];
    return { artifactType: type, pathOrUri: this.path, contentHash: sha256Hex(bytes), sizeBytes: bytes.length };
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}

export const csvSink: SinkDefinition = {
  kind: 'sink',
  name: 'csv',
  version: '1.0',
  determinism: 'io_write',
  create(options): SinkInstance {
    const file = new FileWriter(options.file('path'));
    let columns: string[] | null = options.has('fields') ? options.stringList('fields') : null;
    options.done();
    let headerWritten = false;
    return {
      write(rows) {
        const rejected: { index: number; reason: string }[] = [];
        let text = '';
        rows.forEach((row, index) => {
          columns ??= Object.keys(row);
          const extra = Object.keys(row).find((k) => !columns!.includes(k));
          if (extra !== undefined) rejected.push({ index, reason: `field ${extra} is not a column of the csv sink` });
          else text += csvLine(columns.map((c) => row[c]));
        });
        if (!headerWritten && columns) {
          text = csvLine(columns) + text;
          headerWritten = true;
        }
        if (text !== '') file.append(text);
        return { rejected };
      },
      flush: () => file.flush('file'),
      close: () => file.close(),
    };
  },
};

export const jsonSink: SinkDefinition = {
  kind: 'sink',
  name: 'json',
  version: '1.0',
  determinism: 'io_write',
  create(options): SinkInstance {
    const path = options.file('path');
    const format = options.optString('format') ?? (path.endsWith('.jsonl') ? 'jsonl' : 'array');
    if (format !== 'array' && format !== 'jsonl') throw settingsError(`${options.path}.format`, 'enum', 'must be array or jsonl');
    options.done();
    const file = new FileWriter(path);
    const all: PipelineRow[] = [];
    return {
      write(rows) {
        if (format === 'jsonl') {
          if (rows.length > 0) file.append(rows.map((r) => `${canonicalText(r)}\n`).join(''));
        } else {
          // An array file is whole only when rewritten: each write's artifact is the file as it now stands.
          all.push(...rows);
          file.rewrite(`[${all.map((r) => canonicalText(r)).join(',\n')}]\n`);
        }
        return {};
      },
      flush: () => file.flush('file'),
      close: () => file.close(),
    };
  },
};

const TABLE_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** Rows into `table` of the ledger database: one TEXT column per field (JSON for non-strings), created if missing. */
export const databaseSink: SinkDefinition = {
  kind: 'sink',
  name: 'database',
  version: '1.0',
  determinism: 'io_write',
  create(options): SinkInstance {
    const table = options.string('table');
    if (!TABLE_NAME.test(table) || /^(pipeline_|audit_|sealtrail_|ledger_)/.test(table)) {
      throw settingsError(`${options.path}.table`, 'name', 'must be a lower-case SQL name not starting with pipeline_, audit_, sealtrail_ or ledger_');
    }
    const columns = options.stringList('columns');
    for (const c of columns) if (!TABLE_NAME.test(c)) throw settingsError(`${options.path}.columns`, 'name', `${c} is not a lower-case SQL name`);
    options.done();
    let created = false;
    let last: { hash: string; size: number } = { hash: sha256Hex(''), size: 0 };
    return {
      async write(rows, ctx) {
        const rejected: { index: number; reason: string }[] = [];
        const accepted: PipelineRow[] = [];
        rows.forEach((row, index) => {
          const extra = Object.keys(row).find((k) => !columns.includes(k));
          if (extra !== undefined) rejected.push({ index, reason: `field ${extra} is not a column of table ${table}` });
          else accepted.push(row);
        });
        if (!created) {
          await ctx.db.exec(`CREATE TABLE IF NOT EXISTS ${table} (${columns.map((c) => `${c} TEXT`).join(', ')})`);
          created = true;
        }
        const values = (row: PipelineRow) => columns.map((c) => (row[c] === undefined || row[c] === null ? null : typeof row[c] === 'string' ? row[c] : canonicalText(row[c])));
        // One transaction per write: its commit is the durability point, so flush only describes it.
        await ctx.db.writeTransaction(async (tx) => {
          for (const row of accepted) await tx.run(`INSERT INTO ${table} (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`, values(row));
        });
        const text = canonicalText(accepted);
        last = { hash: sha256Hex(text), size: Buffer.byteLength(text) };
        return { rejected };
      },
      flush: () => ({ artifactType: 'table', pathOrUri: `table:${table}`, contentHash: last.hash, sizeBytes: last.size }),
    };
  },
};
