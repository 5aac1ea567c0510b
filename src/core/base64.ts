/**
 * Standard base64 (RFC 4648 §4, with padding), decoded strictly: Buffer.from(s, 'base64') accepts
 * garbage, missing padding and non-zero spare bits, which would give one signature or hash many
 * textual forms. Every byte string here has exactly one accepted encoding.
 */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export function encodeBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

/** The decoded bytes, or undefined when `text` is not canonical standard base64. */
export function decodeBase64(text: string): Buffer | undefined {
  if (!BASE64.test(text)) return undefined;
  const bytes = Buffer.from(text, 'base64');
  return bytes.toString('base64') === text ? bytes : undefined;
}
