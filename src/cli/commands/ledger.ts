/**
 * The ledger commands: init, append, redact, head, verify, prove, check-proof. Thin: parse, call the
 * library, print through ctx.out.
 */
import { createReadStream, fstatSync, openSync, readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { parseJson } from '../../core/canonical-json.js';
import { SealtrailError } from '../../core/errors.js';
import { NoteVerifier } from '../../core/note.js';
import { loadSigners } from '../../anchor/keys.js';
import { decodeBase64, encodeBase64 } from '../../core/base64.js';
import { headToJson, openLedger, type AppendResult, type Ledger } from '../../ledger/ledger.js';
import { parseTrustedState } from '../../ledger/trusted-state.js';
import type { VerifyReport } from '../../ledger/verifier.js';
import { checkProofBundle, formatProofBundle } from '../../ledger/proof-bundle.js';
import { createAuditLog, installCapture } from '../../capture/capture.js';
import { verifyAgainstSinks } from '../../anchor/index.js';
import type { CommandContext, ExitStatus, WithContext } from '../program.js';
import { createProgress } from '../progress.js';
import { printable } from '../output.js';

export async function withLedger<T>(ctx: CommandContext, fn: (ledger: Ledger) => Promise<T>, options: { migrate?: boolean } = {}): Promise<T> {
  const ledger = await openLedger({ url: ctx.config.db, maxPayloadBytes: ctx.config.maxPayloadBytes, migrate: options.migrate ?? false });
  try {
    return await fn(ledger);
  } finally {
    await ledger.close();
  }
}

/** Opens an input file named on the command line; a missing or unreadable one is invalid_argument naming it. */
function openInput(path: string, what: string): number {
  try {
    return openSync(path, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'does not exist' : `cannot be read (${code ?? 'error'})`;
    throw new SealtrailError('invalid_argument', `${what} ${path} ${why}`, { details: { path, reason: code } });
  }
}

function readInput(path: string, what: string): string {
  return readFileSync(openInput(path, what), 'utf8');
}

function positiveInt(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 0) {
      throw new SealtrailError('invalid_argument', `${name} must be a non-negative integer, got ${JSON.stringify(value)}`);
    }
    return n;
  };
}

function entryJson(e: AppendResult) {
  return { seq: e.seq, event_hash: e.eventHash.toString('hex'), chain_hash: e.chainHash.toString('hex'), ...(e.existing ? { existing: true } : {}) };
}

/** What `append` says before reading a payload from stdin: a hint on a terminal, nothing on a pipe. */
export function stdinPayloadHint(stdinIsTty: boolean): string | undefined {
  return stdinIsTty ? 'reading the payload JSON from stdin; end with Ctrl-D (or pass it as an argument)' : undefined;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const bytes = Buffer.concat(chunks);
  return decodeUtf8(bytes, () => {
    const offset = firstInvalidUtf8(bytes);
    const line = countNewlines(bytes, offset) + 1;
    return { where: `stdin line ${line}`, details: { line, offset } };
  });
}

// ignoreBOM: a byte order mark stays in the text (and is then not JSON), nothing is dropped.
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Decodes UTF-8 strictly: invalid bytes are refused (invalid_json), never replaced with U+FFFD. */
function decodeUtf8(bytes: Uint8Array, locate: () => { where: string; details: Record<string, unknown> }): string {
  try {
    return UTF8.decode(bytes);
  } catch {
    const { where, details } = locate();
    throw new SealtrailError('invalid_json', `${where}: not valid UTF-8 (byte offset ${details.offset as number}${where === 'line' ? ' in the line' : ''})`, { details });
  }
}

function countNewlines(bytes: Uint8Array, end: number): number {
  let n = 0;
  for (let i = 0; i < end; i++) if (bytes[i] === 0x0a) n++;
  return n;
}

/** Offset of the first byte that does not start a well-formed UTF-8 sequence (RFC 3629). */
function firstInvalidUtf8(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i]!;
    let need: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (c < 0x80) need = 0;
    else if (c >= 0xc2 && c <= 0xdf) need = 1;
    else if (c >= 0xe0 && c <= 0xef) {
      need = 2;
      if (c === 0xe0) lo = 0xa0;
      if (c === 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      need = 3;
      if (c === 0xf0) lo = 0x90;
      if (c === 0xf4) hi = 0x8f;
    } else return i;
    for (let k = 1; k <= need; k++) {
      const d = b[i + k];
      if (d === undefined || d < (k === 1 ? lo : 0x80) || d > (k === 1 ? hi : 0xbf)) return i;
    }
    i += need + 1;
  }
  return b.length;
}

