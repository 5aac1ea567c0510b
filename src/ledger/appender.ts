/**
 * Group commit: concurrent append calls queue up and are written in one transaction, so the
 * cost of a durable commit (an fsync) is shared by everyone waiting. Each queued unit is atomic
 * on its own: a unit refused before it is written (a duplicate with a different payload) or whose
 * own domain write throws (rolled back to its savepoint) fails alone and the rest of the group
 * still commits. Any other store error during the group's write (an insert of ledger rows, a
 * savepoint, the head, the commit, a lost connection) fails the whole group: every caller gets
 * the error and nothing of the group is committed.
 */
import { chainHash } from '../core/chain.js';
import { CompactRange } from '../core/compact-range.js';
import { SealtrailError } from '../core/errors.js';
import { ledgerLeafHash } from '../core/ledger-leaf.js';
import type { TileEdge } from '../core/tile-edge.js';
import { entryKey, type EntryRow, type MerkleNode, type Store, type Tx } from '../store/store.js';
import { nowMicros } from '../core/timestamps.js';
import { loadTileEdge } from './frontier.js';
import type { PreparedEvent } from './prepare-event.js';

export interface AppendedEntry extends EntryRow {
  /** True when an identical event (same kind, pk and payload) was already in the ledger. */
  existing: boolean;
  leafHash: Buffer;
}

export type DomainWrite<T> = (tx: Tx, entries: AppendedEntry[]) => Promise<T>;

interface Unit {
  events: PreparedEvent[];
  domain: DomainWrite<unknown> | undefined;
  resolve: (value: { entries: AppendedEntry[]; result: unknown }) => void;
  reject: (err: unknown) => void;
}

interface ChainState {
  size: number;
  chainHash: Buffer;
  range: CompactRange;
  /** The right edge of the stored tiles as this transaction has written them (lags `range` until a flush). */
  edge: TileEdge;
}

/** Upper bound of events written in one group transaction. */
const MAX_GROUP_EVENTS = 10_000;

export class Appender {
  private readonly queue: Unit[] = [];
  private flushing = false;
  /** The chain state after our last commit; reused when nobody else has appended since. */
  private cached: ChainState | null = null;

  constructor(private readonly store: Store) {}

  enqueue<T>(events: PreparedEvent[], domain?: DomainWrite<T>): Promise<{ entries: AppendedEntry[]; result: T }> {
    return new Promise((resolve, reject) => {
      this.queue.push({ events, domain: domain as DomainWrite<unknown> | undefined, resolve: resolve as Unit['resolve'], reject });
      if (!this.flushing) void this.flushLoop();
    });
  }

  private async flushLoop(): Promise<void> {
    this.flushing = true;
    try {
      while (this.queue.length > 0) {
        const group = this.takeGroup();
        await this.writeGroup(group);
      }
    } finally {
      this.flushing = false;
    }
  }

  private takeGroup(): Unit[] {
    const group: Unit[] = [];
    let events = 0;
    while (this.queue.length > 0) {
      const next = this.queue[0]!;
      if (group.length > 0 && events + next.events.length > MAX_GROUP_EVENTS) break;
      group.push(this.queue.shift()!);
      events += next.events.length;
    }
    return group;
  }

  private async writeGroup(group: Unit[]): Promise<void> {
    const outcomes = new Map<Unit, { ok: true; entries: AppendedEntry[]; result: unknown } | { ok: false; error: unknown }>();
    let committed: ChainState | null = null;
    try {
      await this.store.writeTransaction(async (tx) => {
        outcomes.clear();
        const head = await tx.ledger.head();
        const state = await this.stateFor(tx, head);
        const keys = group.flatMap((u) => u.events.filter((e) => e.version === undefined).map((e) => ({ kind: e.kind, pk: e.pk })));
        const known = await tx.ledger.findByKeys(keys);
        const pendingRows: EntryRow[] = [];
        const pendingNodes: MerkleNode[] = [];
        // Rows and tiles of all units so far in one write each: a tile the batch touches is written once.
        const flushPending = async () => {
          if (pendingRows.length === 0) return;
          await tx.ledger.insertEntries(pendingRows.splice(0));
          await tx.ledger.writeTiles(state.edge.apply(pendingNodes.splice(0)));
        };
        for (const unit of group) {
          const before = { size: state.size, chainHash: state.chainHash, range: state.range.clone() };
          const addedKeys: string[] = [];
          const restore = () => {
            state.size = before.size;
            state.chainHash = before.chainHash;
            state.range = before.range;
            for (const key of addedKeys) known.delete(key);
          };
          let chained: ReturnType<typeof chainUnit>;
          try {
            // Pure: refuses a unit (duplicate_event) before anything of it is written.
            chained = chainUnit(unit.events, state, known, addedKeys);
          } catch (error) {
            restore();
            outcomes.set(unit, { ok: false, error });
            continue;
          }
          const { entries, rows, nodes } = chained;
          if (!unit.domain) {
            pendingRows.push(...rows);
            pendingNodes.push(...nodes);
            outcomes.set(unit, { ok: true, entries, result: undefined });
            continue;
          }
          // Earlier units' rows: a failure here is the whole group's, so it is not caught.
          await flushPending();
          const edgeBefore = state.edge.clone();
          const domain = unit.domain;
          let domainError: { error: unknown } | null = null;
          let result: unknown;
          try {
            result = await tx.savepoint(async () => {
              await tx.ledger.insertEntries(rows);
              await tx.ledger.writeTiles(state.edge.apply(nodes));
              // The head is written before the domain write so database triggers it fires (sync capture)
              // chain after these entries; their entries are picked up afterwards.
              return withChainingDomain(tx, state, async () => {
                try {
                  return await domain(tx, entries);
                } catch (error) {
                  domainError = { error };
                  throw error;
                }
              });
            });
          } catch (error) {
            // Only the unit's own domain write, rolled back to its savepoint, fails alone. Anything
            // else (inserting its ledger rows, the savepoint itself, a transaction the database
            // already rolled back, a lost connection) is a store failure: the whole group's.
            if (domainError === null || (domainError as { error: unknown }).error !== error) throw error;
            restore();
            state.edge = edgeBefore;
            outcomes.set(unit, { ok: false, error });
            continue;
          }
          outcomes.set(unit, { ok: true, entries, result });
        }
        await flushPending();
        if (state.size !== head.size) {
          await tx.ledger.writeHead({ size: state.size, chainHash: state.chainHash, root: state.range.root() });
        }
        committed = state;
      });
    } catch (error) {
      this.cached = null;
      for (const unit of group) unit.reject(error);
      return;
    }
    this.cached = committed;
    for (const unit of group) {
      const outcome = outcomes.get(unit);
      if (!outcome) unit.reject(new SealtrailError('internal', 'append outcome lost'));
      else if (outcome.ok) unit.resolve({ entries: outcome.entries, result: outcome.result });
      else unit.reject(outcome.error);
    }
  }

