/**
 * `tiles:file:<dir>` and `tiles:s3://<bucket>[/<prefix>][?endpoint=…&region=…&path-style=…]`:
 * the ledger as static C2SP tlog-tiles files (checkpoint, tiles, entry bundles) after every
 * checkpoint, so reads scale on any web server, object store or CDN while the database stays the
 * single writer. Only the newest checkpoint matters (a tiled log has one `checkpoint` file), and
 * the storage itself says where it stands (see anchor/tiles/publish-tiles.ts), so a sink that
 * lost its anchor_sinks row, or a directory first filled by `sealtrail tiles export`, continues
 * incrementally.
 */
import { resolve } from 'node:path';
import { SealtrailError } from '../../core/errors.js';
import { redact } from '../../core/redact.js';
import { publishTiles, type TilesPublishResult } from '../tiles/publish-tiles.js';
import { readTiles } from '../tiles/read-tiles.js';
import { parseS3Target, S3TileStorage } from '../tiles/s3-tile-storage.js';
import { FileTileStorage, type TileStorage } from '../tiles/tile-storage.js';
import type { PublishContext, PublishOutcome, PublishRecord, Sink, SinkContents } from './sink.js';

export class TilesSink implements Sink {
  readonly kind = 'tiles' as const;
  readonly latestOnly = true;
  readonly storage: TileStorage;
  /** What the last publish wrote (tests and the CLI report it). */
  lastResult: TilesPublishResult | null = null;

  constructor(readonly spec: string, target: string) {
    this.storage = tileStorageFor(spec, target);
  }

  async publish(record: PublishRecord, ctx: PublishContext): Promise<PublishOutcome> {
    this.lastResult = await publishTiles(this.storage, record, (from, to) => ctx.leaves(from, to));
    return { status: 'published' };
  }

  read(): Promise<SinkContents> {
    return readTiles(this.storage);
  }
}

/** `file:<dir>` or `s3://…` (the spec after `tiles:`) to its storage. */
export function tileStorageFor(spec: string, target: string): TileStorage {
  if (target.startsWith('file:') && target.length > 'file:'.length) return new FileTileStorage(resolve(target.slice('file:'.length)));
  if (target.startsWith('s3://')) return new S3TileStorage(parseS3Target(target), spec);
  throw new SealtrailError('invalid_argument', `bad sink spec ${JSON.stringify(redact(spec))}: want tiles:file:<dir> or tiles:s3://<bucket>[/<prefix>]`, {
    details: { sink: redact(spec) },
  });
}