/**
 * The lines of a byte stream, split at LF (a CR before it is dropped), each still as bytes, grouped
 * by the read that delivered them: a streaming reader commits at the end of each group, so a line
 * never waits for input that has not arrived yet.
 */
async function* byteLineGroups(input: AsyncIterable<Buffer>): AsyncIterable<Buffer[]> {
  let rest: Buffer = Buffer.alloc(0);
  for await (const chunk of input) {
    const data = rest.length === 0 ? chunk : Buffer.concat([rest, chunk]);
    const lines: Buffer[] = [];
    let start = 0;
    for (let nl = data.indexOf(0x0a, start); nl !== -1; nl = data.indexOf(0x0a, start)) {
      lines.push(data.subarray(start, nl > start && data[nl - 1] === 0x0d ? nl - 1 : nl));
      start = nl + 1;
    }
    rest = data.subarray(start);
    yield lines;
  }
  if (rest.length > 0) yield [rest[rest.length - 1] === 0x0d ? rest.subarray(0, -1) : rest];
}

export function register(program: Command, withContext: WithContext): void {
  program
    .command('init')
    .description('create (or upgrade) the ledger schema in the database')
    .option('--read-only-role <name>', 'PostgreSQL: the read-only verifier role to create and grant (env SEALTRAIL_READ_ONLY_ROLE, default sealtrail_audit_ro)')
    .option('--audit-log', 'PostgreSQL: also create a general-purpose audit_log table, watched from the start')
    .action(
      withContext<{ auditLog?: boolean }>(async (ctx, { opts }) => {
        const readOnlyRole = ctx.config.readOnlyRole;
        const ledger = await openLedger({ url: ctx.config.db, migrate: true });
        try {
          if (opts.auditLog && !ledger.store.capabilities.triggerCapture) {
            throw new SealtrailError('unsupported_backend', '--audit-log needs a postgres:// database (a watched table is chained by PostgreSQL triggers)');
          }
          // On PostgreSQL the database chains rows itself: install the capture functions, guards and roles.
          const capture = ledger.store.capabilities.triggerCapture ? await installCapture(ledger.store, { readOnlyRole }) : null;
          const auditLog = opts.auditLog ? await createAuditLog(ledger.store) : null;
          const head = await ledger.head();
          const extra = capture
            ? `\ncapture installed (DDL evidence: ${capture.ddlEvidence ? 'yes' : 'no, needs a superuser'}; read-only role ${readOnlyRole}: ${capture.readOnlyRole ? 'yes' : 'no, needs CREATEROLE'}; wal mode: ${walReadiness(capture.wal)})` +
              (auditLog ? `\naudit_log ready and watched (${auditLog.mode}, kind ${auditLog.kind})` : '')
            : '';
          ctx.out.result(`ledger ready at ${ledger.store.location} (size ${head.size})${extra}`, {
            ok: true,
            db: ledger.store.location,
            ...headToJson(head),
            ...(capture ? { capture: { ddl_evidence: capture.ddlEvidence, read_only_role: capture.readOnlyRole, read_only_role_name: readOnlyRole } } : {}),
            ...(capture ? { wal_capture: { ready: capture.wal.ready, wal_level: capture.wal.walLevel, replication: capture.wal.replication } } : {}),
            ...(auditLog ? { audit_log: auditLog } : {}),
          });
        } finally {
          await ledger.close();
        }
        return 0;
      }),
    );

  program
    .command('append')
    .description('append an event (payload JSON as argument or on stdin), or many with --jsonl')
    .argument('[kind]', 'event kind, e.g. deploy')
    .argument('[pk]', 'event key, unique within its kind')
    .argument('[payload-json]', 'the payload as JSON (read from stdin when omitted)')
    .option('--jsonl <file>', 'append every line {"kind","pk","payload"} of a JSON Lines file (- for stdin; a pipe is streamed, each line reported once durable)')
    .action(
      withContext<{ jsonl?: string }>(async (ctx, { args, opts }) => {
        if (opts.jsonl !== undefined) {
          // The input must be there before the ledger is opened (which may create the database file).
          const fd = opts.jsonl === '-' ? undefined : openInput(opts.jsonl, '--jsonl file');
          const jsonlLedger = await openLedger({ url: ctx.config.db, maxPayloadBytes: ctx.config.maxPayloadBytes });
          try {
            return await appendJsonl(ctx, jsonlLedger, opts.jsonl, fd);
          } finally {
            await jsonlLedger.close();
          }
        }
        // Everything the command needs is checked before the ledger is opened, so a mistyped
        // payload never leaves a new database file behind.
        const [kind, pk, payloadText] = args;
        if (!kind || !pk) throw new SealtrailError('invalid_argument', 'append needs <kind> and <pk> (or --jsonl <file>)');
        if (payloadText === undefined) {
          const hint = stdinPayloadHint(process.stdin.isTTY === true);
          if (hint !== undefined) ctx.out.note(hint);
        }
        const payload = parseJson(payloadText ?? (await readStdin()));
        const ledger = await openLedger({ url: ctx.config.db, maxPayloadBytes: ctx.config.maxPayloadBytes });
        try {
          const entry = await ledger.append(kind, pk, payload);
          ctx.out.result(`${entry.existing ? 'already present' : 'appended'}: seq ${entry.seq} chain_hash ${entry.chainHash.toString('hex')}`, entryJson(entry));
          return 0;
        } finally {
          await ledger.close();
        }
      }),
    );

  program
    .command('redact')
    .description("erase an entry's payload (an erasure request), recorded by a chained sealtrail.redaction event; hashes and proofs stay valid")
    .argument('<seq>', 'the entry to redact', positiveInt('seq'))
    .requiredOption('--reason <text>', 'why (e.g. the erasure request it answers); chained with the redaction event')
    .action(
      withContext<{ reason: string }>(async (ctx, { command, opts }) => {
        const seq = command.processedArgs[0] as number;
        return withLedger(ctx, async (ledger): Promise<ExitStatus> => {
          const r = await ledger.redact(seq, opts.reason);
          ctx.out.result(`redacted seq ${r.seq} (event_hash ${r.eventHash.toString('hex')} kept); recorded as seq ${r.redaction.seq}`, {
            seq: r.seq,
            event_hash: r.eventHash.toString('hex'),
            reason: r.reason,
            redaction: entryJson(r.redaction),
          });
          return 0;
        });
      }),
    );

  program
    .command('head')
    .description('print the ledger head: size, chain hash and Merkle root')
    .action(
      withContext(async (ctx) =>
        withLedger(ctx, async (ledger): Promise<ExitStatus> => {
          const head = headToJson(await ledger.head());
          ctx.out.result(`size        ${head.size}\nchain_hash  ${head.chain_hash}\nroot        ${head.root}`, head);
          return 0;
        }),
      ),
    );

  program
    .command('verify')
    .description('re-derive every hash and link client-side and report the first divergence')
    .option('--from <seq>', 'first seq to verify', positiveInt('--from'))
    .option('--to <seq>', 'last seq to verify', positiveInt('--to'))
    .option('--trusted <file>', 'a trusted state: `sealtrail head --json` output or a checkpoint note')
    .option('--skip-prefix', 'with --trusted: do not re-read the entries before the trusted size (faster; an edit there can go unseen)')
    .option('--vkey <vkey...>', 'trusted verifier keys (required for --trusted checkpoints; also --against-sinks)')
    .option('--origin <origin>', "the origin a --trusted checkpoint must carry (default: the verifying key's name)")
    .option('--against-sinks', 'check every checkpoint published in the sinks against the ledger')
    .option('--sink <spec...>', 'sinks to check with --against-sinks (default: the configured sinks)')
    .option('--witness-vkey <vkey...>', 'cosigner key of a witness sink, <vkey> or <vkey>@<url> (default: config witnessVkeys)')
    .action(
      withContext<{ from?: number; to?: number; trusted?: string; skipPrefix?: boolean; vkey?: string[]; origin?: string; againstSinks?: boolean; sink?: string[] }>(async (ctx, { opts }) =>
        withLedger(ctx, async (ledger): Promise<ExitStatus> => {
          const vkeys = opts.vkey ?? ctx.config.vkeys;
          if (opts.againstSinks) return verifySinks(ctx, ledger, opts.sink ?? ctx.config.sinks, vkeys);
          const trusted =
            opts.trusted === undefined
              ? undefined
              : parseTrustedState(
                  readInput(opts.trusted, '--trusted file'),
                  vkeys.map((k) => NoteVerifier.fromKey(k)),
                  opts.origin === undefined ? {} : { origin: opts.origin },
                );
          const head = await ledger.head();
          const progress = createProgress({ label: 'verify', total: head.size });
          let shown = 0;
          const report = await ledger.verify({
            ...(opts.from !== undefined ? { from: opts.from } : {}),
            ...(opts.to !== undefined ? { to: opts.to } : {}),
            ...(trusted ? { trusted } : {}),
            ...(opts.skipPrefix ? { skipPrefix: true } : {}),
            onProgress: (checked) => {
              progress.tick(checked - shown);
              shown = checked;
            },
          });
          progress.done();
          const d = report.divergence;
          const blindSpot = report.skippedPrefix ? `\nnot re-read: entries 1..${report.from - 1} (before the trusted size; --skip-prefix)` : '';
          const redacted = report.redacted.length > 0 ? `, ${report.redacted.length} redacted` : '';
          ctx.out.result(
            (d
              ? `INTEGRITY FAILURE at seq ${d.seq}${d.kind ? ` (${printable(d.kind)}/${printable(d.pk)})` : ''}: ${printable(d.reason)} — checked ${report.checked} entries`
              : `ok: ${report.checked} entries verified (size ${report.size}${redacted})`) + blindSpot,
            verifyReportJson(report),
          );
          return report.ok ? 0 : 1;
        }),
      ),
    );

  const prove = program.command('prove').description('produce inclusion and consistency proofs');
  prove
    .command('inclusion')
    .description('a C2SP tlog-proof that entry <seq> is in the tree (signed checkpoint included)')
    .argument('<seq>', 'the entry', positiveInt('seq'))
    .option('--size <n>', 'tree size to prove against (default: the latest recorded checkpoint, or the head with --key-file)', positiveInt('--size'))
    .option('--key-file <path...>', 'sign a fresh checkpoint of that size with these keys')
    .action(
      withContext<{ size?: number; keyFile?: string[] }>(async (ctx, { command, opts }) =>
        withLedger(ctx, async (ledger): Promise<ExitStatus> => {
          const seq = command.processedArgs[0] as number;
          const note = await checkpointNoteFor(ctx, ledger, seq, opts);
          const proof = await ledger.proveInclusion(seq, note.size);
          const text = formatProofBundle((await ledger.entry(seq))!, proof, note.note);
          ctx.out.result(text, { seq, size: proof.size, proof: text });
          return 0;
        }),
      ),
    );
  prove
    .command('consistency')
    .description('an RFC 9162 consistency proof between two tree sizes (base64 hashes, one per line)')
    .argument('<old>', 'old size', positiveInt('old'))
    .argument('<new>', 'new size', positiveInt('new'))
    .action(
      withContext(async (ctx, { command }) =>
        withLedger(ctx, async (ledger): Promise<ExitStatus> => {
          const [oldSize, newSize] = command.processedArgs as [number, number];
          const p = await ledger.proveConsistency(oldSize, newSize);
          const hashes = p.proof.map(encodeBase64);
          ctx.out.result(hashes.join('\n'), {
            old_size: oldSize,
            new_size: newSize,
            old_root: encodeBase64(p.oldRoot),
            new_root: encodeBase64(p.newRoot),
            proof: hashes,
          });
          return 0;
        }),
      ),
    );

  program
    .command('check-proof')
    .description('verify a tlog-proof bundle offline: signature, entry hashes and inclusion')
    .argument('<file>', 'the proof (- for stdin)')
    .requiredOption('--vkey <vkey...>', 'trusted verifier keys')
    .option('--origin <origin>', "the origin the checkpoint must carry (default: the verifying key's name)")
    .option('--leaf-hash <hash>', 'the leaf hash (hex or base64) to check; needed for a bundle without an entry (no extra line)')
    .action(
      withContext<{ vkey: string[]; origin?: string; leafHash?: string }>(async (ctx, { args, opts }) => {
        const text = args[0] === '-' ? await readStdin() : readInput(args[0]!, 'proof file');
        const result = checkProofBundle(text, opts.vkey, {
          ...(opts.origin !== undefined ? { origin: opts.origin } : {}),
          ...(opts.leafHash !== undefined ? { leafHash: parseLeafHash(opts.leafHash) } : {}),
        });
        const human = !result.ok
          ? `INVALID PROOF: ${printable(result.reason)}`
          : result.inclusionOnly
            ? `ok (inclusion only): leaf ${printable(opts.leafHash)} is at seq ${result.seq} in ${printable(result.origin)} at size ${result.size}; the bundle carries no entry, so its content was not checked`
            : `ok: entry ${result.seq} (${printable(result.kind)}/${printable(result.pk)}) is in ${printable(result.origin)} at size ${result.size}`;
        ctx.out.result(human, result);
        return result.ok ? 0 : 1;
      }),
    );
}

