/**
 * Shared TypeBox schemas: what the routes accept and answer, and what /openapi.json documents.
 * Hashes follow the CLI's JSON: chain and event hashes in hex, Merkle hashes in base64 (as in
 * C2SP checkpoints).
 */
import { Type, type TSchema } from 'typebox';
import { REF_TYPES } from '../tasks/rows.js';
import type { Role } from './api-tokens.js';

export const Problem = Type.Object(
  {
    type: Type.String(),
    title: Type.String(),
    status: Type.Integer(),
    detail: Type.String(),
    code: Type.String(),
    field: Type.Optional(Type.String()),
  },
  { $id: 'Problem', description: 'RFC 9457 problem details with the sealtrail error code' },
);

const ProblemRef = Type.Ref('Problem');

/** Response map for a route: its successes plus problems for every 4xx/5xx. */
export function responses(ok: Record<number, TSchema>): Record<string, TSchema> {
  const problem = { description: 'an RFC 9457 problem with the sealtrail error code', content: { 'application/problem+json': { schema: ProblemRef } } } as unknown as TSchema;
  return { ...ok, '4xx': problem, '5xx': problem };
}

/** Route schema extras: the role it needs, for OpenAPI (security) and for the auth hook. */
export function secured(role: Role | 'open'): { security?: Array<Record<string, string[]>>; 'x-sealtrail-role': string } {
  return role === 'open' ? { security: [], 'x-sealtrail-role': 'open' } : { security: [{ bearer: [] }], 'x-sealtrail-role': role };
}

export const Hex = Type.String({ pattern: '^[0-9a-f]*$' });
export const Base64 = Type.String();
export const Limit = Type.Integer({ minimum: 1, maximum: 500, description: '1..500, default 100' });
export const Before = Type.Integer({ minimum: 1, description: 'page cursor: the seq of the last item of the previous page (from the Link header)' });
export const RefTypeSchema = Type.Enum([...REF_TYPES]);
export const Seq = Type.Integer({ minimum: 1 });
export const NullableSeq = Type.Union([Type.Integer({ minimum: 1 }), Type.Null()]);
export const Json = Type.Unknown({ description: 'any JSON value' });

export const Appended = Type.Object({ seq: Seq, event_hash: Hex, chain_hash: Hex });

export const Entry = Type.Object({
  seq: Seq,
  kind: Type.String(),
  pk: Type.String(),
  event_hash: Hex,
  prev_hash: Hex,
  chain_hash: Hex,
  leaf_hash: Base64,
  appended_at: Type.String(),
  payload: Json,
});

export const Head = Type.Object({ size: Type.Integer({ minimum: 0 }), chain_hash: Hex, root: Base64 });

export const Audit = Type.Object({
  audit_id: Type.String(),
  seq: NullableSeq,
  task_id: Type.String(),
  repo_id: Type.Union([Type.String(), Type.Null()]),
  level: Type.String(),
  event_type: Type.String(),
  operation: Type.String(),
  status: Type.String(),
  files_changed: Type.Array(Type.String()),
  lines_added: Type.Union([Type.Integer(), Type.Null()]),
  lines_deleted: Type.Union([Type.Integer(), Type.Null()]),
  commit_hash: Type.Union([Type.String(), Type.Null()]),
  error_message: Type.Union([Type.String(), Type.Null()]),
  created_at: Type.String(),
  git_status_summary: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  git_diff_summary: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  payload: Type.Optional(Json),
});

export const Artifact = Type.Object({
  artifact_id: Type.String(),
  seq: NullableSeq,
  task_id: Type.String(),
  repo_id: Type.String(),
  ref_type: RefTypeSchema,
  ref_value: Type.String(),
  summary: Type.Union([Type.String(), Type.Null()]),
  metadata: Json,
  created_at: Type.String(),
});

/** An object whose fields are all serialised as they are (reports whose shape the library owns). */
export const Report = Type.Object({}, { additionalProperties: true });
