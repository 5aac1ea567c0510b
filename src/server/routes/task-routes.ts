/**
 * Task and repository audit over HTTP, in the field names of the task-audit API we are
 * compatible with: snake_case, bare JSON arrays, newest first, each item with its ledger seq.
 * Listings page with `before` (the seq of the last item seen) and a `Link: rel="next"` header.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import type { ArtifactRef, Chained, RefType, TaskAudit } from '../../tasks/rows.js';
import { Artifact, Audit, Before, Json, Limit, RefTypeSchema, responses, secured } from '../schemas.js';
import type { ServerContext, TypedApp } from '../server-context.js';

const DEFAULT_LIMIT = 100;

function auditJson(a: Chained<TaskAudit>, detailed: boolean) {
  return {
    audit_id: a.id,
    seq: a.seq,
    task_id: a.taskId,
    repo_id: a.repoId,
    level: a.level,
    event_type: a.eventType,
    operation: a.operation,
    status: a.status,
    files_changed: a.filesChanged,
    lines_added: a.linesAdded,
    lines_deleted: a.linesDeleted,
    commit_hash: a.commitHash,
    error_message: a.errorMessage,
    created_at: a.createdAt,
    ...(detailed ? { git_status_summary: a.gitStatusSummary, git_diff_summary: a.gitDiffSummary, payload: a.payload } : {}),
  };
}

function artifactJson(r: Chained<ArtifactRef>) {
  return {
    artifact_id: r.id,
    seq: r.seq,
    task_id: r.taskId,
    repo_id: r.repoId,
    ref_type: r.refType,
    ref_value: r.refValue,
    summary: r.summary,
    metadata: r.metadata,
    created_at: r.createdAt,
  };
}

/** A full page may have a successor: point at it with the seq of its last item. */
function linkNext(request: FastifyRequest, reply: FastifyReply, items: ReadonlyArray<{ seq: number | null }>, limit: number): void {
  const last = items[items.length - 1];
  if (items.length < limit || !last || last.seq === null) return;
  const url = new URL(request.url, 'http://localhost');
  url.searchParams.set('before', String(last.seq));
  void reply.header('link', `<${url.pathname}${url.search}>; rel="next"`);
}

const TaskParams = Type.Object({ task_id: Type.String({ minLength: 1 }) });
const RepoParams = Type.Object({ repo_id: Type.String({ minLength: 1 }) });
const tags = ['tasks'];

