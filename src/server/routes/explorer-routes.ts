/**
 * What a client such as the web explorer needs to know besides the ledger itself: who the token
 * is (so it shows only what the role allows) and the verifier keys the operator configured (so
 * it can check checkpoint signatures itself instead of trusting the server's word).
 */
import { Type } from 'typebox';
import { responses, secured } from '../schemas.js';
import type { TypedApp } from '../server-context.js';

const tags = ['explorer'];

export function registerExplorerRoutes(app: TypedApp, keys: { vkeys: readonly string[]; witnessVkeys: readonly string[] }): void {
  app.get(
    '/api/session',
    {
      config: { role: 'reader' },
      schema: {
        tags,
        summary: "the calling token's id, name and role (never its secret)",
        ...secured('reader'),
        response: responses({ 200: Type.Object({ id: Type.String(), name: Type.String(), role: Type.Union([Type.Literal('reader'), Type.Literal('writer'), Type.Literal('admin')]) }) }),
      },
    },
    async (request) => ({ id: request.token!.id, name: request.token!.name, role: request.token!.role }),
  );

  app.get(
    '/api/keys',
    {
      config: { role: 'reader' },
      schema: {
        tags,
        summary: 'the log verifier keys (config vkeys) and witness cosigner keys (config witnessVkeys) this server was started with; public keys only',
        ...secured('reader'),
        response: responses({ 200: Type.Object({ vkeys: Type.Array(Type.String()), witness_vkeys: Type.Array(Type.String()) }) }),
      },
    },
    async () => ({ vkeys: [...keys.vkeys], witness_vkeys: [...keys.witnessVkeys] }),
  );
}
