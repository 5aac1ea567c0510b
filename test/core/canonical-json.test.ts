import { describe, it, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import '../helpers/replay.js';
import { createRequire } from 'node:module';
import { canonicalHash, canonicalize, canonicalizePayload, eventHash, parseJson } from '../../src/core/canonical-json.js';
import { isSealtrailError, type ErrorCode } from '../../src/core/errors.js';
import { sha256, toHex } from '../../src/core/hash.js';

// canonicalize is CommonJS whose typings claim an ES default export; require gives the real function.
const npmCanonicalize = createRequire(import.meta.url)('canonicalize') as (value: unknown) => string | undefined;

function throwsCode(fn: () => unknown, code: ErrorCode, path?: string): void {
  assert.throws(fn, (e) => {
    assert.ok(isSealtrailError(e, code), `expected ${code}, got ${String(e)}`);
    if (path !== undefined) assert.equal(e.details?.path, path);
    return true;
  });
}

function doubleFromBits(hex: string): number {
  const view = new DataView(new ArrayBuffer(8));
  view.setBigUint64(0, BigInt(`0x${hex}`));
  return view.getFloat64(0);
}

test('RFC 8785 §3.2.2/§3.2.4 example: canonical text and its UTF-8 bytes', () => {
  const input =
    '{\n  "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],\n' +
    '  "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",\n  "literals": [null, true, false]\n}';
  // JSON.parse, not parseJson: the example's 1E30 is a double beyond 2^53, which payloads refuse.
  const out = canonicalize(JSON.parse(input));
  assert.equal(out, '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}');
  const rfcHex =
    '7b226c69746572616c73223a5b6e756c6c2c747275652c66616c73655d2c226e756d62657273223a' +
    '5b3333333333333333332e333333333333332c31652b33302c342e352c302e3030322c31652d3237' +
    '5d2c22737472696e67223a22e282ac245c75303030665c6e4127425c225c5c5c5c5c222f227d';
  assert.equal(Buffer.from(out, 'utf8').toString('hex'), rfcHex);
});

test('RFC 8785 §3.2.3 sorting example orders keys by UTF-16 code units', () => {
  const input = {
    '\u20ac': 'Euro Sign',
    '\r': 'Carriage Return',
    '\ufb33': 'Hebrew Letter Dalet With Dagesh',
    '1': 'One',
    '\ud83d\ude00': 'Emoji: Grinning Face',
    '\u0080': 'Control',
    '\u00f6': 'Latin Small Letter O With Diaeresis',
  };
  assert.equal(
    canonicalize(input),
    '{"\\r":"Carriage Return","1":"One","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis",' +
      '"\u20ac":"Euro Sign","\ud83d\ude00":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
  );
});

test('RFC 8785 Appendix B number samples', () => {
  const samples: Array<[string, string]> = [
    ['0000000000000000', '0'],
    ['8000000000000000', '0'],
    ['0000000000000001', '5e-324'],
    ['8000000000000001', '-5e-324'],
    ['7fefffffffffffff', '1.7976931348623157e+308'],
    ['ffefffffffffffff', '-1.7976931348623157e+308'],
    ['4340000000000000', '9007199254740992'],
    ['c340000000000000', '-9007199254740992'],
    ['4430000000000000', '295147905179352830000'],
    ['44b52d02c7e14af5', '9.999999999999997e+22'],
    ['44b52d02c7e14af6', '1e+23'],
    ['44b52d02c7e14af7', '1.0000000000000001e+23'],
    ['444b1ae4d6e2ef4e', '999999999999999700000'],
    ['444b1ae4d6e2ef4f', '999999999999999900000'],
    ['444b1ae4d6e2ef50', '1e+21'],
    ['3eb0c6f7a0b5ed8c', '9.999999999999997e-7'],
    ['3eb0c6f7a0b5ed8d', '0.000001'],
    ['41b3de4355555553', '333333333.3333332'],
    ['41b3de4355555554', '333333333.33333325'],
    ['41b3de4355555555', '333333333.3333333'],
    ['41b3de4355555556', '333333333.3333334'],
    ['41b3de4355555557', '333333333.33333343'],
    ['becbf647612f3696', '-0.0000033333333333333333'],
    ['43143ff3c1cb0959', '1424953923781206.2'],
  ];
  for (const [bits, expected] of samples) assert.equal(canonicalize(doubleFromBits(bits)), expected, bits);
  for (const bits of ['7fffffffffffffff', '7ff0000000000000', 'fff0000000000000']) {
    throwsCode(() => canonicalize(doubleFromBits(bits)), 'non_canonical_value', '$');
  }
});

test('Date, bytes and safe bigints have fixed forms; -0 is 0', () => {
  assert.equal(canonicalize(new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 6))), '"2024-01-02T03:04:05.006Z"');
  assert.equal(canonicalize({ b: Buffer.from([0, 1, 2, 255]) }), '{"b":{"__bytes__":"AAEC/w=="}}');
  assert.equal(canonicalize(new Uint8Array([104, 105])), '{"__bytes__":"aGk="}');
  assert.equal(canonicalize(9007199254740991n), '9007199254740991');
  assert.equal(canonicalize(-9007199254740991n), '-9007199254740991');
  assert.equal(canonicalize([-0, { z: -0 }]), '[0,{"z":0}]');
  assert.equal(canonicalize(Object.assign(Object.create(null) as object, { a: 1 })), '{"a":1}');
});

