/**
 * What capture is supposed to be doing, read from the chain rather than from `capture_tables`:
 * `watchTable`/`unwatchTable`/`installCapture` chain their configuration as events in the same
 * transaction as the registry change, and the scan replays those events (each one re-hashed
 * here from its payload) to learn which tables are watched, in which mode, and whether DDL
 * evidence was installed. It then holds the catalog (triggers, event triggers, tables) and the
 * registry to that: anything switched off, altered or missing is a `capture_disabled` finding.
 * Chained DDL and maintenance evidence is read back and attributed to sealtrail's own
 * operations when it was chained in the same transaction as one of them.
 */
import { canonicalHash, canonicalize, parseJson } from '../core/canonical-json.js';
import { chainHash } from '../core/chain.js';
import { SealtrailError } from '../core/errors.js';
import type { DdlEvidence, ScanFinding } from '../ledger/scan.js';
import type { Queryable, Tx } from '../store/store.js';

export const WATCH_EVENT = 'sealtrail.capture.watch';
export const UNWATCH_EVENT = 'sealtrail.capture.unwatch';
export const INSTALL_EVENT = 'sealtrail.capture.install';
/** Chained by the DDL event triggers and the registry guard (migrations/postgres). */
export const DDL_EVENT = 'sealtrail.ddl';
/** Chained by the write guards when a maintenance session touches an audit table. */
export const MAINTENANCE_EVENT = 'sealtrail.maintenance';

const CAPTURE_EVENTS = [WATCH_EVENT, UNWATCH_EVENT, INSTALL_EVENT] as const;
const EVIDENCE_EVENTS = [DDL_EVENT, MAINTENANCE_EVENT] as const;

export const CAPTURE_TRIGGER = 'sealtrail_capture';
export const TRUNCATE_GUARD = 'sealtrail_truncate_guard';
export const DDL_EVENT_TRIGGERS = [
  { name: 'sealtrail_ddl_end', event: 'ddl_command_end' },
  { name: 'sealtrail_ddl_drop', event: 'sql_drop' },
] as const;

/** The configuration a `sealtrail.capture.watch` event records. */
export interface ChainedWatch {
  kind: string;
  /** The table as PostgreSQL named it when it was watched. */
  table: string;
  schema: string;
  name: string;
  mode: 'sync' | 'queued' | 'wal';
  pkColumns: string[];
  updates: boolean;
  deletes: boolean;
  /** The watch event's seq. */
  seq: number;
}

interface CaptureEvent {
  seq: number;
  kind: string;
  payload: Record<string, unknown>;
}

export interface CaptureHistory {
  /** Watched tables by event kind, as the verified chain events leave them. */
  watched: Map<string, ChainedWatch>;
  /** The latest verified install event that recorded DDL evidence (event triggers), if any. */
  ddlEvidence: { seq: number; triggers: Array<{ name: string; event: string }> } | null;
  /** Transaction ids of sealtrail's own capture events, mapped to their seq. */
  txids: Map<string, number>;
  /**
   * Capture events that switched capture off or narrowed it: an unwatch, or a re-watch that no
   * longer chains UPDATEs or DELETEs. sealtrail's own, yet exactly what an attacker would run.
   */
  weakening: Set<number>;
  /** Capture events whose stored payload no longer hashes to their chained event_hash. */
  mismatched: ScanFinding[];
}

/**
 * Appends one capture event in the caller's transaction (so it commits or rolls back with the
 * registry change it records) and returns its seq. The payload is built and canonicalised here,
 * the same way the scan re-hashes it; the txid ties the DDL evidence of this transaction to it.
 */
export async function chainCaptureEvent(tx: Tx, kind: (typeof CAPTURE_EVENTS)[number], body: Record<string, unknown>): Promise<number> {
  const txid = (await tx.query<{ x: string }>('SELECT pg_current_xact_id()::text AS x'))[0]!.x;
  const payload = canonicalize({ ...body, txid, role: await sessionUser(tx) });
  const size = (await tx.query<{ n: string | number }>('SELECT sealtrail_chain(ARRAY[?]::text[], ARRAY[NULL]::text[], ARRAY[?]::text[]) AS n', [kind, payload]))[0]!.n;
  return Number(size);
}

async function sessionUser(q: Queryable): Promise<string> {
  return (await q.query<{ u: string }>('SELECT session_user::text AS u'))[0]!.u;
}

interface StoredEvent extends Record<string, unknown> {
  seq: string | number;
  event_kind: string;
  event_hash: Buffer;
  prev_hash: Buffer;
  chain_hash: Buffer;
  payload: string | null;
}

