import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encode } from '@msgpack/msgpack';
import {
  decodeCoordinatorMessage,
  decodeSiteMessage,
  encodeMessage,
} from '../../protocol/message-codec.js';
import type { RoundStart } from '../../protocol/messages.js';

const hash = new Uint8Array(32).fill(7);
const manifest = { hash, bytes: 2048, chunkBytes: 1024, chunkHashes: [hash, hash] };
const start: RoundStart = {
  type: 'round.start',
  runId: 'r',
  round: 1,
  modelVersion: 0,
  temperature: 5,
  alpha: 1,
  localEpochs: 1,
  batchSize: 32,
  learningRate: 1,
  labelSmoothing: 0,
  proximalMu: 0,
  updateEncoding: 'float32',
  topkFraction: 1,
  model: manifest,
};

/** The bytes right after a MessagePack fixstr key in an encoded map. */
function valueAfter(bytes: Uint8Array, key: string): number[] {
  const needle = [0xa0 | key.length, ...Buffer.from(key)];
  const at = Buffer.from(bytes).indexOf(Buffer.from(needle));
  assert.ok(at >= 0, `no key ${key}`);
  return [...bytes.subarray(at + needle.length, at + needle.length + 9)];
}

/** Replaces the one-byte fixint after `key` with `value`. */
function replaceFixint(bytes: Uint8Array, key: string, value: number[]): Uint8Array {
  const needle = Buffer.from([0xa0 | key.length, ...Buffer.from(key)]);
  const at = Buffer.from(bytes).indexOf(needle) + needle.length;
  return Buffer.concat([bytes.subarray(0, at), Buffer.from(value), bytes.subarray(at + 1)]);
}

describe('numbers on the wire (PROTOCOL.md 5.1)', () => {
  it('a whole float field leaves as float 64, an int field as an int', () => {
    const bytes = encodeMessage(start);
    // 5.0 as float 64: 0xcb then 0x4014000000000000 big-endian.
    assert.deepEqual(valueAfter(bytes, 'temperature'), [0xcb, 0x40, 0x14, 0, 0, 0, 0, 0, 0]);
    assert.deepEqual(valueAfter(bytes, 'alpha').slice(0, 3), [0xcb, 0x3f, 0xf0]);
    assert.deepEqual(valueAfter(bytes, 'proximalMu'), [0xcb, 0, 0, 0, 0, 0, 0, 0, 0]);
    assert.equal(valueAfter(bytes, 'round')[0], 0x01); // positive fixint
    assert.equal(valueAfter(bytes, 'batchSize')[0], 0x20);
    const back = decodeCoordinatorMessage(bytes);
    assert.ok(back.ok);
    assert.deepEqual(back.value, start);
  });

  it('an int field sent as a float is refused, even when whole', () => {
    // forceIntegerToFloat writes round 1 as 1.0, the way a sender with one number type may.
    const asFloat = encode(start, { forceIntegerToFloat: true });
    assert.deepEqual(valueAfter(asFloat, 'round'), [0xcb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0]);
    const decoded = decodeCoordinatorMessage(asFloat);
    assert.ok(!decoded.ok);
    assert.equal(decoded.error.code, 'schema.invalid');
    assert.match(decoded.error.message, /round/);
  });

  it('an int field in any width of the int family is read', () => {
    // round 1 as uint 32 (0xce 00 00 00 01) in place of the fixint 0x01.
    const wide = replaceFixint(encodeMessage(start), 'round', [0xce, 0, 0, 0, 1]);
    const decoded = decodeCoordinatorMessage(wide);
    assert.ok(decoded.ok, decoded.ok ? '' : decoded.error.message);
    assert.equal(decoded.value.type === 'round.start' && decoded.value.round, 1);
  });

  it('a float field sent as an int, or as float 32, is read as that number', () => {
    // What a sender without a float type writes: temperature 5 as the fixint 0x05.
    const plain = encode(start);
    assert.equal(valueAfter(plain, 'temperature')[0], 0x05);
    const asInt = decodeCoordinatorMessage(plain);
    assert.ok(asInt.ok);
    assert.equal(asInt.value.type === 'round.start' && asInt.value.temperature, 5);
    // 0.25 as float 32: 0xca 3e 80 00 00.
    const single = encode({ ...start, alpha: 0.25 }, { forceFloat32: true });
    assert.deepEqual(valueAfter(single, 'alpha').slice(0, 5), [0xca, 0x3e, 0x80, 0, 0]);
    const asF32 = decodeCoordinatorMessage(single);
    assert.ok(asF32.ok);
    assert.equal(asF32.value.type === 'round.start' && asF32.value.alpha, 0.25);
  });

  it('round.update metrics: float fields take int or float; numExamples refuses a float', () => {
    const update = {
      type: 'round.update',
      runId: 'r',
      round: 2,
      baseVersion: 1,
      numExamples: 10,
      delta: manifest,
      metrics: { validationAccuracy: 1, validationLoss: 0 },
    } as const;
    const ours = encodeMessage(update);
    assert.deepEqual(valueAfter(ours, 'validationAccuracy').slice(0, 3), [0xcb, 0x3f, 0xf0]);
    const lenient = decodeSiteMessage(encode(update));
    assert.ok(lenient.ok);
    assert.deepEqual(lenient.value, update);
    const floatCount = decodeSiteMessage(encode({ ...update, numExamples: 10.5 }));
    assert.ok(!floatCount.ok);
    assert.equal(floatCount.error.code, 'schema.invalid');
  });
});
