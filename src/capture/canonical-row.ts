/**
 * The canonical row form of PostgreSQL capture, in TypeScript: an implementation independent of
 * the PL/pgSQL one in migrations/postgres/001-capture.sql (docs/spec.md, "Canonical row form").
 * Both start from the row's to_jsonb() text, which PostgreSQL prints the same way in every session
 * (numbers exactly, timestamps in ISO form), and apply per-column rules chosen by the column's type
 * tag. The scan recomputes rows here, so a replaced SQL function cannot vouch for an edited row.
 */
import { SealtrailError } from '../core/errors.js';
import { encodeRowKey } from '../core/row-key.js';

/** Type tags (sealtrail_type_tag); a "[]" suffix marks an array of that element type. */
export type ColumnTag = 'int' | 'numeric' | 'float' | 'timestamptz' | 'timestamp' | 'bytea' | 'json' | 'other';

export interface RowColumn {
  name: string;
  /** A ColumnTag, with "[]" appended for arrays. */
  tag: string;
}

/** A parsed JSON value whose numbers keep their exact text. */
type Json = null | boolean | string | { num: string } | Json[] | { obj: Map<string, Json> };

const MAX_SAFE = 9_007_199_254_740_991n;

/** The canonical JSON text of a row (the captured event's payload) from its to_jsonb() text. */
export function canonicalRow(columns: readonly RowColumn[], rowJson: string): string {
  return canonicalRowAndPk(columns, rowJson, []).payload;
}

/**
 * The payload and the event_pk (one key: its value's text; several: the JSON array of values;
 * then `encodeRowKey`).
 */
export function canonicalRowAndPk(columns: readonly RowColumn[], rowJson: string, pkColumns: readonly string[]): { payload: string; pk: string } {
  const row = parseJsonExact(rowJson);
  if (row === null || typeof row !== 'object' || !('obj' in row)) {
    throw new SealtrailError('invalid_argument', 'a row must be a JSON object');
  }
  const values = new Map<string, string>();
  for (const col of columns) values.set(col.name, canonicalValue(row.obj.get(col.name) ?? null, col.tag));
  let payload = '{';
  for (const [i, [name, quoted]] of memberOrder(columns).entries()) payload += `${i === 0 ? '' : ','}${quoted}:${values.get(name)!}`;
  payload += '}';
  let pk = '';
  if (pkColumns.length === 1) {
    const v = values.get(pkColumns[0]!) ?? 'null';
    pk = v.startsWith('"') ? (JSON.parse(v) as string) : v;
  } else if (pkColumns.length > 1) {
    pk = `[${pkColumns.map((c) => values.get(c) ?? 'null').join(',')}]`;
  }
  // Never shaped like a row-version key (core/row-key.ts), so versions cannot collide with it.
  return { payload, pk: encodeRowKey(pk) };
}

/** Member names in RFC 8785 order with their JSON text; a sequencer batch reuses one columns array. */
const ORDER = new WeakMap<readonly RowColumn[], Array<[string, string]>>();

function memberOrder(columns: readonly RowColumn[]): Array<[string, string]> {
  let order = ORDER.get(columns);
  if (!order) {
    // Default sort compares UTF-16 code units: RFC 8785 member order. A repeated name counts once.
    order = [...new Set(columns.map((c) => c.name))].sort().map((n) => [n, JSON.stringify(n)]);
    ORDER.set(columns, order);
  }
  return order;
}

/** An integer PostgreSQL printed with at most 15 digits: exact as a JSON number, printed the same. */
const SHORT_INT = /^-?[1-9][0-9]{0,14}$|^0$/;
/** A timestamp at offset zero with years 1000-9999 (the common to_jsonb form in a UTC session). */
const UTC_TS = /^([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2})(?:\.([0-9]{1,6}))?\+00(?::00)?$/;

function canonicalValue(v: Json, tag: string): string {
  if (v === null) return 'null';
  if (tag.endsWith('[]')) {
    const element = tag.slice(0, -2);
    if (!Array.isArray(v)) return canonicalValue(v, element);
    return `[${v.map((e) => canonicalValue(e, Array.isArray(e) ? tag : element)).join(',')}]`;
  }
  const text = typeof v === 'string' ? v : typeof v === 'object' && 'num' in v ? v.num : null;
  switch (tag) {
    case 'int': {
      if (text === null) break;
      if (SHORT_INT.test(text)) return text;
      const n = BigInt(text);
      return n <= MAX_SAFE && n >= -MAX_SAFE ? n.toString() : JSON.stringify(text);
    }
    case 'numeric':
    case 'float':
      if (text === null) break;
      return JSON.stringify(text);
    case 'timestamptz':
      if (typeof v !== 'string') break;
      {
        const m = UTC_TS.exec(v);
        if (m && m[1]![0] !== '0') return `"${m[1]!}.${(m[2] ?? '').padEnd(6, '0')}Z"`;
      }
      return JSON.stringify(v === 'infinity' || v === '-infinity' ? v : utcTimestamp(v));
    case 'timestamp':
      if (typeof v !== 'string') break;
      return JSON.stringify(v === 'infinity' || v === '-infinity' ? v : localTimestamp(v));
    case 'bytea':
      if (typeof v !== 'string') break;
      return `{"__bytes__":"${byteaFromText(v).toString('base64')}"}`;
    default:
      return canonicalJson(v);
  }
  return canonicalJson(v);
}

function canonicalJson(v: Json): string {
  if (v === null) return 'null';
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if ('num' in v) return canonicalNumber(v.num);
  // Default sort compares UTF-16 code units: RFC 8785 member order.
  const keys = [...v.obj.keys()].sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(v.obj.get(k)!)}`).join(',')}}`;
}

