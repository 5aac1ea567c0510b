/** The config file: found (--config, SEALTRAIL_CONFIG or ./sealtrail.config.json), read, parsed, and its keys checked. */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { SealtrailError } from '../../core/errors.js';
import { SETTINGS } from './settings.js';
import { isPlainObject } from './validators.js';

export const CONFIG_FILE_NAME = 'sealtrail.config.json';

export interface ConfigFile {
  path: string;
  values: Record<string, unknown>;
}

export function readConfigFile(
  flags: Readonly<Record<string, unknown>>,
  env: Readonly<Record<string, string | undefined>>,
  cwd: string,
): ConfigFile | null {
  let path: string;
  let explicit: string | undefined;
  if (typeof flags['config'] === 'string' && flags['config'] !== '') {
    explicit = '--config';
    path = resolve(cwd, flags['config']);
  } else if (env['SEALTRAIL_CONFIG'] !== undefined && env['SEALTRAIL_CONFIG'] !== '') {
    explicit = 'environment SEALTRAIL_CONFIG';
    path = resolve(cwd, env['SEALTRAIL_CONFIG']);
  } else {
    path = resolve(cwd, CONFIG_FILE_NAME);
    if (!existsSync(path)) return null;
  }

  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : 'cannot be read';
    throw new SealtrailError('config_invalid', `config file ${path} ${reason}${explicit ? ` (named by ${explicit})` : ''}`, {
      cause: err,
      details: { file: path },
    });
  }

  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new SealtrailError('config_invalid', `config file ${path} is not valid JSON: ${(err as Error).message}`, {
      cause: err,
      details: { file: path },
    });
  }
  if (!isPlainObject(parsed)) {
    throw new SealtrailError('config_invalid', `config file ${path} must contain a JSON object`, { details: { file: path } });
  }
  const unknown = Object.keys(parsed).filter((key) => !Object.hasOwn(SETTINGS, key));
  if (unknown.length > 0) {
    throw new SealtrailError(
      'config_invalid',
      `config file ${path}: unknown key${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `"${k}"`).join(', ')} ` +
        `(known: ${Object.keys(SETTINGS).join(', ')})`,
      { details: { file: path, keys: unknown } },
    );
  }
  return { path, values: parsed };
}
