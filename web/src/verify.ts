/**
 * The checks the explorer runs in the browser, with WebCrypto only, so a reader need not trust
 * the server: RFC 8785 canonical JSON → event hash, the ledger leaf (docs/spec.md), the chain
 * link, RFC 6962/9162 inclusion and consistency proofs, and C2SP signed-note Ed25519 signatures.
 */

export interface Step {
  label: string;
  ok: boolean;
  detail: string;
}

const te = new TextEncoder();

export async function sha256(data: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', data as BufferSource));
}

export function fromBase64(s: string): Uint8Array {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export function toBase64(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += String.fromCharCode(x);
  return btoa(s);
}

export function fromHex(s: string): Uint8Array {
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export function toHex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

export function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** RFC 8785: keys sorted by UTF-16 code units, ECMAScript number and string forms. */
export function canonicalize(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalize).join(',')}]`;
  const o = value as Record<string, unknown>;
  return `{${Object.keys(o)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonicalize(o[k])}`)
    .join(',')}}`;
}

/** "2026-12-02T00:43:01.102345Z" → microseconds since the epoch. */
export function micros(iso: string): bigint {
  const m = /^(.*T\d{2}:\d{2}:\d{2})(?:\.(\d{1,6}))?Z$/.exec(iso);
  if (!m) throw new Error(`not a UTC time: ${iso}`);
  return BigInt(Date.parse(`${m[1]}Z`)) * 1000n + BigInt((m[2] ?? '').padEnd(6, '0'));
}

/** 0x00 ‖ leaf_data, leaf_data = 0x00 ‖ u32be len ‖ kind ‖ u32be len ‖ pk ‖ event_hash ‖ i64be appended_at µs. */
export async function ledgerLeafHash(kind: string, pk: string, eventHash: Uint8Array, appendedAtMicros: bigint): Promise<Uint8Array> {
  const k = te.encode(kind);
  const p = te.encode(pk);
  const buf = new Uint8Array(2 + 4 + k.length + 4 + p.length + 32 + 8);
  const view = new DataView(buf.buffer);
  let at = 2; // RFC 6962 leaf prefix 0x00, then the format version 0x00
  view.setUint32(at, k.length);
  buf.set(k, at + 4);
  at += 4 + k.length;
  view.setUint32(at, p.length);
  buf.set(p, at + 4);
  at += 4 + p.length;
  buf.set(eventHash, at);
  view.setBigInt64(at + 32, appendedAtMicros);
  return sha256(buf);
}

/** chain_hash(seq) = SHA-256(prev_hash ‖ event_hash ‖ u64be(seq)). */
export async function chainHash(prevHash: Uint8Array, eventHash: Uint8Array, seq: number): Promise<Uint8Array> {
  const buf = new Uint8Array(72);
  buf.set(prevHash, 0);
  buf.set(eventHash, 32);
  new DataView(buf.buffer).setBigUint64(64, BigInt(seq));
  return sha256(buf);
}

const nodeHash = (l: Uint8Array, r: Uint8Array) => sha256(concat(new Uint8Array([1]), l, r));

