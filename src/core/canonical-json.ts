/**
 * RFC 8785 JSON Canonicalization Scheme (JCS): the byte form every event payload is hashed in.
 *
 * Beyond plain JSON values, exactly two JavaScript types have a defined form, so callers can hash
 * what they naturally hold: a Date becomes its ISO-8601 UTC string (toISOString), and a Uint8Array
 * (Buffer included) becomes {"__bytes__": "<standard base64 with padding>"}. A bigint within
 * ±(2^53-1) becomes the number it equals. Nothing else is converted: objects with a toJSON method
 * (other than Date) are rejected like any other non-plain object, because silently calling user
 * code would make the hash depend on it. Values JSON.stringify would drop or mangle (undefined,
 * functions, symbols, NaN, ±Infinity, lone surrogates, Map, Set, class instances, cycles) throw
 * non_canonical_value with the JSONPath-like location in details.path; nothing partial is returned.
 *
 * Integers beyond ±(2^53-1) cannot be held exactly (as a double they are already rounded:
 * 9007199254740993 reads as 9007199254740992), so sealtrail refuses them in event payloads with
 * unsafe_integer: parseJson always, canonicalizePayload for JavaScript values. canonicalize itself
 * stays plain RFC 8785 and serialises any finite double. Big integers travel as strings.
 */
import { hash as oneShotHash } from 'node:crypto';
import { SealtrailError } from './errors.js';
import { encodeBase64 } from './base64.js';

/** Key of the object that stands for raw bytes in canonical JSON. */
export const BYTES_KEY = '__bytes__';

const MAX_SAFE_BIGINT = BigInt(Number.MAX_SAFE_INTEGER);
// With the u flag a well-formed surrogate pair is one code point, so this matches only lone halves.
const LONE_SURROGATE = /\p{Cs}/u;
const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** RFC 8785 canonical text of any JSON-like value (every finite double included). */
export function canonicalize(value: unknown): string {
  return serialize(value, [], new Set(), false);
}

/**
 * The canonical text of an event payload: canonicalize, refusing also every number whose value is
 * an integer beyond ±(2^53-1) with unsafe_integer (at that magnitude every double is an integer,
 * so this is every number of magnitude 2^53 or more: 2 ** 53, 1e21, Number.MAX_VALUE). Numbers
 * below it, integers or not (1.5, 0.1, 1e-300), are canonicalised as usual.
 */
export function canonicalizePayload(value: unknown): string {
  return serialize(value, [], new Set(), true);
}

/**
 * Where serialize is, as a stack of keys and indexes; turned into text ($.a[0]["b c"]) only when
 * something is rejected, so the hot path builds no strings for it.
 */
type Path = Array<string | number>;

function formatPath(path: Path): string {
  let out = '$';
  for (const part of path) {
    out += typeof part === 'number' ? `[${part}]` : IDENTIFIER.test(part) ? `.${part}` : `[${JSON.stringify(part)}]`;
  }
  return out;
}

/** SHA-256 of the UTF-8 canonical form: the event_hash of a payload. */
export function eventHash(payload: unknown): Buffer {
  return canonicalHash(canonicalize(payload));
}

/** SHA-256 of text that is already canonical (e.g. stored canonical payloads being re-verified). */
export function canonicalHash(canonicalText: string): Buffer {
  // crypto.hash encodes a string as UTF-8 itself, sparing an intermediate Buffer per entry.
  return oneShotHash('sha256', canonicalText, 'buffer');
}

function serialize(value: unknown, path: Path, ancestors: Set<object>, safeIntegers: boolean): string {
  switch (typeof value) {
    case 'string':
      return serializeString(value, path);
    case 'number':
      if (!Number.isFinite(value)) throw reject(path, `${value} is not a JSON number`);
      if (safeIntegers && (value > Number.MAX_SAFE_INTEGER || value < -Number.MAX_SAFE_INTEGER)) throw unsafeInteger(path, `the number ${value}`);
      // ECMAScript Number-to-String is exactly the JCS number form; it also turns -0 into 0.
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'bigint':
      if (value > MAX_SAFE_BIGINT || value < -MAX_SAFE_BIGINT) throw unsafeInteger(path, `the bigint ${value}n`);
      return value.toString();
    case 'object':
      if (value === null) return 'null';
      return serializeObject(value, path, ancestors, safeIntegers);
    default:
      throw reject(path, `${typeof value} has no JSON form`);
  }
}

