/**
 * Input is refused, never silently changed: integers beyond ±(2^53-1) and invalid UTF-8 get a
 * coded error and write nothing, through the real CLI (a child process, bytes on stdin and in
 * files) and through the library, on both backends.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isSealtrailError } from '../../src/core/errors.js';
import { openLedger } from '../../src/ledger/ledger.js';
import { BACKENDS, tempDir } from '../helpers/databases.js';
import { jsonLines, sealtrail as runSealtrail } from '../helpers/cli.js';

/** The real CLI in a child process (fresh temp cwd, PATH only); `stdin` bytes are piped in. */
const sealtrail = (args: string[], stdin?: Buffer) => runSealtrail(args, stdin === undefined ? {} : { input: stdin });

const jsonDocs = (text: string) => jsonLines<{ seq?: number; error?: { code: string; message: string; details?: Record<string, unknown> } }>(text);

async function ledgerState(url: string): Promise<{ size: number; payloads: Array<string | null>; pks: string[] }> {
  const ledger = await openLedger({ url });
  try {
    const payloads: Array<string | null> = [];
    const pks: string[] = [];
    for await (const e of ledger.entries()) {
      payloads.push(e.payload);
      pks.push(e.pk);
    }
    const [counts] = await ledger.store.query<{ n: number }>('SELECT count(*) AS n FROM audit_chain');
    const size = (await ledger.head()).size;
    assert.equal(Number(counts!.n), size);
    return { size, payloads, pks };
  } finally {
    await ledger.close();
  }
}

const line = (pk: string, payloadJson: string) => `{"kind":"import","pk":"${pk}","payload":${payloadJson}}`;

