/**
 * A small C2SP tlog-witness (c2sp.org/tlog-witness v1). It knows logs by their verifier keys
 * (origin = key name; several keys per origin during a rotation), keeps the latest cosigned
 * checkpoint per origin in SQLite, and checks `old` against that state and stores the new one in
 * ONE immediate transaction, so two racing requests can never roll the state back.
 *
 *   POST /add-checkpoint                 the spec's call: 200 cosignature, 400, 403, 404, 409, 422
 *   GET  /sealtrail/latest?origin=<o>    sealtrail extension: the latest cosigned checkpoint note
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import Database from 'better-sqlite3';
import { decodeBase64 } from '../core/base64.js';
import { parseCheckpoint, type Checkpoint } from '../core/checkpoint.js';
import { cosign, type CosignatureSigner } from '../core/cosignature.js';
import { isSealtrailError, SealtrailError } from '../core/errors.js';
import { equalBytes } from '../core/hash.js';
import { verifyConsistency } from '../core/merkle.js';
import { NoteVerifier, openNote, parseNote } from '../core/note.js';
import { TLOG_SIZE_CONTENT_TYPE } from './sinks/witness-sink.js';

const MAX_BODY_BYTES = 64 * 1024;
const MAX_PROOF_LINES = 63;

export interface WitnessOptions {
  /** The witness's own cosigner key (tlog-cosignature, type 0x04). */
  signer: CosignatureSigner;
  /** Verifier keys of the logs it witnesses; the key name is the log's origin. */
  logs: readonly string[];
  /** SQLite file holding the witness state. */
  statePath: string;
  /** Clock in seconds for cosignature timestamps (tests). */
  now?: () => number;
}

export interface WitnessResponse {
  status: number;
  contentType: string;
  body: string;
}

interface StateRow {
  size: number;
  root: Buffer;
}

export class Witness {
  readonly signer: CosignatureSigner;
  private readonly logs = new Map<string, NoteVerifier[]>();
  private readonly db: Database.Database;
  private readonly now: () => number;

  constructor(options: WitnessOptions) {
    this.signer = options.signer;
    for (const vkey of options.logs) {
      const verifier = NoteVerifier.fromKey(vkey);
      this.logs.set(verifier.name, [...(this.logs.get(verifier.name) ?? []), verifier]);
    }
    this.now = options.now ?? (() => Math.floor(Date.now() / 1000));
    this.db = openState(options.statePath);
  }

  /** Handles an add-checkpoint request body; never throws for bad input. */
  addCheckpoint(body: string): WitnessResponse {
    const request = parseRequest(body);
    if ('error' in request) return text(400, request.error);
    let checkpoint: Checkpoint;
    try {
      checkpoint = parseCheckpoint(parseNote(request.note).text);
    } catch {
      return text(400, 'malformed checkpoint note');
    }
    const verifiers = this.logs.get(checkpoint.origin);
    if (!verifiers) return text(404, 'unknown log origin');
    try {
      openNote(request.note, verifiers);
    } catch (err) {
      if (isSealtrailError(err)) return text(403, 'no valid signature by a known key for this log');
      throw err;
    }
    if (request.old > checkpoint.size) return text(400, 'old size is larger than the checkpoint size');
    if (request.old === 0 && request.proof.length > 0) return text(400, 'the proof must be empty when old is 0');

    // Check and update under one write lock: the spec's race (A checks, B stores, A stores) cannot happen.
    const decide = this.db.transaction((): WitnessResponse => {
      const row = this.db.prepare('SELECT size, root FROM witness_state WHERE origin = ?').get(checkpoint.origin) as StateRow | undefined;
      const current = row ? Number(row.size) : 0;
      if (request.old !== current) return { status: 409, contentType: TLOG_SIZE_CONTENT_TYPE, body: `${current}\n` };
      if (request.old === checkpoint.size) {
        if (row && (request.proof.length > 0 || !equalBytes(row.root, checkpoint.rootHash))) {
          return { status: 409, contentType: TLOG_SIZE_CONTENT_TYPE, body: `${current}\n` };
        }
      } else if (row && request.old > 0 && !verifyConsistency(request.old, checkpoint.size, row.root, checkpoint.rootHash, request.proof)) {
        return text(422, 'the consistency proof does not verify');
      }
      const line = cosign(parseNote(request.note).text, this.signer, this.now());
      this.db
        .prepare(
          `INSERT INTO witness_state (origin, size, root, note, updated_at) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (origin) DO UPDATE SET size = excluded.size, root = excluded.root, note = excluded.note, updated_at = excluded.updated_at`,
        )
        .run(checkpoint.origin, checkpoint.size, checkpoint.rootHash, `${request.note}${line}`, new Date().toISOString());
      return { status: 200, contentType: 'text/plain; charset=utf-8', body: line };
    });
    return decide.immediate();
  }

  /** The latest cosigned checkpoint note for an origin (log signatures plus this witness's cosignature). */
  latest(origin: string): string | null {
    const row = this.db.prepare('SELECT note FROM witness_state WHERE origin = ?').get(origin) as { note: string } | undefined;
    return row?.note ?? null;
  }

  close(): void {
    this.db.close();
  }
}

const STATE_COLUMNS = ['origin', 'size', 'root', 'note', 'updated_at'];

