/**
 * Signing keys on disk and in the environment. A key file holds one signer key string
 * (PRIVATE+KEY+…), mode 0600. Nothing here ever puts key material in an error, a log line or a
 * return value other than the signer object, whose printed forms show only public facts.
 *
 * A key taken from SEALTRAIL_SIGNING_KEY is removed from process.env as it is loaded, so no later
 * child process, worker or crash dump of the environment carries it; this process keeps it in
 * memory (it holds the signer anyway) for later loads.
 */
import { closeSync, constants, fstatSync, fsyncSync, openSync, readFileSync, writeSync } from 'node:fs';
import { CosignatureSigner } from '../core/cosignature.js';
import { SealtrailError } from '../core/errors.js';
import { NoteSigner } from '../core/note.js';

/** Environment variable holding signer keys (one per line) when no key file is given. */
export const SIGNING_KEY_ENV = 'SEALTRAIL_SIGNING_KEY';

/** Writes a new key file (mode 0600); refuses to replace an existing file. */
export function writeKeyFile(path: string, signerKey: string): void {
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      throw new SealtrailError('invalid_argument', `key file ${path} already exists; refusing to overwrite it`, { details: { path } });
    }
    throw new SealtrailError('key_unavailable', `cannot create key file ${path} (${code ?? 'error'})`, { details: { path, reason: code } });
  }
  try {
    writeSync(fd, `${signerKey}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Set by `--allow-insecure-key-file`: key files readable by group or others are then accepted. */
let insecureKeyFilesAllowed = false;

/** Accept (true) or refuse (false, the default) key files that group or others can access. */
export function allowInsecureKeyFiles(allowed: boolean): void {
  insecureKeyFilesAllowed = allowed;
}

/**
 * The key string in a key file. Errors name the path and the OS reason, never the content. Like
 * ssh, a file group or others can access (mode & 0o077) is refused (key_unavailable, reason
 * insecure_mode) unless `allowInsecureKeyFiles(true)`: a leaked signing key forges checkpoints.
 */
export function readKeyFile(path: string): string {
  let text: string;
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const mode = fstatSync(fd).mode & 0o777;
    if ((mode & 0o077) !== 0 && !insecureKeyFilesAllowed && process.platform !== 'win32') {
      throw new SealtrailError(
        'key_unavailable',
        `key file ${path} is accessible by group or others (mode ${mode.toString(8).padStart(4, '0')}); run chmod 600 ${path} (or pass --allow-insecure-key-file)`,
        { details: { path, reason: 'insecure_mode', mode: `0${mode.toString(8)}` } },
      );
    }
    text = readFileSync(fd, 'utf8');
  } catch (err) {
    if (err instanceof SealtrailError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'does not exist' : `cannot be read (${code ?? 'error'})`;
    throw new SealtrailError('key_unavailable', `key file ${path} ${why}`, { details: { path, reason: code } });
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  const key = text.trim();
  if (key === '') throw new SealtrailError('key_unavailable', `key file ${path} is empty`, { details: { path } });
  return key;
}

export interface SignerSource {
  /** Key files, in signing order (several during a rotation overlap). */
  keyFiles?: readonly string[];
  /** Consulted for SEALTRAIL_SIGNING_KEY when no key file is given. */
  env?: Readonly<Record<string, string | undefined>>;
}

/** The SEALTRAIL_SIGNING_KEY value once taken out of process.env. */
let takenFromProcessEnv: string | undefined;

/**
 * SEALTRAIL_SIGNING_KEY from `env`. From process.env it is taken out (deleted) and remembered, so
 * it is gone from the environment after the first load and still there for the next one.
 */
export function signingKeyFromEnvironment(env: Readonly<Record<string, string | undefined>> | undefined = process.env): string | undefined {
  if (env !== process.env) return env?.[SIGNING_KEY_ENV];
  const value = process.env[SIGNING_KEY_ENV];
  if (value !== undefined) {
    takenFromProcessEnv = value;
    delete process.env[SIGNING_KEY_ENV];
  }
  return takenFromProcessEnv;
}

/** Log signers from key files, else from SEALTRAIL_SIGNING_KEY; key_unavailable when neither has one. */
export function loadSigners(source: SignerSource): NoteSigner[] {
  const files = source.keyFiles ?? [];
  if (files.length > 0) return files.map((path) => withSource(() => NoteSigner.fromKey(readKeyFile(path)), `key file ${path}`));
  const fromEnv = signingKeyFromEnvironment(source.env ?? {});
  const keys = (fromEnv ?? '')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
  if (keys.length === 0) {
    throw new SealtrailError('key_unavailable', `no signing key: pass --key-file, set keyFile in the config, or set ${SIGNING_KEY_ENV}`);
  }
  return keys.map((key, i) => withSource(() => NoteSigner.fromKey(key), `${SIGNING_KEY_ENV} line ${i + 1}`));
}

/** A witness cosigner key (type 0x04) from a key file. */
export function loadCosigner(path: string): CosignatureSigner {
  return withSource(() => CosignatureSigner.fromKey(readKeyFile(path)), `key file ${path}`);
}

/** Adds where a key came from to a parse error; the core errors already omit the key itself. */
function withSource<T>(load: () => T, where: string): T {
  try {
    return load();
  } catch (err) {
    if (err instanceof SealtrailError) {
      throw new SealtrailError(err.code, `${where}: ${err.message}`, { details: { ...err.details, source: where } });
    }
    throw new SealtrailError('invalid_key', `${where}: the key cannot be parsed`, { details: { source: where } });
  }
}
