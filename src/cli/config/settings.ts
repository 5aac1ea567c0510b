/**
 * The settings table: every setting is one row — where it may come from (flag, environment, file),
 * how a string becomes a value, how a value is validated, and its default. Adding a setting means
 * adding a row here and a field to Settings (types.ts); nothing else changes.
 */
import { resolve } from 'node:path';
import type { Origin, SettingKey, Settings } from './types.js';
import {
  monitorDefaults,
  splitList,
  validateDatabase,
  validateMonitor,
  validatePath,
  validatePositiveInteger,
  validateSinkSpec,
  validateStringList,
  validateVerifierKey,
  validateRoleName,
  validateWitnessKey,
  serverDefaults,
  validateServer,
} from './validators.js';
import { READ_ONLY_ROLE } from '../../capture/capture.js';

export interface Setting<K extends SettingKey> {
  key: K;
  /** Property name in the parsed CLI options, when the setting has a flag. */
  flag?: string;
  /** The flag as the user types it, for messages. */
  flagName?: string;
  env?: string;
  /** Turns a string from a flag or the environment into the shape `validate` expects. */
  fromString?: (raw: string) => unknown;
  /** Checks and normalises a value; throws via `invalid()` on bad input. */
  validate: (value: unknown, origin: Origin, key: string) => Settings[K];
  defaultValue: (cwd: string) => Settings[K] | undefined;
}

export type SettingTable = { [K in SettingKey]: Setting<K> };

export const SETTINGS: SettingTable = {
  db: {
    key: 'db',
    flag: 'db',
    flagName: '--db',
    env: 'SEALTRAIL_DB',
    validate: validateDatabase,
    defaultValue: (cwd) => resolve(cwd, 'sealtrail.db'),
  },
  maxPayloadBytes: {
    key: 'maxPayloadBytes',
    env: 'SEALTRAIL_MAX_PAYLOAD_BYTES',
    fromString: (raw) => (/^\d+$/.test(raw.trim()) ? Number(raw.trim()) : raw),
    validate: validatePositiveInteger,
    defaultValue: () => 1_048_576,
  },
  keyFile: {
    key: 'keyFile',
    env: 'SEALTRAIL_KEY_FILE',
    validate: validatePath,
    defaultValue: () => undefined,
  },
  sinks: {
    key: 'sinks',
    env: 'SEALTRAIL_SINKS',
    fromString: splitList,
    validate: (value, origin, key) =>
      validateStringList(value, origin, key).map((spec, i) => validateSinkSpec(spec, origin, `${key}[${i}]`)),
    defaultValue: () => [],
  },
  vkeys: {
    key: 'vkeys',
    env: 'SEALTRAIL_VKEYS',
    fromString: splitList,
    validate: (value, origin, key) =>
      validateStringList(value, origin, key).map((vkey, i) => validateVerifierKey(vkey, origin, `${key}[${i}]`)),
    defaultValue: () => [],
  },
  witnessVkeys: {
    key: 'witnessVkeys',
    flag: 'witnessVkey',
    flagName: '--witness-vkey',
    env: 'SEALTRAIL_WITNESS_VKEYS',
    fromString: splitList,
    validate: (value, origin, key) =>
      validateStringList(value, origin, key).map((entry, i) => validateWitnessKey(entry, origin, `${key}[${i}]`)),
    defaultValue: () => [],
  },
  readOnlyRole: {
    key: 'readOnlyRole',
    flag: 'readOnlyRole',
    flagName: '--read-only-role',
    env: 'SEALTRAIL_READ_ONLY_ROLE',
    validate: validateRoleName,
    defaultValue: () => READ_ONLY_ROLE,
  },
  monitor: {
    key: 'monitor',
    validate: validateMonitor,
    defaultValue: (cwd) => monitorDefaults(cwd),
  },
  server: {
    key: 'server',
    validate: validateServer,
    defaultValue: () => serverDefaults(),
  },
};