const INTEGER = /^-?[0-9]+$/;
const DECIMAL = /^-?[0-9]+\.[0-9]+$/;

/** See sealtrail_canon_number: exact numbers only, everything else wrapped as {"__numeric__": text}. */
export function canonicalNumber(text: string): string {
  const trimmed = text.includes('.') ? text.replace(/\.?0+$/, '') : text;
  if (INTEGER.test(trimmed)) {
    const n = BigInt(trimmed);
    if (n <= MAX_SAFE && n >= -MAX_SAFE) return n.toString();
  } else if (DECIMAL.test(trimmed)) {
    const digits = trimmed.replace('-', '').replace('.', '').replace(/^0+/, '');
    const abs = Math.abs(Number(trimmed));
    if (digits.length <= 15 && abs >= 0.000001 && abs < 1e21) return trimmed;
  }
  return `{"__numeric__":${JSON.stringify(text)}}`;
}

const TS_RE = /^(-?\d{4,})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?(?:([+-])(\d{2})(?::(\d{2}))?(?::(\d{2}))?)?$/;

function parseTimestamp(text: string): { micros: bigint; local: boolean } {
  const m = TS_RE.exec(text);
  if (!m) throw new SealtrailError('database_error', `unreadable timestamp ${JSON.stringify(text)}`);
  const [, y, mo, d, h, mi, s, frac, sign, oh, om, os] = m;
  const wall = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s));
  // Date.UTC maps years 0..99 to 1900..1999; set the year explicitly.
  const date = new Date(wall);
  date.setUTCFullYear(Number(y));
  let micros = BigInt(date.getTime()) * 1000n + BigInt((frac ?? '').padEnd(6, '0'));
  if (sign) {
    const offset = (Number(oh) * 3600 + Number(om ?? 0) * 60 + Number(os ?? 0)) * 1_000_000;
    micros -= BigInt(sign === '-' ? -offset : offset);
  }
  return { micros, local: !sign };
}

function formatMicros(micros: bigint): string {
  const ms = micros / 1000n - (micros % 1000n < 0n ? 1n : 0n);
  const sub = micros - ms * 1000n;
  const iso = new Date(Number(ms)).toISOString();
  const year = iso.startsWith('+') || iso.startsWith('-') ? iso.slice(0, iso.indexOf('-', 1)) : iso.slice(0, 4);
  const rest = iso.slice(iso.length - 20, iso.length - 1); // -MM-DDTHH:MM:SS.mmm
  return `${year}${rest}${sub.toString().padStart(3, '0')}`;
}

function utcTimestamp(text: string): string {
  return `${formatMicros(parseTimestamp(text).micros)}Z`;
}

function localTimestamp(text: string): string {
  return formatMicros(parseTimestamp(text).micros);
}

function byteaFromText(text: string): Buffer {
  if (text.startsWith('\\x')) return Buffer.from(text.slice(2), 'hex');
  // bytea_output = escape: \\ is a backslash, \ooo an octal byte, anything else itself.
  const out: number[] = [];
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '\\') {
      if (text[i + 1] === '\\') {
        out.push(0x5c);
        i++;
      } else {
        out.push(parseInt(text.slice(i + 1, i + 4), 8));
        i += 3;
      }
    } else {
      out.push(...Buffer.from(text[i]!, 'latin1'));
    }
  }
  return Buffer.from(out);
}

function hasControlCharacter(text: string): boolean {
  for (let k = 0; k < text.length; k++) if (text.charCodeAt(k) < 0x20) return true;
  return false;
}

const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;

/** JSON.parse that keeps every number's text (PostgreSQL numbers can exceed a double). */
export function parseJsonExact(text: string): Json {
  let i = 0;
  const ws = () => {
    while (i < text.length && (text[i] === ' ' || text[i] === '\n' || text[i] === '\t' || text[i] === '\r')) i++;
  };
  const fail = (): never => {
    throw new SealtrailError('invalid_json', `malformed JSON at offset ${i}`);
  };
  const value = (): Json => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const obj = new Map<string, Json>();
      ws();
      if (text[i] === '}') {
        i++;
        return { obj };
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail();
        const key = str();
        ws();
        if (text[i++] !== ':') fail();
        obj.set(key, value());
        ws();
        const sep = text[i++];
        if (sep === '}') return { obj };
        if (sep !== ',') fail();
      }
    }
    if (c === '[') {
      i++;
      const items: Json[] = [];
      ws();
      if (text[i] === ']') {
        i++;
        return items;
      }
      for (;;) {
        items.push(value());
        ws();
        const sep = text[i++];
        if (sep === ']') return items;
        if (sep !== ',') fail();
      }
    }
    if (c === '"') return str();
    if (text.startsWith('true', i)) {
      i += 4;
      return true;
    }
    if (text.startsWith('false', i)) {
      i += 5;
      return false;
    }
    if (text.startsWith('null', i)) {
      i += 4;
      return null;
    }
    NUMBER.lastIndex = i;
    const m = NUMBER.exec(text);
    if (!m) return fail();
    i += m[0].length;
    return { num: m[0] };
  };
  const str = (): string => {
    const start = i;
    const close = text.indexOf('"', start + 1);
    const escape = text.indexOf('\\', start + 1);
    if (close > 0 && (escape < 0 || escape > close)) {
      // No escapes: the text between the quotes is the string (control characters are refused).
      const plain = text.slice(start + 1, close);
      if (!hasControlCharacter(plain)) {
        i = close + 1;
        return plain;
      }
    }
    i++;
    while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    if (i >= text.length) fail();
    i++;
    return JSON.parse(text.slice(start, i)) as string;
  };
  const result = value();
  ws();
  if (i !== text.length) fail();
  return result;
}
