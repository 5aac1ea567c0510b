/**
 * Configuration resolution: CLI flag > environment > config file > default, per setting.
 *
 * Every setting is one row of SETTINGS (config/settings.ts): where it may come from, how a string
 * (flag or environment) becomes a value, and how a value is validated (config/validators.ts). Adding
 * a setting means adding a row there and a field to Settings (config/types.ts); nothing else
 * changes. The file is found and read by config/file-loader.ts. Errors name the key and the source
 * so an operator can find the bad line without guessing which of three places won; `sources`
 * records which one supplied each setting.
 */
import { dirname } from 'node:path';
import { readConfigFile, type ConfigFile } from './config/file-loader.js';
import { SETTINGS, type Setting } from './config/settings.js';
import type { ConfigSource, Origin, ResolvedConfig, SettingKey } from './config/types.js';

export { CONFIG_FILE_NAME } from './config/file-loader.js';
export { parseDuration } from './config/validators.js';
export type { ConfigSource, MonitorConfig, ResolvedConfig, SettingKey, Settings } from './config/types.js';

export interface ResolveConfigOptions {
  /** Parsed CLI options (commander's `optsWithGlobals()` fits); unrelated keys are ignored. */
  flags?: Readonly<Record<string, unknown>>;
  env?: Readonly<Record<string, string | undefined>>;
  cwd?: string;
}

export function resolveConfig(options: ResolveConfigOptions = {}): ResolvedConfig {
  const flags = options.flags ?? {};
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();

  const file = readConfigFile(flags, env, cwd);
  const settings: Partial<Record<SettingKey, unknown>> = {};
  const sources = {} as Record<SettingKey, ConfigSource>;

  for (const setting of Object.values(SETTINGS) as Setting<SettingKey>[]) {
    const found = lookup(setting, flags, env, cwd, file);
    if (found === undefined) {
      settings[setting.key] = setting.defaultValue(cwd);
      sources[setting.key] = 'default';
    } else {
      settings[setting.key] = setting.validate(found.value, found.origin, setting.key);
      sources[setting.key] = found.origin.source;
    }
  }

  const resolved = { ...settings, configFile: file?.path ?? null, sources } as ResolvedConfig;
  if (resolved.keyFile === undefined) delete resolved.keyFile;
  return resolved;
}

function lookup(
  setting: Setting<SettingKey>,
  flags: Readonly<Record<string, unknown>>,
  env: Readonly<Record<string, string | undefined>>,
  cwd: string,
  file: ConfigFile | null,
): { value: unknown; origin: Origin } | undefined {
  if (setting.flag !== undefined && flags[setting.flag] !== undefined) {
    const raw = flags[setting.flag];
    const origin: Origin = { source: 'flag', label: setting.flagName ?? `--${setting.flag}`, baseDir: cwd, cwd };
    return { value: typeof raw === 'string' && setting.fromString ? setting.fromString(raw) : raw, origin };
  }
  if (setting.env !== undefined) {
    const raw = env[setting.env];
    // An empty variable counts as unset, the way shells and CI systems commonly "clear" one.
    if (raw !== undefined && raw !== '') {
      const origin: Origin = { source: 'env', label: `environment ${setting.env}`, baseDir: cwd, cwd };
      return { value: setting.fromString ? setting.fromString(raw) : raw, origin };
    }
  }
  if (file !== null && Object.hasOwn(file.values, setting.key)) {
    const origin: Origin = { source: 'file', label: `config file ${file.path}`, baseDir: dirname(file.path), cwd };
    return { value: file.values[setting.key], origin };
  }
  return undefined;
}
