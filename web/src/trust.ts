/**
 * Which verifier keys the page checks signatures with. A key the reader pins (kept in this
 * browser) overrides the server's: a server that lies about its own keys cannot then pass.
 */
import { get } from './api';

const PIN = 'sealtrail.pinned-vkeys';

export function pinnedKeys(): string[] {
  return (localStorage.getItem(PIN) ?? '').split('\n').map((s) => s.trim()).filter(Boolean);
}

export function pinKeys(keys: string): void {
  if (keys.trim()) localStorage.setItem(PIN, keys.trim());
  else localStorage.removeItem(PIN);
}

export interface Trust {
  vkeys: string[];
  witnessVkeys: string[];
  source: 'pinned in this browser' | 'server configuration';
}

export async function loadTrust(): Promise<Trust> {
  const server = await get<{ vkeys: string[]; witness_vkeys: string[] }>('/api/keys').catch(() => ({ vkeys: [], witness_vkeys: [] }));
  const pinned = pinnedKeys();
  return pinned.length > 0
    ? { vkeys: pinned, witnessVkeys: server.witness_vkeys, source: 'pinned in this browser' }
    : { vkeys: server.vkeys, witnessVkeys: server.witness_vkeys, source: 'server configuration' };
}
