/**
 * The key anchoring state is kept under (`anchor_sinks.sink`). A webhook or witness URL may hold a
 * token, so it is never stored: those sinks are keyed `<kind>:sha256:<hex SHA-256 of the spec>`,
 * stable for the same spec and distinct for different tokens, with the redacted spec beside it
 * (`label`) for people. File and git specs are paths, and a tiles spec cannot hold a credential
 * (tiles/s3-tile-storage.ts refuses one), so those stay their own key.
 */
import { sha256 } from '../../core/hash.js';

const HASHED = /^(webhook|witness):sha256:[0-9a-f]{64}$/;

export function sinkKey(spec: string): string {
  if (HASHED.test(spec)) return spec;
  const kind = spec.slice(0, spec.indexOf(':'));
  if (kind !== 'webhook' && kind !== 'witness') return spec;
  return `${kind}:sha256:${sha256(Buffer.from(spec, 'utf8')).toString('hex')}`;
}
