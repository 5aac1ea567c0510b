/**
 * The append-only, hash-linked JSON Lines log the file and git sinks keep. One record per line:
 *
 *   {"seq":…,"chain_hash":"<hex>","appended_at":"<ISO>","note":"<checkpoint note>","prev_record_hash":"<hex>"}
 *
 * prev_record_hash is the SHA-256 of the previous line's exact bytes (without its newline), 64
 * zeros on the first line, so editing, inserting or deleting a line inside the sink breaks the
 * link of the line after it even though each note is still validly signed.
 */
import { closeSync, fsyncSync, ftruncateSync, openSync, readFileSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { sha256 } from '../../core/hash.js';
import type { PublishRecord, SinkContents, SinkRecord } from './sink.js';

const FIRST_LINK = '0'.repeat(64);

export function recordLine(record: PublishRecord, prevLine: string | null, appendedAt: string): string {
  return JSON.stringify({
    seq: record.seq,
    chain_hash: record.chainHash.toString('hex'),
    appended_at: appendedAt,
    note: record.note,
    prev_record_hash: prevLine === null ? FIRST_LINK : sha256(Buffer.from(prevLine, 'utf8')).toString('hex'),
  });
}

/** Parses a log's text, checking every link; problems name the seq of the offending line. */
export function parseLog(text: string): SinkContents {
  const contents: SinkContents = { records: [], problems: [], readable: true };
  if (text === '') return contents;
  const lines = text.split('\n');
  const torn = lines.pop() !== '';
  let prev: string | null = null;
  lines.forEach((line, i) => {
    const position = i + 1;
    const record = parseLine(line, position);
    if (!record) {
      contents.problems.push({ seq: null, reason: 'sink_edited', message: `line ${position} is not a checkpoint record` });
    } else {
      const expected = prev === null ? FIRST_LINK : sha256(Buffer.from(prev, 'utf8')).toString('hex');
      if (record.link !== expected) {
        contents.problems.push({
          seq: record.record.seq,
          reason: 'sink_edited',
          message: `line ${position} (seq ${record.record.seq}) does not link to the line before it: a record was edited, inserted or removed`,
        });
      }
      contents.records.push(record.record);
    }
    prev = line;
  });
  if (torn) contents.problems.push({ seq: null, reason: 'sink_edited', message: `the last line is incomplete` });
  return contents;
}

function parseLine(line: string, position: number): { record: SinkRecord; link: string } | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  const v = value as Record<string, unknown>;
  if (
    typeof v !== 'object' ||
    v === null ||
    !Number.isSafeInteger(v['seq']) ||
    typeof v['note'] !== 'string' ||
    typeof v['chain_hash'] !== 'string' ||
    typeof v['prev_record_hash'] !== 'string'
  ) {
    return undefined;
  }
  return {
    record: {
      seq: v['seq'] as number,
      chainHash: v['chain_hash'],
      appendedAt: typeof v['appended_at'] === 'string' ? v['appended_at'] : null,
      note: v['note'],
      position,
    },
    link: v['prev_record_hash'],
  };
}

/**
 * Appends `record` to the log at `path` unless a line with the same note is already there (a
 * crash after the append but before it was recorded as published). Returns once the line is
 * fsync'd, and the directory too when the file was created.
 */
export function appendRecord(path: string, record: PublishRecord, now: Date = new Date()): { appended: boolean } {
  let existing = '';
  let created = false;
  try {
    existing = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    created = true;
  }
  // A line without its newline was never acknowledged as published; drop it before appending.
  const complete = existing.endsWith('\n') || existing === '' ? existing : existing.slice(0, existing.lastIndexOf('\n') + 1);
  const lines = complete === '' ? [] : complete.slice(0, -1).split('\n');
  if (lines.some((line) => parseLine(line, 0)?.record.note === record.note)) {
    if (complete.length !== existing.length) truncateTo(path, Buffer.byteLength(complete, 'utf8'));
    return { appended: false };
  }
  const line = recordLine(record, lines.at(-1) ?? null, now.toISOString());
  const fd = openSync(path, 'a', 0o644);
  try {
    if (complete.length !== existing.length) ftruncateSync(fd, Buffer.byteLength(complete, 'utf8'));
    writeSync(fd, `${line}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  if (created) fsyncDir(dirname(path));
  return { appended: true };
}

function truncateTo(path: string, length: number): void {
  const fd = openSync(path, 'r+');
  try {
    ftruncateSync(fd, length);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
