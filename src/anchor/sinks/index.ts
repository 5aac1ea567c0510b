/** Sink specs (`kind:target`) to sink objects. Adding a sink type is one file and one row here. */
import { resolve } from 'node:path';
import { SealtrailError } from '../../core/errors.js';
import { redact } from '../../core/redact.js';
import { type RetryOptions } from '../retry.js';
import { FileSink } from './file-sink.js';
import { GitSink } from './git-sink.js';
import type { Sink } from './sink.js';
import { WebhookSink } from './webhook-sink.js';
import { TilesSink } from './tiles-sink.js';
import { WitnessSink } from './witness-sink.js';

export interface SinkOptions extends RetryOptions {
  /** Witness cosigner keys (`--witness-vkey`), each bound to a witness sink by name or URL. */
  witnessKeys?: readonly string[];
}

const FACTORIES: Record<string, (spec: string, target: string, options: SinkOptions) => Sink> = {
  file: (spec, target) => new FileSink(spec, resolve(target)),
  git: (spec, target) => new GitSink(spec, resolve(target)),
  witness: (spec, target, options) => new WitnessSink(spec, httpUrl(spec, target), options, options.witnessKeys ?? []),
  webhook: (spec, target, options) => new WebhookSink(spec, httpUrl(spec, target), options),
  tiles: (spec, target) => new TilesSink(spec, target),
};

export function openSink(spec: string | Sink, options: SinkOptions = {}): Sink {
  if (typeof spec !== 'string') return spec;
  const colon = spec.indexOf(':');
  const kind = colon > 0 ? spec.slice(0, colon) : '';
  const target = spec.slice(colon + 1).trim();
  const factory = Object.hasOwn(FACTORIES, kind) ? FACTORIES[kind] : undefined;
  if (!factory || target === '') {
    throw new SealtrailError('invalid_argument', `bad sink spec ${JSON.stringify(redact(spec))}: want file:<path>, git:<repo-dir>, witness:<url>, webhook:<url>, tiles:file:<dir> or tiles:s3://<bucket>/<prefix>`, {
      details: { sink: redact(spec) },
    });
  }
  return factory(spec, target, options);
}

function httpUrl(spec: string, target: string): string {
  let url: URL | undefined;
  try {
    url = new URL(target);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw new SealtrailError('invalid_argument', `sink ${JSON.stringify(redact(spec))} needs an http:// or https:// URL`, { details: { sink: redact(spec) } });
  }
  return target;
}

export type { Sink, SinkKind, SinkRecord, SinkContents, PublishRecord, PublishOutcome } from './sink.js';