  private async stateFor(tx: Tx, head: { size: number; chainHash: Buffer; root: Buffer }): Promise<ChainState> {
    // The edge tiles are read every time (one small read): appending from a cached edge would
    // rewrite a partial tile someone altered meanwhile and erase the evidence. A stored edge that
    // does not fit the head refuses the append (integrity_failure).
    const edge = await loadTileEdge(tx, head.size);
    const c = this.cached;
    if (c && c.size === head.size && c.chainHash.equals(head.chainHash) && c.edge.equals(edge)) {
      return { size: c.size, chainHash: c.chainHash, range: c.range.clone(), edge };
    }
    return { size: head.size, chainHash: head.chainHash, range: CompactRange.fromFrontier(head.size, edge.frontier()), edge };
  }
}

/**
 * Runs a domain write that may chain events itself: on PostgreSQL a capture trigger on a watched
 * table, or the guard that records an UPDATE of audit_chain (a redaction) as a
 * sealtrail.maintenance event, chains from ledger_head. So the head is brought up to date first,
 * and the group continues from whatever the domain write left (`state` is updated).
 */
async function withChainingDomain<T>(tx: Tx, state: ChainState, write: () => Promise<T>): Promise<T> {
  await tx.ledger.writeHead({ size: state.size, chainHash: state.chainHash, root: state.range.root() });
  const result = await write();
  const after = await tx.ledger.head();
  if (after.size !== state.size) {
    state.edge = await loadTileEdge(tx, after.size);
    state.range = CompactRange.fromFrontier(after.size, state.edge.frontier());
    state.size = after.size;
    state.chainHash = after.chainHash;
  }
  return result;
}

/** Chains one unit's events onto `state` (mutating it); throws before anything is written. */
function chainUnit(
  events: PreparedEvent[],
  state: ChainState,
  known: Map<string, EntryRow>,
  addedKeys: string[],
): { entries: AppendedEntry[]; rows: EntryRow[]; nodes: MerkleNode[] } {
  const entries: AppendedEntry[] = [];
  const rows: EntryRow[] = [];
  const nodes: MerkleNode[] = [];
  const appendedAtMicros = nowMicros();
  for (let i = 0; i < events.length; i++) {
    const event = events[i]!;
    const seq = state.size + 1;
    let pk = event.pk;
    const key = entryKey(event.kind, event.pk);
    if (event.version !== undefined) {
      pk = `${event.pk}${event.version}${seq}`;
    } else {
      const existing = known.get(key);
      if (existing?.eventHash.equals(event.eventHash)) {
        const leafHash = ledgerLeafHash({ kind: existing.kind, pk: existing.pk, eventHash: existing.eventHash, appendedAtMicros: existing.appendedAtMicros });
        entries.push({ ...existing, existing: true, leafHash });
        continue;
      }
      if (existing) {
        if (event.onConflict !== 'version') {
          throw new SealtrailError('duplicate_event', `an event ${event.kind}/${event.pk} with a different payload is already in the ledger (seq ${existing.seq})`, {
            details: { kind: event.kind, pk: event.pk, seq: existing.seq, index: i },
          });
        }
        // The first payload keeps the plain pk; later differing ones are compared with it too.
        pk = `${event.pk}@${seq}`;
      }
    }
    const leaf = ledgerLeafHash({ kind: event.kind, pk, eventHash: event.eventHash, appendedAtMicros });
    // One object serves as the row to insert and as the caller's result.
    const row: AppendedEntry = {
      seq,
      kind: event.kind,
      pk,
      eventHash: event.eventHash,
      prevHash: state.chainHash,
      chainHash: chainHash(state.chainHash, event.eventHash, seq),
      appendedAtMicros,
      payload: event.canonical,
      existing: false,
      leafHash: leaf,
    };
    for (const node of state.range.append(leaf)) nodes.push(node);
    state.size = seq;
    state.chainHash = row.chainHash;
    rows.push(row);
    entries.push(row);
    if (pk === event.pk) {
      known.set(key, row);
      addedKeys.push(key);
    }
  }
  return { entries, rows, nodes };
}
