import { test } from 'node:test';
import assert from 'node:assert/strict';
import { equalBytes, fromHex, sha256, toHex } from '../../src/core/hash.js';
import { isSealtrailError } from '../../src/core/errors.js';

test('sha256 of several parts equals sha256 of their concatenation (FIPS 180-2 "abc" vector)', () => {
  const abc = 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad';
  assert.equal(toHex(sha256(Buffer.from('abc'))), abc);
  assert.equal(toHex(sha256(Buffer.from('a'), Buffer.from('b'), Buffer.from('c'))), abc);
  assert.equal(toHex(sha256()), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
});

test('equalBytes is false on any difference, including length', () => {
  assert.equal(equalBytes(Buffer.from('ab'), Buffer.from('ab')), true);
  assert.equal(equalBytes(Buffer.from('ab'), Buffer.from('ac')), false);
  assert.equal(equalBytes(Buffer.from('ab'), Buffer.from('abc')), false);
});

test('hex round-trips and fromHex rejects odd length or non-hex digits', () => {
  assert.equal(toHex(fromHex('00ff10')), '00ff10');
  assert.equal(toHex(new Uint8Array([1, 2, 3]).subarray(1)), '0203');
  for (const bad of ['0', 'zz', '0g', '00 ']) {
    assert.throws(() => fromHex(bad), (e) => isSealtrailError(e, 'invalid_argument'));
  }
});
