/**
 * The monitor's trusted state, kept OUTSIDE the database (someone who can rewrite the ledger
 * tables must not be able to rewrite what the monitor last saw). Written atomically: temp file,
 * fsync, rename, fsync of the directory.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { decodeBase64 } from '../core/base64.js';
import { SealtrailError } from '../core/errors.js';
import { fromHex } from '../core/hash.js';
import type { TrustedState } from '../ledger/trusted-state.js';

export interface MonitorState {
  version: 1;
  /** The last ledger state this monitor verified; null before the first clean cycle. */
  trusted: { size: number; root: string; chain_hash: string } | null;
  /** A break already alerted and not yet resolved: later cycles that still see it stay quiet. */
  open_break: { alert_key: string; seq: number | null; reason: string; detected_at: string } | null;
  last_cycle_at: string | null;
}

export function emptyState(): MonitorState {
  return { version: 1, trusted: null, open_break: null, last_cycle_at: null };
}

export function readMonitorState(path: string): MonitorState {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return emptyState();
    throw new SealtrailError('config_invalid', `monitor state file ${path} cannot be read`, { details: { path } });
  }
  try {
    const state = JSON.parse(text) as MonitorState;
    if (state.version !== 1 || !('trusted' in state)) throw new Error('unknown layout');
    if (state.trusted) trustedFromState(state);
    return { ...emptyState(), ...state };
  } catch {
    throw new SealtrailError('config_invalid', `monitor state file ${path} is corrupt; it must be restored from a copy, not deleted`, { details: { path } });
  }
}

export function writeMonitorState(path: string, state: MonitorState): void {
  mkdirSync(dirname(path), { recursive: true });
  const temp = `${path}.${process.pid}.tmp`;
  const fd = openSync(temp, 'w', 0o600);
  try {
    writeSync(fd, `${JSON.stringify(state, null, 2)}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temp, path);
  const dir = openSync(dirname(path), 'r');
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}

export function trustedFromState(state: MonitorState): TrustedState | undefined {
  if (!state.trusted) return undefined;
  const root = decodeBase64(state.trusted.root);
  if (!root || root.length !== 32 || !Number.isSafeInteger(state.trusted.size)) throw new Error('bad trusted state');
  return { size: state.trusted.size, root, chainHash: fromHex(state.trusted.chain_hash) };
}
