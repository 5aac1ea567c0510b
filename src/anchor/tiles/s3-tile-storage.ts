/**
 * `tiles:s3://<bucket>[/<prefix>][?endpoint=<url>&region=<region>&path-style=true|false]`: the
 * tiles in an S3 bucket, through the AWS SDK, so any S3-compatible store (AWS, MinIO, R2, GCS's
 * XML API, Ceph) serves them. Credentials and, without `endpoint=`, the endpoint come from the
 * SDK's standard chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN,
 * AWS_PROFILE, AWS_ENDPOINT_URL_S3, instance roles): never from the spec, so a spec is safe to
 * log and to key anchoring state by. A spec carrying a user name or password is refused.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { SealtrailError } from '../../core/errors.js';
import { redact } from '../../core/redact.js';
import { TransientError } from '../retry.js';
import type { Caching, TileStorage } from './tile-storage.js';

export interface S3Location {
  bucket: string;
  /** '' or a prefix ending in '/'. */
  prefix: string;
  endpoint?: string;
  region?: string;
  forcePathStyle?: boolean;
}

const OPTIONS = new Set(['endpoint', 'region', 'path-style']);
// S3's bucket naming rules, loosely: what a URL host can hold.
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** Parses the target of a `tiles:s3://…` spec; invalid_argument on anything it cannot use. */
export function parseS3Target(target: string): S3Location {
  // A user name here would be an access key ID: not shown at all, unlike redact's user:*** form.
  const shown = redact(`tiles:${target.replace(/\/\/[^/?#]*@/g, '//***@')}`);
  const bad = (why: string): SealtrailError => new SealtrailError('invalid_argument', `bad tiles sink ${JSON.stringify(shown)}: ${why}`, { details: { sink: shown } });
  // URL parsing would quietly resolve `a/../b`; a prefix is taken as written or not at all.
  if (target.split(/[?#]/)[0]!.split('/').slice(3).some((s) => s === '.' || s === '..')) throw bad('the prefix may not hold . or .. segments');
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    throw bad('want tiles:s3://<bucket>[/<prefix>]');
  }
  if (url.protocol !== 's3:' || !BUCKET.test(url.hostname)) throw bad('want tiles:s3://<bucket>[/<prefix>] with a valid bucket name');
  if (url.username !== '' || url.password !== '' || url.port !== '' || url.hash !== '') {
    throw bad('credentials come from the AWS environment (AWS_ACCESS_KEY_ID, AWS_PROFILE, …), never from the spec');
  }
  const location: S3Location = { bucket: url.hostname, prefix: prefixOf(decodeURIComponent(url.pathname)) };
  for (const [name, value] of url.searchParams) {
    if (!OPTIONS.has(name)) throw bad(`unknown option ${JSON.stringify(name)}: want endpoint, region or path-style`);
    if (name === 'endpoint') {
      let endpoint: URL;
      try {
        endpoint = new URL(value);
      } catch {
        throw bad('endpoint= must be an http:// or https:// URL');
      }
      if ((endpoint.protocol !== 'http:' && endpoint.protocol !== 'https:') || endpoint.username !== '' || endpoint.password !== '') {
        throw bad('endpoint= must be an http:// or https:// URL without credentials');
      }
      location.endpoint = value;
    } else if (name === 'region') {
      if (!/^[a-z0-9-]{1,64}$/.test(value)) throw bad('region= must be a region name such as us-east-1');
      location.region = value;
    } else {
      if (value !== 'true' && value !== 'false') throw bad('path-style= must be true or false');
      location.forcePathStyle = value === 'true';
    }
  }
  return location;
}

function prefixOf(path: string): string {
  const trimmed = path.replace(/^\/+/, '').replace(/\/+$/, '');
  return trimmed === '' ? '' : `${trimmed}/`;
}

export class S3TileStorage implements TileStorage {
  readonly where: string;
  #client: Promise<S3Client> | undefined;

  constructor(
    readonly location: S3Location,
    spec: string,
  ) {
    this.where = redact(spec);
  }

  async get(path: string): Promise<Buffer | null> {
    const { GetObjectCommand } = await import('@aws-sdk/client-s3');
    const client = await this.client();
    try {
      const out = await client.send(new GetObjectCommand({ Bucket: this.location.bucket, Key: this.location.prefix + path }));
      if (!out.Body) return Buffer.alloc(0);
      return Buffer.from(await out.Body.transformToByteArray());
    } catch (err) {
      if (statusOf(err) === 404 || (err as Error).name === 'NoSuchKey') return null;
      throw this.failure(`reading ${path}`, err);
    }
  }

  async put(path: string, bytes: Buffer, caching: Caching): Promise<void> {
    const { PutObjectCommand } = await import('@aws-sdk/client-s3');
    const client = await this.client();
    try {
      await client.send(
        new PutObjectCommand({
          Bucket: this.location.bucket,
          Key: this.location.prefix + path,
          Body: bytes,
          ContentType: path === 'checkpoint' ? 'text/plain; charset=utf-8' : 'application/octet-stream',
          CacheControl: caching === 'immutable' ? 'public, max-age=31536000, immutable' : 'no-cache',
        }),
      );
    } catch (err) {
      throw this.failure(`writing ${path}`, err);
    }
  }

  /** An object store has no lock: publishers rely on the checkpoint never moving backwards. */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    return fn();
  }

  private client(): Promise<S3Client> {
    this.#client ??= import('@aws-sdk/client-s3').then(({ S3Client }) => {
      const { endpoint, region, forcePathStyle } = this.location;
      return new S3Client({
        region: region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1',
        ...(endpoint === undefined ? {} : { endpoint }),
        // S3-compatible stores mostly serve buckets as a path, not as a host name.
        forcePathStyle: forcePathStyle ?? endpoint !== undefined,
        // The SDK's own retries (3 attempts) per request: a publish of many objects should not
        // restart because one connection was reset; the sink's withRetry handles longer outages.
        maxAttempts: 3,
        // Many S3-compatible stores reject or ignore the SDK's default CRC32 trailers; checksums only where the API requires them.
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
      });
    });
    return this.#client;
  }

  /** Network errors and 5xx/429 may pass; the SDK's message names no credential, and is redacted anyway. */
  private failure(what: string, err: unknown): Error {
    const status = statusOf(err);
    const name = (err as Error).name ?? 'Error';
    const message = `S3 ${what} in ${this.where} failed: ${name}${status === undefined ? '' : ` (HTTP ${status})`}: ${redact((err as Error).message ?? String(err))}`;
    if (status === undefined || status >= 500 || status === 429) return new TransientError(message);
    return new SealtrailError('sink_failed', message, { details: { sink: this.where, status } });
  }
}

function statusOf(err: unknown): number | undefined {
  const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  return typeof status === 'number' ? status : undefined;
}