test('values with no canonical form throw non_canonical_value at their path', () => {
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  const cases: Array<[unknown, string]> = [
    [{ a: undefined }, '$.a'],
    [[1, undefined], '$[1]'],
    // eslint-disable-next-line no-sparse-arrays
    [[1, , 3], '$[1]'],
    [{ f: () => 1 }, '$.f'],
    [{ s: Symbol('x') }, '$.s'],
    [{ n: NaN }, '$.n'],
    [{ 'a b': [Infinity] }, '$["a b"][0]'],
    [{ x: 'a\ud800b' }, '$.x'],
    [{ ['\udc00']: 1 }, '$["\\udc00"]'],
    [new Date(NaN), '$'],
    [new Map(), '$'],
    [new Set([1]), '$'],
    [{ nested: { c: cyclic } }, '$.nested.c.self'],
    [new (class Point { x = 1 })(), '$'],
    [{ toJSON: () => 1, constructor: undefined } as unknown as object, '$.constructor'],
    [{ [Symbol('k')]: 1 }, '$'],
    [new Int16Array(2), '$'],
  ];
  for (const [value, path] of cases) throwsCode(() => canonicalize(value), 'non_canonical_value', path);
});

test('integers beyond ±(2^53-1) are unsafe_integer: bigints always, numbers in payloads', () => {
  throwsCode(() => canonicalize(9007199254740992n), 'unsafe_integer', '$');
  throwsCode(() => canonicalize({ a: [-9007199254740992n] }), 'unsafe_integer', '$.a[0]');
  // Plain RFC 8785 serialises every finite double; the payload form refuses integer values that
  // may already have been rounded, and nothing else.
  assert.equal(canonicalize(2 ** 53), '9007199254740992');
  for (const n of [2 ** 53, -(2 ** 53), 2 ** 53 + 2, 1e16, 1e21, 1e300, 1.5e300, Number.MAX_VALUE, -Number.MAX_VALUE]) {
    throwsCode(() => canonicalizePayload({ n }), 'unsafe_integer', '$.n');
  }
  for (const n of [Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER, 1.5, -0.1, 1e-300, 5e-324, 4503599627370495.5, 9007199254740990, 0]) {
    assert.equal(canonicalizePayload({ n }), canonicalize({ n }), String(n));
  }
});

test('parseJson refuses every number that reads as an integer beyond ±(2^53-1), however written', () => {
  const unsafe = [
    '9007199254740992',
    '9007199254740993',
    '-9007199254740993',
    '12345678901234567890',
    '1e16',
    '1E300',
    '1.5e300',
    '-2e53',
    '9007199254740991.5', // rounds up to 2^53
    '90071992547409930e-1',
    '0.9007199254740993e16',
    '1.7976931348623157e308',
  ];
  for (const literal of unsafe) {
    throwsCode(() => parseJson(literal), 'unsafe_integer', '$');
    throwsCode(() => parseJson(`{"a":{"b":[1,${literal}]}}`), 'unsafe_integer', '$.a.b[1]');
  }
  const safe: Array<[string, number]> = [
    ['9007199254740991', 9007199254740991],
    ['-9007199254740991', -9007199254740991],
    ['9007199254740991.0', 9007199254740991],
    ['90071992547409910e-1', 9007199254740991],
    ['1.5', 1.5],
    ['1e15', 1e15],
    ['1e-300', 1e-300],
    ['4503599627370495.5', 4503599627370495.5],
    ['-0', -0],
  ];
  for (const [literal, value] of safe) assert.equal(parseJson(literal), value, literal);
  // Overflow stays a non-finite number, as before.
  throwsCode(() => parseJson('1e400'), 'non_canonical_value', '$');
});

test('property: parseJson keeps every integer exactly or refuses it', () => {
  fc.assert(
    fc.property(fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }), fc.constantFrom('', '.0', 'e0', '.000E+0'), (n, suffix) => {
      const text = `${n}${suffix}`;
      const safe = n >= -9007199254740991n && n <= 9007199254740991n;
      if (safe) assert.equal(BigInt(parseJson(text) as number), n);
      else throwsCode(() => parseJson(text), 'unsafe_integer', '$');
    }),
    { numRuns: 500 },
  );
});