/** The report as `verify --json` prints it: hashes in hex (chain) and base64 (Merkle), as `head --json` does. */
function verifyReportJson(r: VerifyReport) {
  return {
    ok: r.ok,
    checked: r.checked,
    from: r.from,
    to: r.to,
    size: r.size,
    chain_hash: r.chainHash.toString('hex'),
    root: r.root ? encodeBase64(r.root) : null,
    frontier: r.frontier ? r.frontier.map(encodeBase64) : null,
    head_size: r.headSize,
    states: r.states.map((s) => ({ size: s.size, chain_hash: s.chainHash.toString('hex'), root: encodeBase64(s.root) })),
    redacted: r.redacted,
    skipped_prefix: r.skippedPrefix,
    divergence: r.divergence,
  };
}

async function verifySinks(ctx: CommandContext, ledger: Ledger, sinks: string[], vkeys: string[]): Promise<ExitStatus> {
  if (sinks.length === 0) throw new SealtrailError('invalid_argument', '--against-sinks needs at least one --sink (or configured sinks)');
  const report = await verifyAgainstSinks(ledger, { sinks, vkeys, witnessKeys: ctx.config.witnessVkeys });
  const checkedSinks = report.sinks.length - report.notCheckable.length;
  // A write-only sink is said to be unchecked on its own line, so "ok" never covers it silently.
  const unchecked = report.notCheckable.map((u) => `not checkable: ${printable(u.sink)}: ${printable(u.reason)}`);
  const human = () =>
    [
      report.ok
        ? `ok: ${report.checked} published checkpoints in ${checkedSinks} sink(s) and ${report.checkpointRows} checkpoints-table row(s) match the entries`
        : `INTEGRITY FAILURE: ${report.findings.length} finding(s) across ${checkedSinks} sink(s)`,
      ...report.findings.map((f) => `  ${printable(f.sink)}: ${f.reason}${f.seq !== null ? ` at seq ${f.seq}` : ''} — ${printable(f.message)}`),
      ...unchecked,
    ].join('\n');
  ctx.out.result(human, report);
  return report.ok ? 0 : 1;
}

