/**
 * The standard transparency-log reads (C2SP tlog-tiles) under `/log/`: the latest signed
 * checkpoint, the Merkle tiles and the entry bundles, exactly as a `tiles:` sink or
 * `sealtrail tiles export` lays them out, so any tlog-tiles client can read the ledger directly.
 *
 * Tiles serve the tree of the latest signed checkpoint (the largest size, the newest among
 * equals), not the ledger's head: a client reading `checkpoint` and then the tiles it names sees
 * one consistent tree, and nothing beyond what a signature covers is published. Every tile path
 * names fixed content (a partial tile's width is in its path), so a partial tile of a smaller
 * width than the checkpoint's (what a client that read the previous checkpoint asks for) is
 * served too; a tile or width the checkpoint's tree does not reach yet is a 404.
 */
import { Type } from 'typebox';
import { parseCheckpoint } from '../../core/checkpoint.js';
import { SealtrailError } from '../../core/errors.js';
import { parseNote } from '../../core/note.js';
import { TILE_WIDTH, encodeEntryBundle, levelCount, parseTilePath, type TileId } from '../../core/tlog-tiles.js';
import { ledgerLeaves } from '../../anchor/publish.js';
import { responses, secured } from '../schemas.js';
import type { ServerContext, TypedApp } from '../server-context.js';

const tags = ['log'];
const IMMUTABLE = 'public, max-age=31536000, immutable';
// A partial tile never changes either, but clients should move on to the wider one soon.
const PARTIAL = 'public, max-age=60';
// The checkpoint moves with every signing: caches must ask again.
const CHECKPOINT = 'no-cache';

export interface LogRoutesOptions {
  /** Serve the /log/ reads without a token (server.publicLog); otherwise they need the reader role. */
  publicLog: boolean;
}

interface LatestCheckpoint {
  note: string;
  size: number;
}

/** The latest signed checkpoint: largest size, newest among equals (as `tiles export` picks it). */
async function latestCheckpoint(ctx: ServerContext): Promise<LatestCheckpoint | null> {
  const rows = await ctx.ledger.store.query<{ note: string }>('SELECT note FROM checkpoints ORDER BY size DESC, id DESC LIMIT 1');
  if (rows.length === 0) return null;
  const note = rows[0]!.note;
  // The size a client sees is the one in the signed note, so that is the tree served.
  return { note, size: parseCheckpoint(parseNote(note).text).size };
}

/** Not in the signed tree (yet): out_of_range, as for an entry or tree size the ledger lacks. */
function notFound(message: string, path: string): SealtrailError {
  return new SealtrailError('out_of_range', message, { details: { path } });
}

/** Whether tile `id` exists in the tree of `size` (a partial one at its width or any smaller width). */
function inTree(id: TileId, size: number): boolean {
  const count = levelCount(size, id.level);
  return id.index * TILE_WIDTH + id.width <= count;
}

export function registerLogRoutes(app: TypedApp, ctx: ServerContext, options: LogRoutesOptions): void {
  const role = options.publicLog ? 'open' : 'reader';
  // The largest signed tree seen. The latest checkpoint only ever grows and a tile in a smaller
  // tree is the same bytes in every larger one, so a tile inside it is served without asking the
  // database again; only a tile outside it looks for a newer checkpoint before its 404.
  let known = 0;
  const signedSize = async (id: TileId): Promise<number> => {
    if (inTree(id, known)) return known;
    const latest = await latestCheckpoint(ctx);
    if (latest && latest.size > known) known = latest.size;
    return latest?.size ?? 0;
  };

  void app.register(async (scope) => {
    // Any origin may read a transparency log, the problems included.
    scope.addHook('onSend', async (_request, reply, payload) => {
      void reply.header('access-control-allow-origin', '*');
      return payload;
    });

    scope.get(
      '/log/checkpoint',
      {
        config: { role },
        schema: {
          tags,
          summary: 'the latest signed checkpoint (a C2SP signed note); the tiles serve its tree',
          ...secured(role),
          response: responses({ 200: { description: 'the checkpoint note', content: { 'text/plain': { schema: Type.String() } } } as never }),
        },
      },
      async (_request, reply) => {
        const latest = await latestCheckpoint(ctx);
        if (!latest) throw notFound('no signed checkpoint yet: run `sealtrail checkpoint`', 'checkpoint');
        return reply.header('cache-control', CHECKPOINT).type('text/plain; charset=utf-8').send(latest.note);
      },
    );

    scope.get(
      '/log/tile/*',
      {
        config: { role },
        schema: {
          tags,
          summary:
            'a C2SP tlog-tiles file: tile/<L>/<N>[.p/<W>] (the hashes) or tile/entries/<N>[.p/<W>] (the entry bundle), <N> in x-prefixed 3-digit groups; of the tree of /log/checkpoint',
          ...secured(role),
          response: responses({
            200: { description: 'the tile or entry bundle bytes', content: { 'application/octet-stream': { schema: Type.String({ format: 'binary' }) } } } as never,
          }),
        },
      },
      async (request, reply) => {
        const rest = (request.params as { '*': string })['*'];
        // Only the canonical form is a tile: no dot segments, escapes or doubled slashes reach a lookup.
        const id = /^[\w./]*$/.test(rest) ? parseTilePath(`tile/${rest}`) : null;
        if (!id) {
          throw new SealtrailError('invalid_argument', 'not a C2SP tile path: tile/<L>/<N>[.p/<W>] or tile/entries/<N>[.p/<W>], <N> in 3-digit groups with x before all but the last (1234067 → x001/x234/067)', {
            details: { path: rest },
          });
        }
        const path = `tile/${rest}`;
        const size = await signedSize(id);
        if (!inTree(id, size)) throw notFound(`${path} is not in the tree of the latest signed checkpoint (size ${size})`, path);
        let bytes: Buffer;
        if (id.entries) {
          const entries: Buffer[] = [];
          const first = id.index * TILE_WIDTH + 1;
          for await (const leaf of ledgerLeaves(ctx.ledger, first, first + id.width - 1)) entries.push(leaf.data);
          if (entries.length !== id.width) {
            throw new SealtrailError('integrity_failure', `entries ${first}..${first + id.width - 1} are not all in the ledger, which a signed checkpoint covers`, { details: { path } });
          }
          bytes = encodeEntryBundle(entries);
        } else {
          const tile = await ctx.ledger.store.readTile(id.level, id.index, id.width);
          if (!tile) throw new SealtrailError('integrity_failure', `${path} is missing from the Merkle storage, which a signed checkpoint covers`, { details: { path } });
          bytes = tile.hashes;
        }
        return reply
          .header('cache-control', id.width === TILE_WIDTH ? IMMUTABLE : PARTIAL)
          .type('application/octet-stream')
          .send(bytes);
      },
    );
  });
}
