/**
 * Row keys and row-version keys of captured rows share one `event_pk` space (docs/spec.md,
 * "Canonical row form"): a row's key as the user wrote it, and the keys sealtrail makes up for
 * its versions — `<key>#update@<seq>`, `<key>#delete@<seq>` and `<key>@<seq>` (a re-insert or a
 * conflicting payload), `<seq>` being the entry's own seq. So that no user key can ever equal or
 * be read as a version key, a key that ends like one (`@<digits>`, `#update` or `#delete`,
 * followed by any number of `~`) is chained with one more `~`. Every other key (the vast majority,
 * e-mail addresses included) is chained unchanged. The SQL twin is `sealtrail_row_key` in
 * src/capture/migrations/postgres/003-row-keys.sql; a test checks both agree.
 */

/** Keys that end like a version key, escaped or not: the pattern the SQL twin uses verbatim. */
export const AMBIGUOUS_ROW_KEY = '(@[0-9]+|#update|#delete)~*$';
const AMBIGUOUS = new RegExp(AMBIGUOUS_ROW_KEY);
const ESCAPED = /(@[0-9]+|#update|#delete)~+$/;

export type RowVersionOp = 'update' | 'delete' | 'reinsert';

/** What goes between the row key and the seq. */
export const VERSION_INFIX: Readonly<Record<RowVersionOp, string>> = { update: '#update@', delete: '#delete@', reinsert: '@' };

/** The `event_pk` of a row with this key (injective; never shaped like a version key). */
export function encodeRowKey(key: string): string {
  return AMBIGUOUS.test(key) ? `${key}~` : key;
}

/** The user's key back from `encodeRowKey`'s output. */
export function decodeRowKey(eventPk: string): string {
  return ESCAPED.test(eventPk) ? eventPk.slice(0, -1) : eventPk;
}

/** The `event_pk` of a version of the row whose (encoded) key is `rowPk`, chained at `seq`. */
export function versionKey(rowPk: string, op: RowVersionOp, seq: number): string {
  return `${rowPk}${VERSION_INFIX[op]}${seq}`;
}

const VERSION = /^([\s\S]*?)(#update|#delete)?@([0-9]+)$/;

/**
 * Reads an `event_pk` chained at `seq` as a version key: the row's (encoded) key and the kind of
 * version, or null when it is a row key. Unambiguous because no encoded row key ends like a suffix.
 */
export function parseVersionKey(eventPk: string, seq: number): { rowPk: string; op: RowVersionOp } | null {
  const m = VERSION.exec(eventPk);
  if (!m || m[3] !== String(seq)) return null;
  const rowPk = m[1]!;
  if (AMBIGUOUS.test(rowPk) && !rowPk.endsWith('~')) return null;
  return { rowPk, op: m[2] === '#update' ? 'update' : m[2] === '#delete' ? 'delete' : 'reinsert' };
}