function parseLeafHash(text: string): Buffer {
  const bytes = /^[0-9a-fA-F]{64}$/.test(text) ? Buffer.from(text, 'hex') : decodeBase64(text);
  if (!bytes || bytes.length !== 32) throw new SealtrailError('invalid_argument', '--leaf-hash must be 32 bytes as 64 hex digits or base64');
  return bytes;
}

/**
 * The signed checkpoint a proof is anchored to: a fresh one (--key-file, recorded in `checkpoints`
 * like any other) or the latest recorded one. A seq or size outside the ledger is out_of_range.
 */
async function checkpointNoteFor(ctx: CommandContext, ledger: Ledger, seq: number, opts: { size?: number; keyFile?: string[] }): Promise<{ size: number; note: string }> {
  const head = await ledger.head();
  const size = opts.size ?? head.size;
  if (size > head.size) {
    throw new SealtrailError('out_of_range', `size ${size} is outside the ledger (size ${head.size})`, { details: { seq, size, current: head.size } });
  }
  if (seq < 1 || seq > size) {
    throw new SealtrailError('out_of_range', `seq ${seq} is not in a tree of size ${size}${opts.size === undefined ? ' (the ledger head)' : ''}`, { details: { seq, size } });
  }
  const keyFiles = opts.keyFile ?? (ctx.config.keyFile ? [ctx.config.keyFile] : []);
  if (keyFiles.length > 0) {
    const recorded = await ledger.checkpoint(loadSigners({ keyFiles }), { size });
    return { size: recorded.size, note: recorded.note };
  }
  const recorded = (await ledger.checkpoints()).filter((c) => c.size >= seq && (opts.size === undefined || c.size === opts.size));
  const latest = recorded[recorded.length - 1];
  if (!latest) {
    throw new SealtrailError('invalid_argument', `no recorded checkpoint covers seq ${seq}${opts.size !== undefined ? ` at size ${opts.size}` : ''}; pass --key-file to sign one`);
  }
  return { size: latest.size, note: latest.note };
}

