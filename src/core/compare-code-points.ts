/**
 * Orders strings by Unicode code point (the order of their UTF-8 bytes), the same in every locale
 * and runtime. `<` on JS strings compares UTF-16 code units, which puts U+E000..U+FFFF after
 * astral characters; `localeCompare` depends on the locale. Output orders use this instead.
 */
export function compareCodePoints(a: string, b: string): number {
  if (a === b) return 0;
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}