function serializeString(text: string, path: Path): string {
  if (LONE_SURROGATE.test(text)) throw reject(path, 'string contains a lone surrogate');
  // JSON.stringify escapes exactly what JCS escapes: '"', '\\', and controls below U+0020
  // (as \b \t \n \f \r or lowercase \u00xx); everything else is emitted as is.
  return JSON.stringify(text);
}

function serializeObject(value: object, path: Path, ancestors: Set<object>, safeIntegers: boolean): string {
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw reject(path, 'invalid Date');
    return JSON.stringify(value.toISOString());
  }
  if (value instanceof Uint8Array) return `{"${BYTES_KEY}":"${encodeBase64(value)}"}`;
  if (ancestors.has(value)) throw reject(path, 'cycle');
  ancestors.add(value);
  try {
    if (Array.isArray(value)) return serializeArray(value, path, ancestors, safeIntegers);
    const proto: unknown = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) {
      const kind = (value as { constructor?: { name?: string } }).constructor?.name ?? 'object';
      throw reject(path, `${kind} is not a plain object or array`);
    }
    if (Object.getOwnPropertySymbols(value).length > 0) throw reject(path, 'symbol-keyed property');
    return serializePlainObject(value as Record<string, unknown>, path, ancestors, safeIntegers);
  } finally {
    ancestors.delete(value);
  }
}

function serializeArray(items: unknown[], path: Path, ancestors: Set<object>, safeIntegers: boolean): string {
  // JSON has no place for an array's extra named properties: refuse them rather than drop them.
  const keys = Object.keys(items);
  if (keys.length > items.length || (keys.length === items.length && keys.length > 0 && keys[keys.length - 1] !== String(items.length - 1))) {
    const extra = keys.find((k) => !/^(0|[1-9][0-9]*)$/.test(k) || Number(k) >= items.length);
    if (extra !== undefined) throw reject(path, `array has an extra property ${JSON.stringify(extra)}`);
  }
  let out = '[';
  // Index loop, not map(): map skips holes, and a hole must be rejected like undefined.
  for (let i = 0; i < items.length; i++) {
    path.push(i);
    out += (i === 0 ? '' : ',') + serialize(ownDataValue(items, String(i), path), path, ancestors, safeIntegers);
    path.pop();
  }
  return `${out}]`;
}

function serializePlainObject(obj: Record<string, unknown>, path: Path, ancestors: Set<object>, safeIntegers: boolean): string {
  // Default sort compares UTF-16 code units, which is the order RFC 8785 §3.2.3 requires.
  const keys = Object.keys(obj).sort();
  let out = '{';
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    path.push(key);
    if (LONE_SURROGATE.test(key)) throw reject(path, 'property name contains a lone surrogate');
    out += `${i === 0 ? '' : ','}${JSON.stringify(key)}:${serialize(ownDataValue(obj, key, path), path, ancestors, safeIntegers)}`;
    path.pop();
  }
  return `${out}}`;
}

/**
 * The value of an own data property, never running code: a getter could answer differently each
 * time it is read (so the hash would not describe what was stored), or have side effects.
 * A missing property (an array hole) reads as undefined, which serialize refuses.
 */
function ownDataValue(target: object, key: string, path: Path): unknown {
  const d = Object.getOwnPropertyDescriptor(target, key);
  if (d === undefined) return undefined;
  if (d.get !== undefined || d.set !== undefined) {
    const at = formatPath(path);
    throw new SealtrailError('non_canonical_value', `cannot canonicalize ${at}: an accessor property (getter/setter) is not data`, { details: { path: at } });
  }
  return d.value as unknown;
}