export function registerTaskRoutes(app: TypedApp, ctx: ServerContext): void {
  app.get(
    '/api/tasks/:task_id/audits',
    {
      config: { role: 'reader' },
      schema: {
        tags,
        summary: "a task's audit events, newest first",
        ...secured('reader'),
        params: TaskParams,
        querystring: Type.Object({
          repo_id: Type.Optional(Type.String({ minLength: 1 })),
          event_type: Type.Optional(Type.String({ minLength: 1 })),
          limit: Type.Optional(Limit),
          before: Type.Optional(Before),
          detailed: Type.Optional(Type.Boolean()),
        }),
        response: responses({ 200: Type.Array(Audit) }),
      },
    },
    async (request, reply) => {
      const q = request.query;
      const limit = q.limit ?? DEFAULT_LIMIT;
      const audits = await ctx.audits.getTaskAuditsChained(request.params.task_id, {
        ...(q.repo_id === undefined ? {} : { repoId: q.repo_id }),
        ...(q.event_type === undefined ? {} : { eventType: q.event_type }),
        limit,
        ...(q.before === undefined ? {} : { before: q.before }),
      });
      linkNext(request, reply, audits, limit);
      return audits.map((a) => auditJson(a, q.detailed === true));
    },
  );

  app.get(
    '/api/repos/:repo_id/audits',
    {
      config: { role: 'reader' },
      schema: {
        tags,
        summary: "every task's audit events in one repository, newest first",
        ...secured('reader'),
        params: RepoParams,
        querystring: Type.Object({ limit: Type.Optional(Limit), before: Type.Optional(Before), detailed: Type.Optional(Type.Boolean()) }),
        response: responses({ 200: Type.Array(Audit) }),
      },
    },
    async (request, reply) => {
      const q = request.query;
      const limit = q.limit ?? DEFAULT_LIMIT;
      const audits = await ctx.audits.getRepoAuditsChained(request.params.repo_id, { limit, ...(q.before === undefined ? {} : { before: q.before }) });
      linkNext(request, reply, audits, limit);
      return audits.map((a) => auditJson(a, q.detailed === true));
    },
  );

  app.get(
    '/api/tasks/:task_id/artifacts',
    {
      config: { role: 'reader' },
      schema: {
        tags,
        summary: "a task's artifact references, newest first",
        ...secured('reader'),
        params: TaskParams,
        querystring: Type.Object({
          repo_id: Type.Optional(Type.String({ minLength: 1 })),
          ref_type: Type.Optional(RefTypeSchema),
          limit: Type.Optional(Limit),
          before: Type.Optional(Before),
        }),
        response: responses({ 200: Type.Array(Artifact) }),
      },
    },
    async (request, reply) => {
      const q = request.query;
      const limit = q.limit ?? DEFAULT_LIMIT;
      const refs = await ctx.artifacts.getTaskArtifactsChained(request.params.task_id, {
        ...(q.repo_id === undefined ? {} : { repoId: q.repo_id }),
        ...(q.ref_type === undefined ? {} : { refType: q.ref_type as RefType }),
        limit,
        ...(q.before === undefined ? {} : { before: q.before }),
      });
      linkNext(request, reply, refs, limit);
      return refs.map(artifactJson);
    },
  );

  app.get(
    '/api/repos/:repo_id/artifacts',
    {
      config: { role: 'reader' },
      schema: {
        tags,
        summary: 'artifact references in one repository, newest first',
        ...secured('reader'),
        params: RepoParams,
        querystring: Type.Object({ ref_type: Type.Optional(RefTypeSchema), limit: Type.Optional(Limit), before: Type.Optional(Before) }),
        response: responses({ 200: Type.Array(Artifact) }),
      },
    },
    async (request, reply) => {
      const q = request.query;
      const limit = q.limit ?? DEFAULT_LIMIT;
      const refs = await ctx.artifacts.getRepoArtifactsChained(request.params.repo_id, {
        ...(q.ref_type === undefined ? {} : { refType: q.ref_type as RefType }),
        limit,
        ...(q.before === undefined ? {} : { before: q.before }),
      });
      linkNext(request, reply, refs, limit);
      return refs.map(artifactJson);
    },
  );

  app.get(
    '/api/artifacts',
    {
      config: { role: 'reader' },
      schema: {
        tags,
        summary: 'every task that references one commit, branch, PR, patch, file or tag',
        ...secured('reader'),
        querystring: Type.Object({ ref_type: RefTypeSchema, ref_value: Type.String({ minLength: 1 }), limit: Type.Optional(Limit), before: Type.Optional(Before) }),
        response: responses({ 200: Type.Array(Artifact) }),
      },
    },
    async (request, reply) => {
      const q = request.query;
      const limit = q.limit ?? DEFAULT_LIMIT;
      const refs = await ctx.artifacts.getArtifactsByRefChained(q.ref_type as RefType, q.ref_value, { limit, ...(q.before === undefined ? {} : { before: q.before }) });
      linkNext(request, reply, refs, limit);
      return refs.map(artifactJson);
    },
  );

  app.post(
    '/api/tasks/:task_id/audits',
    {
      config: { role: 'writer' },
      schema: {
        tags,
        summary: 'record one operation of a task (chained in the same transaction)',
        ...secured('writer'),
        params: TaskParams,
        body: Type.Object(
          {
            repo_id: Type.Optional(Type.Union([Type.String({ minLength: 1 }), Type.Null()])),
            operation: Type.String({ minLength: 1 }),
            status: Type.Optional(Type.String({ minLength: 1 })),
            event_type: Type.Optional(Type.String({ minLength: 1 })),
            level: Type.Optional(Type.String({ minLength: 1 })),
            files_changed: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
            lines_added: Type.Optional(Type.Integer({ minimum: 0 })),
            lines_deleted: Type.Optional(Type.Integer({ minimum: 0 })),
            commit_hash: Type.Optional(Type.Union([Type.String(), Type.Null()])),
            error_message: Type.Optional(Type.Union([Type.String(), Type.Null()])),
            payload: Type.Optional(Json),
          },
          { additionalProperties: false },
        ),
        response: responses({ 201: Audit }),
      },
    },
    async (request, reply) => {
      const b = request.body;
      const record = ctx.audits.prepareOperation({
        taskId: request.params.task_id,
        repoId: b.repo_id ?? null,
        operation: b.operation,
        ...(b.status === undefined ? {} : { status: b.status }),
        ...(b.event_type === undefined ? {} : { eventType: b.event_type }),
        ...(b.level === undefined ? {} : { level: b.level }),
        ...(b.files_changed === undefined ? {} : { filesChanged: b.files_changed }),
        ...(b.lines_added === undefined ? {} : { linesAdded: b.lines_added }),
        ...(b.lines_deleted === undefined ? {} : { linesDeleted: b.lines_deleted }),
        ...(b.commit_hash === undefined ? {} : { commitHash: b.commit_hash }),
        ...(b.error_message === undefined ? {} : { errorMessage: b.error_message }),
        ...(b.payload === undefined ? {} : { payload: b.payload }),
      });
      const audit = await ctx.audits.writeChained(record);
      ctx.appended(1);
      return reply.code(201).send(auditJson(audit, true));
    },
  );

  app.post(
    '/api/tasks/:task_id/artifacts',
    {
      config: { role: 'writer' },
      schema: {
        tags,
        summary: 'record an artifact reference of a task; the same (repo, type, value) again answers 200 with the existing one',
        ...secured('writer'),
        params: TaskParams,
        body: Type.Object(
          {
            repo_id: Type.String({ minLength: 1 }),
            ref_type: RefTypeSchema,
            ref_value: Type.String({ minLength: 1 }),
            summary: Type.Optional(Type.Union([Type.String(), Type.Null()])),
            metadata: Type.Optional(Json),
          },
          { additionalProperties: false },
        ),
        response: responses({ 200: Artifact, 201: Artifact }),
      },
    },
    async (request, reply) => {
      const b = request.body;
      const record = ctx.artifacts.prepareRef({
        taskId: request.params.task_id,
        repoId: b.repo_id,
        refType: b.ref_type as RefType,
        refValue: b.ref_value,
        ...(b.summary === undefined ? {} : { summary: b.summary }),
        ...(b.metadata === undefined ? {} : { metadata: b.metadata }),
      });
      const { ref, created } = await ctx.artifacts.writeChained(record);
      if (created) ctx.appended(1);
      return reply.code(created ? 201 : 200).send(artifactJson(ref));
    },
  );
}