test('shared (non-cyclic) references are fine', () => {
  const shared = { a: 1 };
  assert.equal(canonicalize({ x: shared, y: [shared] }), '{"x":{"a":1},"y":[{"a":1}]}');
});

test('parseJson: malformed text and duplicate names are invalid_json; escaped lone surrogates and overflow are non_canonical_value', () => {
  for (const bad of ['', '{', '{"a":1,}', "{'a':1}", '[1 2]', 'NaN']) throwsCode(() => parseJson(bad), 'invalid_json');
  throwsCode(() => parseJson('{"a":1,"b":{"c":2,"c":3}}'), 'invalid_json');
  throwsCode(() => parseJson('{"a":1,"\\u0061":2}'), 'invalid_json');
  throwsCode(() => parseJson('"\\ud800"'), 'non_canonical_value', '$');
  throwsCode(() => parseJson('{"k":["x\\udfff"]}'), 'non_canonical_value', '$.k[0]');
  throwsCode(() => parseJson('{"\\udbff":1}'), 'non_canonical_value');
  throwsCode(() => parseJson('[1e400]'), 'non_canonical_value', '$[0]');
  // Same names in sibling objects, in arrays, and as string values are not duplicates.
  assert.deepEqual(parseJson('[{"a":1},{"a":2},"a","a"]'), [{ a: 1 }, { a: 2 }, 'a', 'a']);
  assert.deepEqual(parseJson('{"a":"\\"a\\"","b":{"a":"}"}}'), { a: '"a"', b: { a: '}' } });
  assert.equal(parseJson('"\\ud83d\\ude00"'), '\u{1f600}');
});

test('eventHash is SHA-256 of the UTF-8 canonical text', () => {
  const payload = { b: 'é', a: [1, 2.5] };
  const text = '{"a":[1,2.5],"b":"é"}';
  assert.equal(toHex(eventHash(payload)), toHex(sha256(Buffer.from(text, 'utf8'))));
  assert.equal(toHex(canonicalHash(text)), toHex(eventHash(payload)));
});

test('property: canonical text is a fixed point of parse → canonicalize; payload text is refused exactly when it holds an unsafe integer', () => {
  fc.assert(
    fc.property(fc.jsonValue(), (value) => {
      const once = canonicalize(value);
      assert.equal(canonicalize(JSON.parse(once)), once);
      let payload: string | null = null;
      try {
        payload = canonicalizePayload(value);
      } catch (err) {
        assert.ok(isSealtrailError(err, 'unsafe_integer'), String(err));
      }
      if (payload === null) {
        throwsCode(() => parseJson(once), 'unsafe_integer');
      } else {
        assert.equal(payload, once);
        assert.equal(canonicalizePayload(parseJson(once)), once);
      }
    }),
    { numRuns: 500 },
  );
});

test('property: agrees with the npm canonicalize package on JSON values', () => {
  // Exclusions, where the package is not RFC 8785: it drops undefined members, calls toJSON,
  // and passes lone surrogates through; fc.jsonValue generates none of those. -0 is generated,
  // and both print it as 0.
  fc.assert(
    fc.property(fc.jsonValue(), (value) => {
      assert.equal(canonicalize(value), npmCanonicalize(value));
    }),
    { numRuns: 1000 },
  );
});

describe('canonicalize refuses what JSON cannot carry, and never runs code', () => {
  it('refuses an array with extra named properties instead of dropping them', () => {
    const items: unknown[] = [1, 2];
    (items as unknown as Record<string, unknown>).note = 'dropped by JSON.stringify';
    assert.throws(() => canonicalize({ items }), (e: unknown) => isSealtrailError(e, 'non_canonical_value') && /extra property "note"/.test((e as Error).message));
    assert.equal(canonicalize({ items: [1, 2] }), '{"items":[1,2]}');
  });

  it('refuses accessor properties without calling the getter', () => {
    let calls = 0;
    const obj = Object.defineProperty({ a: 1 }, 'b', { enumerable: true, get: () => ++calls });
    assert.throws(() => canonicalize(obj), (e: unknown) => isSealtrailError(e, 'non_canonical_value') && /\.b/.test(String((e as { details?: { path?: string } }).details?.path)));
    const arr = Object.defineProperty([0, 0], 1, { enumerable: true, get: () => ++calls });
    assert.throws(() => canonicalize(arr), (e: unknown) => isSealtrailError(e, 'non_canonical_value'));
    assert.equal(calls, 0, 'no getter ran');
  });
});