/**
 * Opens (or creates) the state file. A file that is not a witness state — garbage, another
 * program's database, a path that cannot be opened — is witness_state_invalid naming the path,
 * and is left as it was: the witness must not start on a state it cannot trust, and must not
 * "repair" someone else's file.
 */
function openState(path: string): Database.Database {
  const invalid = (reason: string, why: string, cause?: unknown) =>
    new SealtrailError('witness_state_invalid', `witness state ${path} ${why}`, { details: { path, reason }, ...(cause === undefined ? {} : { cause }) });
  let db: Database.Database;
  try {
    db = new Database(path);
  } catch (err) {
    throw invalid('cannot_open', `cannot be opened or created (${(err as { code?: string }).code ?? 'error'})`, err);
  }
  try {
    // The first read of the header: a file that is not SQLite fails here (SQLITE_NOTADB).
    const columns = (db.pragma('table_info(witness_state)') as Array<{ name: string }>).map((c) => c.name);
    if (columns.length > 0 && STATE_COLUMNS.some((c) => !columns.includes(c))) {
      throw invalid('wrong_schema', `has a witness_state table with other columns (${columns.join(', ')})`);
    }
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.exec(`CREATE TABLE IF NOT EXISTS witness_state (
      origin     TEXT PRIMARY KEY,
      size       INTEGER NOT NULL,
      root       BLOB NOT NULL,
      note       TEXT NOT NULL,
      updated_at TEXT NOT NULL
    )`);
    return db;
  } catch (err) {
    db.close();
    if (err instanceof SealtrailError) throw err;
    const code = (err as { code?: string }).code;
    if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') throw invalid('not_a_database', 'is not an SQLite database (garbage or another kind of file)', err);
    throw invalid('cannot_open', `cannot be used (${code ?? 'error'})`, err);
  }
}

function text(status: number, message: string): WitnessResponse {
  return { status, contentType: 'text/plain; charset=utf-8', body: `${message}\n` };
}

function parseRequest(body: string): { old: number; proof: Buffer[]; note: string } | { error: string } {
  const firstBreak = body.indexOf('\n');
  const oldLine = firstBreak < 0 ? '' : body.slice(0, firstBreak);
  const m = /^old (0|[1-9][0-9]*)$/.exec(oldLine);
  const old = m ? Number(m[1]) : NaN;
  if (!Number.isSafeInteger(old)) return { error: 'the first line must be "old <size>"' };
  const proof: Buffer[] = [];
  let pos = firstBreak + 1;
  for (;;) {
    const end = body.indexOf('\n', pos);
    if (end < 0) return { error: 'missing the empty line before the checkpoint' };
    const line = body.slice(pos, end);
    pos = end + 1;
    if (line === '') break;
    const hash = decodeBase64(line);
    if (!hash || hash.length !== 32) return { error: 'consistency proof lines must be base64 of 32 bytes' };
    if (proof.length === MAX_PROOF_LINES) return { error: `more than ${MAX_PROOF_LINES} proof lines` };
    proof.push(hash);
  }
  return { old, proof, note: body.slice(pos) };
}

export interface RunningWitness {
  url: string;
  server: Server;
  close(): Promise<void>;
}

/** Serves a witness over HTTP; host defaults to loopback, port 0 picks a free port. */
export async function startWitnessServer(witness: Witness, options: { host?: string; port?: number } = {}): Promise<RunningWitness> {
  const server = createServer((req, res) => {
    handle(witness, req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('internal error\n');
    });
  });
  server.keepAliveTimeout = 5_000;
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? 0;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(listenError(err, host, port)));
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${shown}:${address.port}`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Why a server could not listen, as a coded error naming the address (never `internal`). */
function listenError(err: NodeJS.ErrnoException, host: string, port: number): Error {
  const where = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  const details = { host, port, reason: err.code };
  if (err.code === 'EADDRINUSE') return new SealtrailError('address_in_use', `cannot listen on ${where}: another process already listens there`, { cause: err, details });
  if (err.code === 'EADDRNOTAVAIL' || err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN') {
    return new SealtrailError('invalid_argument', `cannot listen on ${where}: ${host} is not an address of this machine`, { cause: err, details });
  }
  if (err.code === 'EACCES') return new SealtrailError('invalid_argument', `cannot listen on ${where}: permission denied (a privileged port?)`, { cause: err, details });
  return err;
}

async function handle(witness: Witness, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://witness.invalid');
  if (url.pathname === '/add-checkpoint') {
    if (req.method !== 'POST') return send(res, { status: 405, contentType: 'text/plain', body: 'use POST\n' }, { allow: 'POST' });
    const body = await readBody(req);
    if (body === null) return send(res, text(413, 'request body too large'));
    return send(res, witness.addCheckpoint(body));
  }
  if (url.pathname === '/sealtrail/latest' && req.method === 'GET') {
    const note = witness.latest(url.searchParams.get('origin') ?? '');
    return send(res, note === null ? text(404, 'no checkpoint for this origin') : { status: 200, contentType: 'text/plain; charset=utf-8', body: note });
  }
  send(res, text(404, 'not found'));
}

function send(res: ServerResponse, r: WitnessResponse, headers: Record<string, string> = {}): void {
  res.writeHead(r.status, { 'content-type': r.contentType, 'content-length': Buffer.byteLength(r.body), ...headers });
  res.end(r.body);
}

async function readBody(req: IncomingMessage): Promise<string | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) return null;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}
