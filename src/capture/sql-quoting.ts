/** Quoting for the SQL capture builds from catalog names and text (identifiers, literals, text arrays). */

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

export function quoteLiteral(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

/** A PostgreSQL array literal of text (node-postgres would also accept a JS array; the Store API takes scalars). */
export function pgArray(items: readonly string[]): string {
  return `{${items.map((s) => `"${s.replace(/["\\]/g, '\\$&')}"`).join(',')}}`;
}