/**
 * Reads events of the given kinds in seq order and keeps those whose payload hashes to their
 * event_hash and whose chain_hash follows from it; the others are returned as `evidence_mismatch`.
 */
async function readVerified(q: Queryable, kinds: readonly string[], since = 0): Promise<{ events: CaptureEvent[]; mismatched: ScanFinding[] }> {
  const rows = await q.query<StoredEvent>(
    `SELECT seq, event_kind, event_pk, event_hash, prev_hash, chain_hash, payload FROM audit_chain
     WHERE event_kind = ANY (?::text[]) AND seq > ? ORDER BY seq`,
    [`{${kinds.map((k) => `"${k}"`).join(',')}}`, since],
  );
  const events: CaptureEvent[] = [];
  const mismatched: ScanFinding[] = [];
  for (const r of rows) {
    const seq = Number(r.seq);
    const payload = verifiedPayload(r, seq);
    if (payload === null) {
      mismatched.push({ type: 'evidence_mismatch', event_kind: r.event_kind, event_pk: String(r.event_pk), seq, reason: r.payload === null ? 'payload_missing' : 'hash_mismatch' });
    } else {
      events.push({ seq, kind: r.event_kind, payload });
    }
  }
  return { events, mismatched };
}

function verifiedPayload(r: StoredEvent, seq: number): Record<string, unknown> | null {
  if (r.payload === null) return null;
  if (!canonicalHash(r.payload).equals(r.event_hash)) return null;
  if (!chainHash(r.prev_hash, r.event_hash, seq).equals(r.chain_hash)) return null;
  let value: unknown;
  try {
    value = parseJson(r.payload);
    if (canonicalize(value) !== r.payload) return null;
  } catch (err) {
    if (err instanceof SealtrailError) return null;
    throw err;
  }
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
}

function asWatch(e: CaptureEvent): ChainedWatch | null {
  const p = e.payload;
  const strings = (v: unknown): v is string[] => Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string');
  if (typeof p.kind !== 'string' || typeof p.table !== 'string' || typeof p.schema !== 'string' || typeof p.name !== 'string') return null;
  if ((p.mode !== 'sync' && p.mode !== 'queued' && p.mode !== 'wal') || !strings(p.pk_columns) || typeof p.updates !== 'boolean' || typeof p.deletes !== 'boolean') return null;
  return { kind: p.kind, table: p.table, schema: p.schema, name: p.name, mode: p.mode, pkColumns: p.pk_columns, updates: p.updates, deletes: p.deletes, seq: e.seq };
}

/** Replays the verified capture events: the watched set, DDL evidence promised, and sealtrail's txids. */
export async function captureHistory(q: Queryable): Promise<CaptureHistory> {
  const { events, mismatched } = await readVerified(q, CAPTURE_EVENTS);
  const watched = new Map<string, ChainedWatch>();
  const txids = new Map<string, number>();
  const weakening = new Set<number>();
  let ddlEvidence: CaptureHistory['ddlEvidence'] = null;
  for (const e of events) {
    if (typeof e.payload.txid === 'string') txids.set(e.payload.txid, e.seq);
    if (e.kind === WATCH_EVENT) {
      const w = asWatch(e);
      const before = w ? watched.get(w.kind) : undefined;
      if (before && ((before.updates && !w!.updates) || (before.deletes && !w!.deletes))) weakening.add(e.seq);
      if (w) watched.set(w.kind, w);
      else mismatched.push({ type: 'evidence_mismatch', event_kind: e.kind, event_pk: String(e.seq), seq: e.seq, reason: 'malformed' });
    } else if (e.kind === UNWATCH_EVENT) {
      if (typeof e.payload.kind === 'string' && watched.delete(e.payload.kind)) weakening.add(e.seq);
    } else if (e.kind === INSTALL_EVENT && Array.isArray(e.payload.event_triggers)) {
      const triggers = (e.payload.event_triggers as unknown[]).filter(
        (t): t is { name: string; event: string } => t !== null && typeof t === 'object' && typeof (t as { name?: unknown }).name === 'string' && typeof (t as { event?: unknown }).event === 'string',
      );
      if (triggers.length > 0) {
        // An install that no longer names every event trigger the previous one did narrows DDL evidence.
        if (ddlEvidence?.triggers.some((old) => !triggers.some((t) => t.name === old.name && t.event === old.event))) weakening.add(e.seq);
        ddlEvidence = { seq: e.seq, triggers: triggers.map((t) => ({ name: t.name, event: t.event })) };
      }
    }
  }
  return { watched, ddlEvidence, txids, weakening, mismatched };
}