/** RFC 9162 §2.1.3.2, recording each step; returns the computed root (null when the proof is malformed). */
export async function rootFromInclusion(index: number, size: number, leaf: Uint8Array, proof: Uint8Array[], steps: Step[]): Promise<Uint8Array | null> {
  if (index >= size) return null;
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const [i, p] of proof.entries()) {
    if (sn === 0) return null;
    if (fn % 2 === 1 || fn === sn) {
      r = await nodeHash(p, r);
      steps.push({ label: `step ${i + 1}: sibling on the left`, ok: true, detail: `H(0x01 ‖ ${short(p)} ‖ …) = ${short(r)}` });
      if (fn % 2 === 0) while (fn % 2 === 0 && fn !== 0) [fn, sn] = [fn >> 1, sn >> 1];
    } else {
      r = await nodeHash(r, p);
      steps.push({ label: `step ${i + 1}: sibling on the right`, ok: true, detail: `H(0x01 ‖ … ‖ ${short(p)}) = ${short(r)}` });
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 ? r : null;
}

/** RFC 9162 §2.1.4.2. */
export async function verifyConsistency(oldSize: number, newSize: number, oldRoot: Uint8Array, newRoot: Uint8Array, proof: Uint8Array[]): Promise<boolean> {
  if (oldSize === newSize) return proof.length === 0 && equal(oldRoot, newRoot);
  if (oldSize === 0 || oldSize > newSize || proof.length === 0) return false;
  const path = (oldSize & (oldSize - 1)) === 0 ? [oldRoot, ...proof] : proof;
  let fn = oldSize - 1;
  let sn = newSize - 1;
  while (fn % 2 === 1) [fn, sn] = [fn >> 1, sn >> 1];
  let fr = path[0]!;
  let sr = path[0]!;
  for (const c of path.slice(1)) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      fr = await nodeHash(c, fr);
      sr = await nodeHash(c, sr);
      if (fn % 2 === 0) while (fn % 2 === 0 && fn !== 0) [fn, sn] = [fn >> 1, sn >> 1];
    } else {
      sr = await nodeHash(sr, c);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && equal(fr, oldRoot) && equal(sr, newRoot);
}

export interface Checkpoint {
  origin: string;
  size: number;
  root: Uint8Array;
  text: string;
  signatures: Array<{ name: string; keyId: number; sig: Uint8Array }>;
}

/** A C2SP checkpoint note: origin, size, base64 root (extension lines kept in the text), blank line, signatures. */
export function parseCheckpoint(note: string): Checkpoint {
  const split = note.indexOf('\n\n');
  if (split < 0) throw new Error('the note has no signature block');
  const text = note.slice(0, split + 1);
  const [origin, size, root] = text.split('\n');
  const signatures = note
    .slice(split + 2)
    .split('\n')
    .filter((l) => l.startsWith('— '))
    .map((l) => {
      const [, name, b64] = l.split(' ');
      const bytes = fromBase64(b64!);
      return { name: name!, keyId: new DataView(bytes.buffer).getUint32(0), sig: bytes.slice(4) };
    });
  return { origin: origin!, size: Number(size), root: fromBase64(root!), text, signatures };
}

/** A C2SP vkey `<name>+<key id hex>+<base64(0x01 ‖ 32-byte Ed25519 key)>`. */
export async function parseVkey(vkey: string): Promise<{ name: string; keyId: number; key: CryptoKey }> {
  // The base64 key may itself contain '+': split at the first two only.
  const m = /^([^+\s]+)\+([0-9a-f]{8})\+([A-Za-z0-9+/]+=*)$/.exec(vkey.trim());
  if (!m) throw new Error('a verifier key is <name>+<8 hex digits>+<base64 key>');
  const [, name, id, b64] = m as unknown as [string, string, string, string];
  const raw = fromBase64(b64);
  if (raw.length !== 33 || raw[0] !== 1) throw new Error('only Ed25519 verifier keys (type 0x01) are supported');
  const expected = (await sha256(concat(te.encode(name), new Uint8Array([0x0a]), raw))).slice(0, 4);
  const keyId = new DataView(expected.buffer).getUint32(0);
  if (keyId !== parseInt(id, 16)) throw new Error(`the key id ${id} does not match the key`);
  const key = await crypto.subtle.importKey('raw', raw.slice(1) as BufferSource, { name: 'Ed25519' }, false, ['verify']);
  return { name, keyId, key };
}

/** Whether a key the reader trusts signed the note; each key's outcome is a step. */
export async function verifyNoteSignature(cp: Checkpoint, vkeys: string[], steps: Step[]): Promise<boolean> {
  if (vkeys.length === 0) {
    steps.push({ label: 'checkpoint signature', ok: false, detail: 'no verifier key configured: pass vkeys in the server config, or pin one on this page' });
    return false;
  }
  let any = false;
  for (const v of vkeys) {
    try {
      const k = await parseVkey(v);
      const sig = cp.signatures.find((s) => s.name === k.name && s.keyId === k.keyId);
      if (!sig) {
        steps.push({ label: `signature by ${k.name}`, ok: false, detail: 'the checkpoint carries no signature by this key' });
        continue;
      }
      const ok = await crypto.subtle.verify({ name: 'Ed25519' }, k.key, sig.sig as BufferSource, te.encode(cp.text) as BufferSource);
      steps.push({ label: `Ed25519 signature by ${k.name}`, ok, detail: ok ? 'valid over the checkpoint text' : 'INVALID: the note was altered or signed by another key' });
      any ||= ok;
    } catch (err) {
      steps.push({ label: 'verifier key', ok: false, detail: (err as Error).message });
    }
  }
  return any;
}

export interface EntryJson {
  seq: number;
  kind: string;
  pk: string;
  event_hash: string;
  prev_hash: string;
  chain_hash: string;
  leaf_hash: string;
  appended_at: string;
  payload: unknown;
}

export interface ProofJson {
  seq: number;
  index: number;
  size: number;
  leaf_hash: string;
  root: string;
  proof: string[];
  checkpoint: string | null;
}

/** Every check of one entry against its inclusion proof and signed checkpoint; pass only when all hold. */
export async function checkEntry(entry: EntryJson, proof: ProofJson, vkeys: string[]): Promise<{ ok: boolean; steps: Step[]; ms: number }> {
  const t0 = performance.now();
  const steps: Step[] = [];
  const push = (label: string, ok: boolean, detail: string) => (steps.push({ label, ok, detail }), ok);
  let ok = true;
  const eventHash = fromHex(entry.event_hash);
  if (entry.payload === null) {
    push('payload → event hash', true, 'redacted: the payload is gone, its hash stays and is checked below');
  } else {
    const h = await sha256(te.encode(canonicalize(entry.payload)));
    ok = push('payload → event hash', equal(h, eventHash), `SHA-256(canonical JSON) = ${short(h)}; entry says ${short(eventHash)}`) && ok;
  }
  const chain = await chainHash(fromHex(entry.prev_hash), eventHash, entry.seq);
  ok = push('chain hash', equal(chain, fromHex(entry.chain_hash)), `SHA-256(prev ‖ event ‖ seq) = ${short(chain)}; entry says ${entry.chain_hash.slice(0, 12)}…`) && ok;
  const leaf = await ledgerLeafHash(entry.kind, entry.pk, eventHash, micros(entry.appended_at));
  ok = push('leaf hash', equal(leaf, fromBase64(entry.leaf_hash)), `SHA-256(0x00 ‖ leaf data) = ${short(leaf)}`) && ok;
  if (proof.checkpoint === null) {
    push('signed checkpoint', false, 'no checkpoint signed at this size: run `sealtrail checkpoint`');
    return { ok: false, steps, ms: performance.now() - t0 };
  }
  const cp = parseCheckpoint(proof.checkpoint);
  ok = push('proof fits the checkpoint', cp.size === proof.size && proof.index === entry.seq - 1, `leaf index ${proof.index} of ${proof.size}; checkpoint size ${cp.size}`) && ok;
  const root = await rootFromInclusion(proof.index, cp.size, leaf, proof.proof.map(fromBase64), steps);
  ok = push('root', root !== null && equal(root, cp.root), root ? `computed ${short(root)}; checkpoint ${short(cp.root)}` : 'the proof has the wrong length for this tree') && ok;
  ok = (await verifyNoteSignature(cp, vkeys, steps)) && ok;
  return { ok, steps, ms: performance.now() - t0 };
}

export function short(b: Uint8Array): string {
  return `${toBase64(b).slice(0, 12)}…`;
}
