/**
 * Bearer tokens for the HTTP API. A token is shown once, at creation; only its SHA-256 is kept
 * (a 256-bit random secret needs no slow hash: nothing can be guessed from its digest). Creating
 * and revoking a token are chained ledger events written in the same transaction as the
 * api_tokens row, so who could reach the API, and since when, is itself part of the audit trail.
 */
import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { SealtrailError } from '../core/errors.js';
import type { Ledger } from '../ledger/ledger.js';
import { loadMigrations, migrate } from '../store/migrate.js';
import type { Store } from '../store/store.js';

export const ROLES = ['reader', 'writer', 'admin'] as const;
export type Role = (typeof ROLES)[number];
export const TOKEN_EVENT_KIND = 'sealtrail.api_token';
const TOKEN_PREFIX = 'st_';

export interface ApiToken {
  id: string;
  name: string;
  role: Role;
  createdAt: string;
  revokedAt: string | null;
}

const MIGRATIONS = new URL('./migrations/', import.meta.url);

export async function ensureTokenSchema(store: Store): Promise<void> {
  await migrate(store, 'server', loadMigrations(MIGRATIONS, store.dialect));
}

/** Whether `role` may do what `needed` allows: reader < writer < admin. */
export function roleAllows(role: Role, needed: Role): boolean {
  return ROLES.indexOf(role) >= ROLES.indexOf(needed);
}

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}

function digest(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Creates a token; the returned `token` is the only copy of the secret there will ever be. */
export async function createToken(ledger: Ledger, input: { role: unknown; name: unknown }): Promise<ApiToken & { token: string }> {
  if (!isRole(input.role)) {
    throw new SealtrailError('invalid_argument', `role must be one of ${ROLES.join(', ')}`, { details: { argument: 'role', allowed: [...ROLES] } });
  }
  if (typeof input.name !== 'string' || input.name.trim() === '' || input.name.includes('\0') || input.name.length > 200) {
    throw new SealtrailError('invalid_argument', 'name must be a non-empty label of at most 200 characters', { details: { argument: 'name' } });
  }
  await ensureTokenSchema(ledger.store);
  const token = `${TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
  const record = { id: randomUUID(), name: input.name, role: input.role, token_sha256: digest(token), created_at: new Date().toISOString() };
  await ledger.appendWith([{ kind: TOKEN_EVENT_KIND, pk: record.id, payload: { action: 'create', ...record } }], async (tx) => {
    await tx.run('INSERT INTO api_tokens (id, name, role, token_sha256, created_at) VALUES (?, ?, ?, ?, ?)', [
      record.id,
      record.name,
      record.role,
      record.token_sha256,
      record.created_at,
    ]);
  });
  return { id: record.id, name: record.name, role: record.role, createdAt: record.created_at, revokedAt: null, token };
}

export async function listTokens(ledger: Ledger): Promise<ApiToken[]> {
  await ensureTokenSchema(ledger.store);
  const rows = await ledger.store.query<{ id: string; name: string; role: Role; created_at: string; revoked_at: string | null }>(
    'SELECT id, name, role, created_at, revoked_at FROM api_tokens ORDER BY created_at, id',
  );
  return rows.map((r) => ({ id: r.id, name: r.name, role: r.role, createdAt: r.created_at, revokedAt: r.revoked_at ?? null }));
}

/** Revokes a token by id; revoking it again is harmless and changes nothing. */
export async function revokeToken(ledger: Ledger, id: unknown): Promise<ApiToken> {
  if (typeof id !== 'string' || id === '' || id.includes('\0')) throw new SealtrailError('invalid_argument', 'a token id is required', { details: { argument: 'id' } });
  const found = (await listTokens(ledger)).find((t) => t.id === id);
  if (!found) throw new SealtrailError('out_of_range', `no token with id ${id}`, { details: { id } });
  if (found.revokedAt !== null) return found;
  const revokedAt = new Date().toISOString();
  await ledger.appendWith([{ kind: TOKEN_EVENT_KIND, pk: `${id}:revoked`, payload: { action: 'revoke', id, revoked_at: revokedAt } }], async (tx) => {
    await tx.run('UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL', [revokedAt, id]);
  });
  return { ...found, revokedAt };
}

/**
 * The live token a bearer secret belongs to, or null (unknown, revoked, malformed). The row is
 * found by its digest; the digests are then compared in constant time anyway, so no code path
 * depends on how many leading bytes of a guess were right.
 */
export async function authenticate(store: Store, presented: string): Promise<ApiToken | null> {
  if (!presented.startsWith(TOKEN_PREFIX) || presented.length > 200) return null;
  const wanted = digest(presented);
  const rows = await store.query<{ id: string; name: string; role: Role; token_sha256: string; created_at: string; revoked_at: string | null }>(
    'SELECT id, name, role, token_sha256, created_at, revoked_at FROM api_tokens WHERE token_sha256 = ?',
    [wanted],
  );
  const row = rows[0];
  if (!row) return null;
  if (!timingSafeEqual(Buffer.from(row.token_sha256, 'hex'), Buffer.from(wanted, 'hex'))) return null;
  if (row.revoked_at !== null) return null;
  return { id: row.id, name: row.name, role: row.role, createdAt: row.created_at, revokedAt: null };
}

/** How long a token found valid is trusted without asking the database again. */
export const TOKEN_CACHE_MS = 1000;

/**
 * Valid tokens remembered for TOKEN_CACHE_MS: on SQLite every query waits for the write
 * transaction in progress, so looking each request's token up would put every append behind the
 * previous group's commit. A token revoked (by any process) is refused within that second;
 * unknown and revoked tokens are never remembered, so a new token works at once.
 */
export class TokenCache {
  private readonly valid = new Map<string, { token: ApiToken; until: number }>();

  constructor(private readonly store: Store) {}

  async authenticate(presented: string): Promise<ApiToken | null> {
    const now = Date.now();
    // Keyed by digest: the process keeps no bearer secret after the request.
    const key = digest(presented);
    const hit = this.valid.get(key);
    if (hit && hit.until > now) return hit.token;
    if (hit) this.valid.delete(key);
    const token = await authenticate(this.store, presented);
    if (token) {
      // Bounded: a flood of distinct valid tokens cannot grow it without limit.
      if (this.valid.size >= 10_000) this.valid.clear();
      this.valid.set(key, { token, until: now + TOKEN_CACHE_MS });
    }
    return token;
  }
}