/** Chained DDL and maintenance evidence after `since`, each attributed to sealtrail or not. */
export async function ddlEvidenceSince(q: Queryable, history: CaptureHistory, since: number): Promise<{ evidence: DdlEvidence[]; mismatched: ScanFinding[] }> {
  const { events, mismatched } = await readVerified(q, [...EVIDENCE_EVENTS, ...CAPTURE_EVENTS], since);
  const evidence = events.map((e): DdlEvidence => {
    const own = CAPTURE_EVENTS.includes(e.kind as (typeof CAPTURE_EVENTS)[number]);
    const txid = typeof e.payload.txid === 'string' ? e.payload.txid : null;
    const explainedBy = own ? e.seq : txid !== null ? (history.txids.get(txid) ?? null) : null;
    return { seq: e.seq, event_kind: e.kind, by_sealtrail: explainedBy !== null, explained_by: explainedBy, weakens_capture: history.weakening.has(e.seq), payload: e.payload };
  });
  return { evidence, mismatched };
}

export interface RegistryRow extends Record<string, unknown> {
  relid: string | number;
  table_name: string;
  schema: string | null;
  name: string | null;
  event_kind: string;
  mode: string;
  pk_columns: string[];
  updates: boolean;
  deletes: boolean;
}

export async function registryRows(q: Queryable): Promise<RegistryRow[]> {
  return q.query<RegistryRow>(
    `SELECT ct.relid::int8 AS relid, ct.table_name, n.nspname::text AS schema, c.relname::text AS name, ct.event_kind, ct.mode, ct.pk_columns, ct.updates, ct.deletes
     FROM capture_tables ct LEFT JOIN pg_class c ON c.oid = ct.relid LEFT JOIN pg_namespace n ON n.oid = c.relnamespace
     ORDER BY ct.event_kind`,
  );
}

interface TriggerRow extends Record<string, unknown> {
  name: string;
  enabled: string;
  type: number;
  args: Buffer;
  nargs: number;
  has_when: boolean;
  has_columns: boolean;
  ours: boolean;
  new_table: string | null;
  old_table: string | null;
}

// pg_trigger.tgtype bits (src/include/catalog/pg_trigger.h)
const TG_ROW = 1;
const TG_BEFORE = 2;
const TG_INSERT = 4;
const TG_DELETE = 8;
const TG_UPDATE = 16;
const TG_TRUNCATE = 32;
const TG_INSTEAD = 64;

function triggerArgs(t: TriggerRow): string[] {
  const parts = t.args.toString('utf8').split('\u0000');
  return parts.slice(0, t.nargs);
}

/** The relid of a watched table as recorded, or null when no such table exists now. */
async function tableOid(q: Queryable, schema: string, name: string): Promise<number | null> {
  const rows = await q.query<{ relid: string | number }>(
    `SELECT c.oid::int8 AS relid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = ? AND c.relname = ? AND c.relkind IN ('r', 'p')`,
    [schema, name],
  );
  return rows[0] ? Number(rows[0].relid) : null;
}

export async function watchedRelid(q: Queryable, w: Pick<ChainedWatch, 'schema' | 'name'>): Promise<number | null> {
  return tableOid(q, w.schema, w.name);
}

async function triggersOf(q: Queryable, relid: number): Promise<TriggerRow[]> {
  return q.query<TriggerRow>(
    `SELECT t.tgname::text AS name, t.tgenabled::text AS enabled, t.tgtype::int AS type, t.tgargs AS args, t.tgnargs::int AS nargs,
            t.tgqual IS NOT NULL AS has_when, t.tgattr::text <> '' AS has_columns, t.tgnewtable::text AS new_table, t.tgoldtable::text AS old_table,
            p.proname IN ('audit_chain_append', 'sealtrail_guard') AND p.pronamespace = (SELECT relnamespace FROM pg_class WHERE oid = to_regclass('capture_tables')) AS ours
     FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid
     WHERE t.tgrelid = ?::oid AND t.tgname IN (?, ?) AND NOT t.tgisinternal`,
    [relid, CAPTURE_TRIGGER, TRUNCATE_GUARD],
  );
}

