/**
 * What an attacker with full write access to the database can do to the ledger tables. The demo
 * runs these on COPIES of a ledger to show each one caught, and the tamper-matrix tests run them
 * on both backends. Never pointed at a ledger anyone relies on.
 */
import { canonicalHash, canonicalize } from '../core/canonical-json.js';
import { chainHash, GENESIS_HASH } from '../core/chain.js';
import { CompactRange } from '../core/compact-range.js';
import { ledgerLeafHash } from '../core/ledger-leaf.js';
import { TileEdge, type Tile } from '../core/tile-edge.js';
import type { EntryRow, Store } from '../store/store.js';

export type Tampering =
  | { type: 'edit_payload'; seq: number; payload: unknown }
  | { type: 'edit_event_hash'; seq: number }
  | { type: 'edit_prev_hash'; seq: number }
  | { type: 'edit_chain_hash'; seq: number }
  | { type: 'delete_row'; seq: number }
  | { type: 'truncate_tail'; keep: number; rewindHead: boolean }
  | { type: 'swap_rows'; a: number; b: number }
  | { type: 'phantom_row'; kind: string; pk: string; payload: unknown }
  | { type: 'rechain'; seq: number; payload: unknown }
  /** The lazy forger: edit, re-chain every later row and the head row, leave merkle_tiles stale. */
  | { type: 'lazy_rechain'; seq: number; payload: unknown }
  /** Merkle storage alone: flip a byte of one hash of a stored tile, delete a tile, or cut a tile short. */
  | { type: 'edit_tile'; level: number; index: number; position: number }
  | { type: 'delete_tile'; level: number; index: number }
  | { type: 'truncate_tile'; level: number; index: number; width: number }
  /** The head row alone. */
  | { type: 'edit_head'; field: 'chain_hash' | 'root' }
  | { type: 'set_head_size'; size: number }
  /** A payload set to NULL without the redaction event that would record it. */
  | { type: 'blank_payload'; seq: number };

function flipFirstByte(hash: Buffer): Buffer {
  const copy = Buffer.from(hash);
  copy[0] = copy[0]! ^ 0x01;
  return copy;
}

export async function tamper(store: Store, t: Tampering): Promise<void> {
  switch (t.type) {
    case 'edit_payload':
      await store.run('UPDATE audit_chain SET payload = ? WHERE seq = ?', [canonicalize(t.payload), t.seq]);
      return;
    case 'edit_event_hash':
    case 'edit_prev_hash':
    case 'edit_chain_hash': {
      const column = t.type.slice('edit_'.length);
      const rows = await store.query<Record<string, Buffer>>(`SELECT ${column} AS h FROM audit_chain WHERE seq = ?`, [t.seq]);
      await store.run(`UPDATE audit_chain SET ${column} = ? WHERE seq = ?`, [flipFirstByte(rows[0]!.h!), t.seq]);
      return;
    }
    case 'delete_row':
      await store.run('DELETE FROM audit_chain WHERE seq = ?', [t.seq]);
      return;
    case 'truncate_tail':
      await store.run('DELETE FROM audit_chain WHERE seq > ?', [t.keep]);
      if (t.rewindHead) await rebuildTree(store);
      return;
    case 'swap_rows': {
      // Move both rows' contents (everything but seq) to the other's position.
      const [ra, rb] = await Promise.all([readRow(store, t.a), readRow(store, t.b)]);
      await store.transaction(async (tx) => {
        await tx.run('DELETE FROM audit_chain WHERE seq IN (?, ?)', [t.a, t.b]);
        for (const [seq, r] of [
          [t.a, rb],
          [t.b, ra],
        ] as const) {
          await tx.run(
            'INSERT INTO audit_chain (seq, event_kind, event_pk, event_hash, prev_hash, chain_hash, appended_at, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
            [seq, r.event_kind!, r.event_pk!, r.event_hash!, r.prev_hash!, r.chain_hash!, r.appended_at!, r.payload ?? null],
          );
        }
      });
      return;
    }
    case 'phantom_row': {
      // A well-formed entry slipped in after the head, chained onto the last row.
      const last = await store.query<{ seq: number; chain_hash: Buffer; appended_at: unknown }>(
        'SELECT seq, chain_hash, appended_at FROM audit_chain ORDER BY seq DESC LIMIT 1',
      );
      const seq = Number(last[0]?.seq ?? 0) + 1;
      const prev = last[0]?.chain_hash ?? GENESIS_HASH;
      const payload = canonicalize(t.payload);
      const eventHash = canonicalHash(payload);
      await store.run(
        'INSERT INTO audit_chain (seq, event_kind, event_pk, event_hash, prev_hash, chain_hash, appended_at, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
        [seq, t.kind, t.pk, eventHash, prev, chainHash(prev, eventHash, seq), toText(last[0]?.appended_at ?? new Date().toISOString()), payload],
      );
      return;
    }
    case 'rechain':
      await rechain(store, t.seq, t.payload);
      return;
    case 'lazy_rechain':
      await rechain(store, t.seq, t.payload, { rebuildTree: false });
      return;
    case 'edit_tile': {
      const rows = await store.query<{ hashes: Buffer }>('SELECT hashes FROM merkle_tiles WHERE level = ? AND idx = ?', [t.level, t.index]);
      const hashes = Buffer.from(rows[0]!.hashes);
      hashes[t.position * 32] = hashes[t.position * 32]! ^ 0x01;
      await store.run('UPDATE merkle_tiles SET hashes = ? WHERE level = ? AND idx = ?', [hashes, t.level, t.index]);
      return;
    }
    case 'delete_tile':
      await store.run('DELETE FROM merkle_tiles WHERE level = ? AND idx = ?', [t.level, t.index]);
      return;
    case 'truncate_tile': {
      const rows = await store.query<{ hashes: Buffer }>('SELECT hashes FROM merkle_tiles WHERE level = ? AND idx = ?', [t.level, t.index]);
      await store.run('UPDATE merkle_tiles SET width = ?, hashes = ? WHERE level = ? AND idx = ?', [t.width, rows[0]!.hashes.subarray(0, t.width * 32), t.level, t.index]);
      return;
    }
    case 'edit_head': {
      const head = await store.readHead();
      const column = t.field;
      await store.run(`UPDATE ledger_head SET ${column} = ? WHERE id = 1`, [flipFirstByte(column === 'root' ? head.root : head.chainHash)]);
      return;
    }
    case 'set_head_size':
      await store.run('UPDATE ledger_head SET size = ? WHERE id = 1', [t.size]);
      return;
    case 'blank_payload':
      await store.run('UPDATE audit_chain SET payload = NULL WHERE seq = ?', [t.seq]);
      return;
  }
}

