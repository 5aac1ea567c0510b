/**
 * A decoder of the pgoutput logical replication messages (protocol version 1, text tuples), as
 * `pg_logical_slot_peek_binary_changes(slot, …, 'proto_version', '1', 'publication_names', …)`
 * returns them, one message per row. Only what wal capture needs: transaction bounds, relation
 * descriptions and row changes; anything else is reported as `other` and ignored by the caller.
 * Message layout: PostgreSQL docs, "Logical Replication Message Formats".
 */
import { SealtrailError } from '../core/errors.js';

/** One column of a tuple: null, unchanged TOAST value (not sent), or its text output. */
export type TupleValue = { kind: 'null' } | { kind: 'unchanged' } | { kind: 'text'; text: string };

export interface RelationColumn {
  name: string;
  typeOid: number;
  typmod: number;
  /** Part of the replica identity (the key, or every column under REPLICA IDENTITY FULL). */
  key: boolean;
}

export type PgoutputMessage =
  | { type: 'begin'; finalLsn: string; xid: number }
  | { type: 'commit'; commitLsn: string; endLsn: string }
  | { type: 'relation'; relid: number; schema: string; name: string; replicaIdentity: string; columns: RelationColumn[] }
  | { type: 'insert'; relid: number; row: TupleValue[] }
  | { type: 'update'; relid: number; old: TupleValue[] | null; oldIsKey: boolean; row: TupleValue[] }
  | { type: 'delete'; relid: number; old: TupleValue[]; oldIsKey: boolean }
  | { type: 'truncate'; relids: number[] }
  | { type: 'other'; tag: string };

/** An LSN as PostgreSQL prints it (`16/B374D848`) from its 64-bit value. */
export function formatLsn(value: bigint): string {
  return `${(value >> 32n).toString(16).toUpperCase()}/${(value & 0xffff_ffffn).toString(16).toUpperCase()}`;
}

/** An LSN's 64-bit value from its printed form. */
export function parseLsn(text: string): bigint {
  const m = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(text);
  if (!m) throw new SealtrailError('invalid_argument', `not an LSN: ${JSON.stringify(text)}`);
  return (BigInt(`0x${m[1]}`) << 32n) | BigInt(`0x${m[2]}`);
}

class Reader {
  private at = 0;
  constructor(private readonly buf: Buffer) {}
  private need(n: number): void {
    if (this.at + n > this.buf.length) throw malformed(`truncated message (needs ${n} bytes at ${this.at} of ${this.buf.length})`);
  }
  byte(): number {
    this.need(1);
    return this.buf[this.at++]!;
  }
  char(): string {
    return String.fromCharCode(this.byte());
  }
  int16(): number {
    this.need(2);
    const v = this.buf.readInt16BE(this.at);
    this.at += 2;
    return v;
  }
  int32(): number {
    this.need(4);
    const v = this.buf.readInt32BE(this.at);
    this.at += 4;
    return v;
  }
  uint32(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.at);
    this.at += 4;
    return v;
  }
  lsn(): string {
    this.need(8);
    const v = this.buf.readBigUInt64BE(this.at);
    this.at += 8;
    return formatLsn(v);
  }
  skip(n: number): void {
    this.need(n);
    this.at += n;
  }
  string(): string {
    const end = this.buf.indexOf(0, this.at);
    if (end < 0) throw malformed('unterminated string');
    const s = this.buf.toString('utf8', this.at, end);
    this.at = end + 1;
    return s;
  }
  bytes(n: number): string {
    this.need(n);
    const s = this.buf.toString('utf8', this.at, this.at + n);
    this.at += n;
    return s;
  }
  tuple(): TupleValue[] {
    const n = this.int16();
    const values: TupleValue[] = [];
    for (let i = 0; i < n; i++) {
      const kind = this.char();
      if (kind === 'n') values.push({ kind: 'null' });
      else if (kind === 'u') values.push({ kind: 'unchanged' });
      else if (kind === 't') values.push({ kind: 'text', text: this.bytes(this.int32()) });
      else throw malformed(`unknown tuple value kind ${JSON.stringify(kind)} (binary tuples are not requested)`);
    }
    return values;
  }
  end(): void {
    if (this.at !== this.buf.length) throw malformed(`${this.buf.length - this.at} trailing bytes`);
  }
}

function malformed(why: string): SealtrailError {
  return new SealtrailError('database_error', `unreadable pgoutput message: ${why}`);
}

/** Decodes one pgoutput message. */
export function decodePgoutput(data: Buffer): PgoutputMessage {
  const r = new Reader(data);
  const tag = r.char();
  let msg: PgoutputMessage;
  switch (tag) {
    case 'B': {
      const finalLsn = r.lsn();
      r.skip(8); // commit timestamp
      msg = { type: 'begin', finalLsn, xid: r.uint32() };
      break;
    }
    case 'C': {
      r.byte(); // flags (unused)
      const commitLsn = r.lsn();
      const endLsn = r.lsn();
      r.skip(8); // commit timestamp
      msg = { type: 'commit', commitLsn, endLsn };
      break;
    }
    case 'R': {
      const relid = r.uint32();
      const schema = r.string();
      const name = r.string();
      const replicaIdentity = r.char();
      const n = r.int16();
      const columns: RelationColumn[] = [];
      for (let i = 0; i < n; i++) {
        const flags = r.byte();
        columns.push({ name: r.string(), typeOid: r.uint32(), typmod: r.int32(), key: (flags & 1) === 1 });
      }
      msg = { type: 'relation', relid, schema, name, replicaIdentity, columns };
      break;
    }
    case 'I': {
      const relid = r.uint32();
      if (r.char() !== 'N') throw malformed('insert without a new tuple');
      msg = { type: 'insert', relid, row: r.tuple() };
      break;
    }
    case 'U': {
      const relid = r.uint32();
      let sub = r.char();
      let old: TupleValue[] | null = null;
      let oldIsKey = false;
      if (sub === 'K' || sub === 'O') {
        oldIsKey = sub === 'K';
        old = r.tuple();
        sub = r.char();
      }
      if (sub !== 'N') throw malformed('update without a new tuple');
      msg = { type: 'update', relid, old, oldIsKey, row: r.tuple() };
      break;
    }
    case 'D': {
      const relid = r.uint32();
      const sub = r.char();
      if (sub !== 'K' && sub !== 'O') throw malformed('delete without an old tuple');
      msg = { type: 'delete', relid, old: r.tuple(), oldIsKey: sub === 'K' };
      break;
    }
    case 'T': {
      const n = r.int32();
      r.byte(); // options (CASCADE, RESTART IDENTITY)
      const relids: number[] = [];
      for (let i = 0; i < n; i++) relids.push(r.uint32());
      msg = { type: 'truncate', relids };
      break;
    }
    default:
      // Origin, Type, Message …: nothing capture needs. Not checked for trailing bytes.
      return { type: 'other', tag };
  }
  r.end();
  return msg;
}