/** Why a table's capture trigger does not do what the chained watch says, or null when it does. */
function captureTriggerProblem(t: TriggerRow | undefined, w: ChainedWatch): 'trigger_missing' | 'trigger_disabled' | 'trigger_altered' | null {
  if (!t) return 'trigger_missing';
  if (t.enabled === 'D' || t.enabled === 'R') return 'trigger_disabled';
  const events = TG_INSERT | (w.updates ? TG_UPDATE : 0) | (w.deletes ? TG_DELETE : 0);
  // Row level (queued; sync chaining UPDATE or DELETE; sync as watched before capture step 6),
  // or, for sync on INSERT only, once per statement over the transition table audit_chain_append
  // reads (sealtrail_new).
  const statement = w.mode === 'sync' && !w.updates && !w.deletes && (t.type & TG_ROW) === 0;
  const wantType = (statement ? 0 : TG_ROW) | events;
  const transitionOk = statement ? t.new_table === 'sealtrail_new' && t.old_table === null : t.new_table === null && t.old_table === null;
  const args = triggerArgs(t);
  const wantArgs = [w.kind, w.mode, ...w.pkColumns];
  if (
    t.enabled !== 'A' ||
    !t.ours ||
    t.has_when ||
    t.has_columns ||
    !transitionOk ||
    (t.type & (TG_ROW | TG_BEFORE | TG_INSTEAD | TG_INSERT | TG_UPDATE | TG_DELETE | TG_TRUNCATE)) !== wantType ||
    args.length !== wantArgs.length ||
    args.some((a, i) => a !== wantArgs[i])
  ) {
    return 'trigger_altered';
  }
  return null;
}

/**
 * Why a table watched in wal mode would not be chained: the server no longer decodes
 * (`wal_level`), the slot or the publication is gone, or the table is no longer published whole
 * (left the publication, row filter, column list, an operation not published, replica identity
 * no longer FULL): `publication_altered`.
 */
async function walProblems(q: Queryable, w: ChainedWatch, relid: number): Promise<string[]> {
  const rows = await q.query<{ level: string; slot: boolean; pub: boolean; whole: boolean | null; ops: boolean | null; full: boolean }>(
    `WITH names AS (SELECT 'sealtrail_' || (SELECT oid FROM pg_database WHERE datname = current_database())::int8 || '_'
                           || (SELECT relnamespace FROM pg_class WHERE oid = to_regclass('capture_tables'))::int8 AS n)
     SELECT current_setting('wal_level') AS level,
            EXISTS (SELECT 1 FROM pg_replication_slots s, names WHERE s.slot_name = names.n AND s.plugin = 'pgoutput'
                    AND s.database = current_database()) AS slot,
            EXISTS (SELECT 1 FROM pg_publication p, names WHERE p.pubname = names.n) AS pub,
            (SELECT r.prqual IS NULL AND r.prattrs IS NULL FROM pg_publication_rel r JOIN pg_publication p ON p.oid = r.prpubid, names
             WHERE p.pubname = names.n AND r.prrelid = ?::oid) AS whole,
            (SELECT p.pubinsert AND (p.pubupdate OR NOT ?) AND (p.pubdelete OR NOT ?) FROM pg_publication p, names WHERE p.pubname = names.n) AS ops,
            (SELECT relreplident = 'f' FROM pg_class WHERE oid = ?::oid) AS full`,
    [relid, w.updates, w.deletes, relid],
  );
  const r = rows[0]!;
  const problems: string[] = [];
  if (r.level !== 'logical') problems.push('wal_level');
  if (!r.slot) problems.push('slot_missing');
  if (!r.pub) problems.push('publication_missing');
  else if (r.whole !== true || r.ops !== true || (!r.full && (w.updates || w.deletes))) problems.push('publication_altered');
  return problems;
}

function guardProblem(t: TriggerRow | undefined): 'truncate_guard_missing' | 'truncate_guard_disabled' | null {
  if (!t) return 'truncate_guard_missing';
  // Enabled for origin sessions only ('O') is off under session_replication_role = replica.
  if (t.enabled !== 'A' || !t.ours || (t.type & (TG_TRUNCATE | TG_BEFORE)) !== (TG_TRUNCATE | TG_BEFORE) || t.has_when) return 'truncate_guard_disabled';
  return null;
}

/**
 * Holds the catalog and the registry to the chained capture configuration. Returns one finding
 * per problem: `capture_disabled` for a chain-watched table whose capture is off or altered (and
 * for DDL evidence event triggers that were installed and are now missing or disabled),
 * `capture_unrecorded` for a registry row that no chained watch accounts for.
 */