function toText(v: unknown): string {
  return v instanceof Date ? v.toISOString() : String(v);
}

async function readRow(store: Store, seq: number): Promise<Record<string, string | Buffer | null>> {
  const rows = await store.query<Record<string, string | Buffer | null>>(
    store.dialect === 'postgres'
      ? `SELECT event_kind, event_pk, event_hash, prev_hash, chain_hash, to_char(appended_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS appended_at, payload FROM audit_chain WHERE seq = ?`
      : 'SELECT event_kind, event_pk, event_hash, prev_hash, chain_hash, appended_at, payload FROM audit_chain WHERE seq = ?',
    [seq],
  );
  return rows[0]!;
}

/** The forgery a table-only check cannot see: edit one payload, then recompute everything after it. */
async function rechain(store: Store, seq: number, payload: unknown, options: { rebuildTree: boolean } = { rebuildTree: true }): Promise<void> {
  const canonical = canonicalize(payload);
  await store.run('UPDATE audit_chain SET payload = ?, event_hash = ? WHERE seq = ?', [canonical, canonicalHash(canonical), seq]);
  const entries: EntryRow[] = [];
  for await (const batch of store.entryBatches(1, Number.MAX_SAFE_INTEGER)) entries.push(...batch);
  let prev = GENESIS_HASH;
  await store.transaction(async (tx) => {
    for (const e of entries) {
      const h = chainHash(prev, e.eventHash, e.seq);
      if (e.seq >= seq) await tx.run('UPDATE audit_chain SET prev_hash = ?, chain_hash = ? WHERE seq = ?', [prev, h, e.seq]);
      prev = h;
    }
  });
  if (options.rebuildTree) {
    await rebuildTree(store);
    return;
  }
  // The head row is made to agree with the edited entries (its root too), so only the stored
  // subtrees still describe the original leaves.
  const range = new CompactRange();
  for (const e of entries) range.append(ledgerLeafHash({ kind: e.kind, pk: e.pk, eventHash: e.eventHash, appendedAtMicros: e.appendedAtMicros }));
  await store.run('UPDATE ledger_head SET chain_hash = ?, root = ? WHERE id = 1', [prev, range.root()]);
}

/** Recomputes merkle_tiles and ledger_head from whatever audit_chain now holds. */
async function rebuildTree(store: Store): Promise<void> {
  const range = new CompactRange();
  const edge = new TileEdge();
  const tiles: Tile[] = [];
  let last: EntryRow | undefined;
  for await (const batch of store.entryBatches(1, Number.MAX_SAFE_INTEGER)) {
    const nodes = batch.flatMap((e) => range.append(ledgerLeafHash({ kind: e.kind, pk: e.pk, eventHash: e.eventHash, appendedAtMicros: e.appendedAtMicros })));
    tiles.push(...edge.apply(nodes));
    last = batch[batch.length - 1] ?? last;
  }
  await store.writeTransaction(async (tx) => {
    await tx.run('DELETE FROM merkle_tiles');
    // A partial tile rewritten by a later batch is written once, in its final form.
    const final = new Map(tiles.map((t) => [`${t.level}/${t.index}`, t]));
    await tx.ledger.writeTiles([...final.values()]);
    await tx.ledger.writeHead({ size: range.size, chainHash: last?.chainHash ?? GENESIS_HASH, root: range.root() });
  });
}