for (const backend of BACKENDS) {
  describe(`append refuses what it cannot keep exactly, on ${backend.name} (CLI)`, () => {
    it('an integer beyond ±(2^53-1) as argument or on stdin is unsafe_integer and writes nothing; safe numbers are kept exactly', async () => {
      const db = await backend.freshUrl();
      for (const payload of ['{"n":9007199254740993}', '{"a":[1,1e300]}']) {
        const arg = await sealtrail(['append', 'k', 'p', payload, '--db', db, '--json']);
        assert.equal(arg.status, 2, payload);
        assert.equal(jsonDocs(arg.stdout)[0]!.error!.code, 'unsafe_integer', payload);
        assert.match(arg.stderr, /send big integers as strings \[unsafe_integer\]/);
      }
      const piped = await sealtrail(['append', 'k', 'p', '--db', db, '--json'], Buffer.from('{"id": 12345678901234567890}\n'));
      assert.equal(piped.status, 2);
      assert.equal(jsonDocs(piped.stdout)[0]!.error!.details!.path, '$.id');
      assert.equal((await ledgerState(db)).size, 0, 'nothing was written');
      const ok = await sealtrail(['append', 'k', 'p', '{"max":9007199254740991,"min":-9007199254740991,"f":1.5,"big":"9007199254740993"}', '--db', db]);
      assert.equal(ok.status, 0, ok.stderr);
      assert.deepEqual((await ledgerState(db)).payloads, ['{"big":"9007199254740993","f":1.5,"max":9007199254740991,"min":-9007199254740991}']);
    });

    it('invalid UTF-8 on stdin is invalid_json naming the line, and writes nothing', async () => {
      const db = await backend.freshUrl();
      const bytes = Buffer.concat([Buffer.from('{\n  "user": "ali'), Buffer.from([0xc3, 0x28]), Buffer.from('ce"\n}\n')]);
      const result = await sealtrail(['append', 'login', 's-1', '--db', db, '--json'], bytes);
      assert.equal(result.status, 2);
      const error = jsonDocs(result.stdout)[0]!.error!;
      assert.equal(error.code, 'invalid_json');
      assert.equal(error.details!.line, 2);
      assert.match(result.stderr, /stdin line 2: not valid UTF-8/);
      assert.equal((await ledgerState(db)).size, 0);
      // A U+FFFD that is really in the input is data like any other.
      const real = await sealtrail(['append', 'login', 's-2', '--db', db], Buffer.from('{"user":"\ufffd"}'));
      assert.equal(real.status, 0, real.stderr);
      assert.deepEqual((await ledgerState(db)).payloads, ['{"user":"\ufffd"}']);
    });

    for (const via of ['file', 'stdin'] as const) {
      it(`--jsonl (${via}) stops at a line of invalid UTF-8: lines before it committed, it and every later line not, the line named`, async () => {
        const db = await backend.freshUrl();
        const bad = Buffer.concat([Buffer.from(line('p3', '{"s":"ok')), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('"}')]); // an encoded surrogate
        const bytes = Buffer.concat([
          Buffer.from(`${line('p1', '{"s":"€uro"}')}\r\n${line('p2', '{"s":"ü"}')}\n`),
          bad,
          Buffer.from(`\n${line('p4', '{"s":"after"}')}\n`),
        ]);
        let args = ['append', '--jsonl', '-', '--db', db, '--json'];
        if (via === 'file') {
          const file = join(tempDir(), 'events.jsonl');
          writeFileSync(file, bytes);
          args = ['append', '--jsonl', file, '--db', db, '--json'];
        }
        const result = await sealtrail(args, via === 'stdin' ? bytes : undefined);
        assert.equal(result.status, 2);
        const docs = jsonDocs(result.stdout);
        assert.deepEqual(docs.slice(0, 2).map((d) => d.seq), [1, 2]);
        assert.equal(docs[2]!.error!.code, 'invalid_json');
        assert.equal(docs[2]!.error!.details!.line, 3);
        assert.match(result.stderr, /line 3: not valid UTF-8/);
        const state = await ledgerState(db);
        assert.deepEqual(state.pks, ['p1', 'p2']);
        assert.deepEqual(state.payloads, ['{"s":"€uro"}', '{"s":"ü"}']);
      });
    }

    it('--jsonl stops at a line with an unsafe integer, naming the line and the path in it', async () => {
      const db = await backend.freshUrl();
      const file = join(tempDir(), 'events.jsonl');
      writeFileSync(file, [line('a', '1'), line('b', '{"n":1e21}'), line('c', '3')].join('\n'));
      const result = await sealtrail(['append', '--jsonl', file, '--db', db, '--json']);
      assert.equal(result.status, 2);
      const docs = jsonDocs(result.stdout);
      assert.equal(docs[0]!.seq, 1);
      assert.equal(docs[1]!.error!.code, 'unsafe_integer');
      assert.equal(docs[1]!.error!.details!.line, 2);
      assert.equal(docs[1]!.error!.details!.path, '$.payload.n');
      assert.deepEqual((await ledgerState(db)).pks, ['a']);
    });

    it('--jsonl keeps multi-byte characters that straddle read chunks intact', async () => {
      const db = await backend.freshUrl();
      const file = join(tempDir(), 'big.jsonl');
      // ~200 KB of 2-, 3- and 4-byte characters: read chunks (64 KiB) end inside them.
      const texts = Array.from({ length: 40 }, (_, i) => `${'é€😀'.repeat(500 + i)}-${i}`);
      writeFileSync(file, texts.map((t, i) => line(`m${i}`, JSON.stringify({ t }))).join('\r\n') + '\r\n');
      const result = await sealtrail(['append', '--jsonl', file, '--db', db, '--json']);
      assert.equal(result.status, 0, result.stderr);
      assert.deepEqual((await ledgerState(db)).payloads, texts.map((t) => JSON.stringify({ t })));
    });
  });

  describe(`the library refuses integers it cannot keep exactly, on ${backend.name}`, () => {
    it('numbers of magnitude 2^53 or more and bigints beyond ±(2^53-1) are unsafe_integer; nothing is written', async () => {
      const url = await backend.freshUrl();
      const ledger = await openLedger({ url });
      try {
        for (const payload of [{ n: 2 ** 53 }, { n: -(2 ** 53) }, { a: [1e21] }, { m: Number.MAX_VALUE }, { b: 2n ** 53n }]) {
          await assert.rejects(ledger.append('k', 'p', payload), (e) => isSealtrailError(e, 'unsafe_integer'));
        }
        await assert.rejects(
          ledger.appendBatch([
            { kind: 'k', pk: 'ok', payload: 1 },
            { kind: 'k', pk: 'bad', payload: { deep: { n: 1e300 } } },
          ]),
          (e) => isSealtrailError(e, 'unsafe_integer') && e.details?.index === 1 && e.details.path === '$.deep.n',
        );
        assert.equal((await ledger.head()).size, 0);
        const entry = await ledger.append('k', 'p', { max: Number.MAX_SAFE_INTEGER, big: 9007199254740991n, f: 4503599627370495.5, tiny: 1e-300 });
        assert.equal(entry.payload, '{"big":9007199254740991,"f":4503599627370495.5,"max":9007199254740991,"tiny":1e-300}');
      } finally {
        await ledger.close();
      }
    });
  });
}
