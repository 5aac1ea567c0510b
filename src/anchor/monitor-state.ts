/**
 * The monitor's trusted state, kept OUTSIDE the database (someone who can rewrite the ledger
 * tables must not be able to rewrite what the monitor last saw). Written atomically: temp file,
 * fsync, rename, fsync of the directory.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { decodeBase64 } from '../core/base64.js';
import { SealtrailError } from '../core/errors.js';
import { CompactRange } from '../core/compact-range.js';
import { fromHex } from '../core/hash.js';
import type { TrustedState } from '../ledger/trusted-state.js';

export interface OpenBreak {
  alert_key: string;
  seq: number | null;
  reason: string;
  source: string;
  detected_at: string;
}

export interface MonitorState {
  version: 1;
  /**
   * The last ledger state this monitor recomputed itself (never the database's head); null before
   * the first clean cycle. `frontier` (base64 hashes) lets a sweep start the tail there.
   */
  trusted: { size: number; root: string; chain_hash: string; frontier?: string[] } | null;
  /** The breaks seen by the last cycle, each alerted once (informational; alert keys dedupe). */
  open_breaks: OpenBreak[];
  /** Rolling sweep only: the first seq of the next slice of old entries. */
  sweep_next: number | null;
  /** Set once capture tables were seen on PostgreSQL: from then on a scan that cannot run is a break. */
  capture_seen: boolean;
  last_cycle_at: string | null;
}

export function emptyState(): MonitorState {
  return { version: 1, trusted: null, open_breaks: [], sweep_next: null, capture_seen: false, last_cycle_at: null };
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
    // Files written before open_breaks existed held a single open_break.
    const { open_break: _legacy, ...rest } = state as MonitorState & { open_break?: unknown };
    return { ...emptyState(), ...rest, open_breaks: Array.isArray(rest.open_breaks) ? rest.open_breaks : [] };
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
  const trusted: TrustedState = { size: state.trusted.size, root, chainHash: fromHex(state.trusted.chain_hash) };
  if (state.trusted.frontier) {
    const frontier = state.trusted.frontier.map((h) => decodeBase64(h));
    if (frontier.some((h) => !h || h.length !== 32)) throw new Error('bad trusted frontier');
    trusted.frontier = frontier as Buffer[];
    // The frontier must reproduce the root, or it is not the state that was trusted.
    if (!CompactRange.fromFrontier(trusted.size, trusted.frontier).root().equals(root)) throw new Error('trusted frontier does not match its root');
  }
  return trusted;
}