function reject(path: Path | string, why: string): SealtrailError {
  const at = typeof path === 'string' ? path : formatPath(path);
  return new SealtrailError('non_canonical_value', `cannot canonicalize ${at}: ${why}`, { details: { path: at } });
}

function unsafeInteger(path: Path, shown: string): SealtrailError {
  const at = formatPath(path);
  return new SealtrailError(
    'unsafe_integer',
    `${at}: ${shown} is an integer beyond ±(2^53-1), which a payload cannot hold exactly; send big integers as strings`,
    { details: { path: at } },
  );
}

/**
 * JSON.parse made strict enough for hashing: malformed text and duplicate member names throw
 * invalid_json (JSON.parse would silently keep the last duplicate, dropping data); lone surrogates
 * (written as escapes such as \ud800) and numbers that overflow to ±Infinity throw
 * non_canonical_value, since such values can never be canonicalized; a number whose value is an
 * integer beyond ±(2^53-1) throws unsafe_integer, since JSON.parse has already rounded it
 * (9007199254740993 would become 9007199254740992). That is every number that reads as a double of
 * magnitude 2^53 or more, however it is written (9007199254740993, 1e16, 1e300, 1.5e300).
 */
export function parseJson(text: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new SealtrailError('invalid_json', `malformed JSON: ${(err as Error).message}`);
  }
  const members = checkParsed(value, []);
  // Each member name in the text is followed by the only colons outside strings, so fewer keys
  // parsed than colons written means JSON.parse dropped a duplicate: find and name it.
  if (countColonsOutsideStrings(text) !== members) rejectDuplicateKeys(text);
  return value;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;

/** Only for text JSON.parse accepted: every string there is closed. */
function countColonsOutsideStrings(text: string): number {
  let count = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      i++;
      while (text.charCodeAt(i) !== QUOTE) i += text.charCodeAt(i) === BACKSLASH ? 2 : 1;
    } else if (c === COLON) count++;
  }
  return count;
}

/** Rejects what JSON.parse accepts but canonical JSON cannot hold; returns how many members it saw. */
function checkParsed(value: unknown, path: Path): number {
  if (typeof value === 'string') {
    if (LONE_SURROGATE.test(value)) throw reject(path, 'string contains a lone surrogate');
    return 0;
  }
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw reject(path, 'number is outside the IEEE 754 double range');
    if (value > Number.MAX_SAFE_INTEGER || value < -Number.MAX_SAFE_INTEGER) throw unsafeInteger(path, `the number (it would be stored as ${value})`);
    return 0;
  }
  if (value === null || typeof value !== 'object') return 0;
  let members = 0;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      path.push(i);
      members += checkParsed(value[i], path);
      path.pop();
    }
    return members;
  }
  for (const key of Object.keys(value)) {
    path.push(key);
    if (LONE_SURROGATE.test(key)) throw reject(path, 'property name contains a lone surrogate');
    members += 1 + checkParsed((value as Record<string, unknown>)[key], path);
    path.pop();
  }
  return members;
}

/**
 * One linear pass over text JSON.parse already accepted, so it only has to tell keys from values:
 * a string directly after '{' or ',' inside an object is a member name.
 */
function rejectDuplicateKeys(text: string): void {
  const scopes: Array<Set<string> | null> = []; // null marks an array
  let previous = '';
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === '{') scopes.push(new Set());
    else if (ch === '[') scopes.push(null);
    else if (ch === '}' || ch === ']') scopes.pop();
    else if (ch === '"') {
      const end = endOfString(text, i);
      const names = scopes[scopes.length - 1];
      if (names && (previous === '{' || previous === ',')) {
        const name = JSON.parse(text.slice(i, end + 1)) as string;
        if (names.has(name)) {
          throw new SealtrailError('invalid_json', `duplicate member name ${JSON.stringify(name)}`, {
            details: { name },
          });
        }
        names.add(name);
      }
      i = end;
    } else if (ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r') continue;
    previous = ch;
  }
}

function endOfString(text: string, start: number): number {
  let i = start + 1;
  while (text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
  return i;
}