const JSONL_CHUNK = 5_000;

/**
 * `append --jsonl`: appends every line, in order, through the ledger's group commit. A regular file
 * is appended in chunks of JSONL_CHUNK lines (bulk speed). Anything else — a pipe, a terminal, a
 * socket, `tail -f log | sealtrail append --jsonl -` — is a live stream: the lines of each read are
 * committed as soon as that read ends, so a line is durable one commit after it arrives (lines
 * arriving during a commit form the next batch), and its result is printed once it is durable; a
 * crash loses only lines not yet reported.
 *
 * A bad line (not UTF-8, not JSON, not an event, refused by the ledger) stops the import: every line
 * before it is committed and reported, it and every line after are not appended, and the error
 * names the line. Lines end at LF (CRLF too); each is decoded strictly on its own.
 */
async function appendJsonl(ctx: CommandContext, ledger: Ledger, file: string, fd: number | undefined): Promise<0 | 1 | 2> {
  const input: AsyncIterable<Buffer> = fd === undefined ? process.stdin : createReadStream('', { fd });
  const live = !fstatSync(fd ?? 0).isFile();
  const progress = createProgress({ label: 'append' });
  let chunk: Array<{ kind: string; pk: string; payload: unknown }> = [];
  let chunkLines: number[] = [];
  let lineNo = 0;
  let appended = 0;
  const flush = async () => {
    if (chunk.length === 0) return;
    const events = chunk;
    const numbers = chunkLines;
    chunk = [];
    chunkLines = [];
    let entries: AppendResult[];
    try {
      entries = await ledger.appendBatch(events);
    } catch (err) {
      const index = err instanceof SealtrailError ? (err.details?.index as number | undefined) : undefined;
      if (index === undefined || !(err instanceof SealtrailError)) throw err;
      // A batch is all or nothing: commit the lines before the bad one, then report it.
      if (index > 0) emit(await ledger.appendBatch(events.slice(0, index)));
      throw new SealtrailError(err.code, `line ${numbers[index]}: ${err.message.replace(/^event \d+: /, '')}`, { details: { ...err.details, line: numbers[index] } });
    }
    emit(entries);
  };
  const emit = (entries: AppendResult[]) => {
    appended += entries.length;
    progress.tick(entries.length);
    ctx.out.results(entries.map((e) => [`${e.seq}\t${e.eventHash.toString('hex')}\t${e.chainHash.toString('hex')}`, entryJson(e)] as const));
  };
  try {
    for await (const group of byteLineGroups(input)) {
      for (const bytes of group) {
        lineNo++;
        let record: unknown;
        try {
          const line = decodeUtf8(bytes, () => ({ where: 'line', details: { offset: firstInvalidUtf8(bytes) } }));
          if (line.trim() === '') continue;
          record = parseJson(line);
        } catch (err) {
          await flush();
          if (!(err instanceof SealtrailError)) throw err;
          const message = err.message.replace(/^line: /, '');
          throw new SealtrailError(err.code, `line ${lineNo}: ${message}`, { cause: err, details: { ...err.details, line: lineNo } });
        }
        const r = record as { kind?: unknown; pk?: unknown; payload?: unknown };
        if (typeof record !== 'object' || record === null || Array.isArray(record) || typeof r.kind !== 'string' || typeof r.pk !== 'string' || !('payload' in r)) {
          await flush();
          throw new SealtrailError('invalid_event', `line ${lineNo}: expected {"kind": string, "pk": string, "payload": …}`, { details: { line: lineNo } });
        }
        chunk.push({ kind: r.kind, pk: r.pk, payload: r.payload });
        chunkLines.push(lineNo);
        if (chunk.length >= JSONL_CHUNK) await flush();
      }
      if (live) await flush();
    }
    await flush();
  } finally {
    progress.done();
  }
  if (!ctx.json) ctx.out.note(`appended ${appended} entries`);
  return 0;
}

/** What `watch --mode wal` still needs from this server (docs/capture.md, "wal mode"). */
function walReadiness(w: { ready: boolean; walLevel: string; replication: boolean }): string {
  if (w.ready) return 'ready';
  const needs = [...(w.walLevel === 'logical' ? [] : [`wal_level = logical (now ${w.walLevel}; needs a restart)`]), ...(w.replication ? [] : ['a role with REPLICATION'])];
  return `no, needs ${needs.join(' and ')}`;
}
