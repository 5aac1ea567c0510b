/**
 * A real S3-compatible server on loopback for the tiles sink tests: s3rver (in-process, on a
 * free port, objects in a temp directory), with every PUT recorded so a test can count writes.
 */
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { tempDir } from './databases.js';

interface S3rverEvent {
  Records: Array<{ eventName: string; s3: { object: { key: string } } }>;
}
interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
  on(event: 'event', listener: (e: S3rverEvent) => void): void;
  httpServer?: Server;
}
type S3rverClass = new (options: Record<string, unknown>) => S3rverInstance;

// s3rver ships no type declarations; the few members used are typed above.
const S3rver = createRequire(import.meta.url)('s3rver') as S3rverClass;

/** s3rver's fixed credentials; the SDK picks them up from the standard environment variables. */
export const S3_CREDENTIALS = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' };

export interface TestS3 {
  endpoint: string;
  bucket: string;
  /** Keys PUT so far, in order. */
  puts: string[];
  close(): Promise<void>;
}

export async function startS3(bucket = 'audit-tiles'): Promise<TestS3> {
  const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: tempDir('sealtrail-s3-'), configureBuckets: [{ name: bucket }] });
  const puts: string[] = [];
  server.on('event', (e) => {
    for (const r of e.Records) if (r.eventName.startsWith('ObjectCreated:')) puts.push(decodeURIComponent(r.s3.object.key));
  });
  const { port } = await server.run();
  return {
    endpoint: `http://127.0.0.1:${port}`,
    bucket,
    puts,
    close: async () => {
      // The SDK keeps connections alive; close() would otherwise wait for them.
      server.httpServer?.closeAllConnections();
      await server.close();
    },
  };
}