export async function captureFindings(q: Queryable, history: CaptureHistory): Promise<ScanFinding[]> {
  const findings: ScanFinding[] = [];
  const registry = await registryRows(q);
  for (const w of history.watched.values()) {
    const disabled = (reason: string) => findings.push({ type: 'capture_disabled', event_kind: w.kind, event_pk: w.table, seq: w.seq, reason, table: w.table });
    const relid = await watchedRelid(q, w);
    if (relid === null) {
      disabled('table_missing');
      continue;
    }
    const triggers = await triggersOf(q, relid);
    if (w.mode === 'wal') {
      // No trigger: a capture trigger here would be someone else's (chaining beside the slot).
      if (triggers.some((t) => t.name === CAPTURE_TRIGGER)) disabled('trigger_altered');
      for (const reason of await walProblems(q, w, relid)) disabled(reason);
    } else {
      const capture = captureTriggerProblem(triggers.find((t) => t.name === CAPTURE_TRIGGER), w);
      if (capture) disabled(capture);
    }
    const guard = guardProblem(triggers.find((t) => t.name === TRUNCATE_GUARD));
    if (guard) disabled(guard);
    const row = registry.find((r) => r.event_kind === w.kind);
    if (!row) disabled('registry_missing');
    else if (
      Number(row.relid) !== relid ||
      row.mode !== w.mode ||
      row.updates !== w.updates ||
      row.deletes !== w.deletes ||
      row.pk_columns.length !== w.pkColumns.length ||
      row.pk_columns.some((c, i) => c !== w.pkColumns[i])
    ) {
      disabled('registry_mismatch');
    }
  }
  for (const row of registry) {
    // A registry row for a table that no longer exists watches nothing.
    if (row.name === null || history.watched.has(row.event_kind)) continue;
    findings.push({ type: 'capture_unrecorded', event_kind: row.event_kind, event_pk: row.table_name, seq: null, reason: 'no_watch_event', table: row.table_name });
  }
  if (history.ddlEvidence) {
    const present = await q.query<{ name: string; event: string; enabled: string; tags: boolean; ours: boolean }>(
      `SELECT e.evtname::text AS name, e.evtevent::text AS event, e.evtenabled::text AS enabled, e.evttags IS NOT NULL AS tags,
              p.proname = 'sealtrail_ddl_evidence' AND p.pronamespace = (SELECT relnamespace FROM pg_class WHERE oid = to_regclass('capture_tables')) AS ours
       FROM pg_event_trigger e JOIN pg_proc p ON p.oid = e.evtfoid`,
    );
    for (const want of history.ddlEvidence.triggers) {
      const got = present.find((e) => e.name === want.name);
      const reason = !got
        ? 'event_trigger_missing'
        : got.enabled === 'D' || got.enabled === 'R'
          ? 'event_trigger_disabled'
          : got.enabled !== 'A' || got.event !== want.event || got.tags || !got.ours
            ? 'event_trigger_altered'
            : null;
      if (reason) findings.push({ type: 'capture_disabled', event_kind: DDL_EVENT, event_pk: want.name, seq: history.ddlEvidence.seq, reason });
    }
  }
  return findings;
}

/**
 * The body of every function the applied capture migrations define (the latest definition of
 * each), as PostgreSQL stores it in `pg_proc.prosrc`: the text between `AS $$` and `$$`.
 */
export function expectedFunctions(migrationSql: readonly string[]): Map<string, string> {
  const bodies = new Map<string, string>();
  const definition = /CREATE (?:OR REPLACE )?FUNCTION (\w+)\([\s\S]*?\bAS \$\$([\s\S]*?)\$\$/g;
  for (const sql of migrationSql) for (const m of sql.matchAll(definition)) bodies.set(m[1]!, m[2]!);
  return bodies;
}

/**
 * A capture function replaced (say `audit_chain_append` by one that chains nothing), dropped or
 * overloaded in the capture schema is `capture_disabled` with reason `function_altered` /
 * `function_missing` (`event_kind` `sealtrail.capture.install`, `event_pk` the function's name).
 */
export async function functionFindings(q: Queryable, expected: ReadonlyMap<string, string>): Promise<ScanFinding[]> {
  const rows = await q.query<{ name: string; src: string }>(
    `SELECT p.proname::text AS name, p.prosrc AS src FROM pg_proc p
     WHERE p.proname = ANY (?::text[]) AND p.pronamespace = (SELECT relnamespace FROM pg_class WHERE oid = to_regclass('capture_tables'))`,
    [`{${[...expected.keys()].join(',')}}`],
  );
  const findings: ScanFinding[] = [];
  for (const [name, body] of [...expected].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const found = rows.filter((r) => r.name === name);
    const reason = found.length === 0 ? 'function_missing' : found.length > 1 || found[0]!.src !== body ? 'function_altered' : null;
    if (reason) findings.push({ type: 'capture_disabled', event_kind: INSTALL_EVENT, event_pk: name, seq: null, reason });
  }
  return findings;
}
