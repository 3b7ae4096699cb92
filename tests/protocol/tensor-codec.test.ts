import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  decodeTensor,
  encodeTensor,
  fromFloat16Bits,
  toFloat16Bits,
  wireTensorSchema,
  type NamedTensor,
  type TensorEncoding,
  type WireTensor,
} from '../../protocol/index.js';

const tensor = (values: number[], shape = [values.length]): NamedTensor => ({
  name: 't',
  shape,
  values: Float32Array.from(values),
});

function roundTrip(t: NamedTensor, encoding: TensorEncoding, topkFraction?: number): Float32Array {
  const wire = encodeTensor(t, encoding, topkFraction === undefined ? {} : { topkFraction });
  assert.ok(wire.ok, !wire.ok ? wire.error.message : '');
  const parsed = wireTensorSchema.safeParse(wire.value);
  assert.ok(parsed.success);
  const decoded = decodeTensor(parsed.data);
  assert.ok(decoded.ok, !decoded.ok ? decoded.error.message : '');
  return decoded.value.values;
}

/** A reproducible spread of magnitudes, as weights and deltas have. */
const sample = tensor(
  Array.from({ length: 64 }, (_, i) => Math.sin(i * 1.7) * 10 ** ((i % 5) - 3)),
  [16, 4],
);

describe('float16', () => {
  it('matches IEEE binary16 bit patterns', () => {
    // Published binary16 encodings; 0.1 and 1/3 are rounded to nearest even.
    const cases: [number, number][] = [
      [1, 0x3c00],
      [-2, 0xc000],
      [65504, 0x7bff],
      [0.1, 0x2e66],
      [1 / 3, 0x3555],
      [2 ** -14, 0x0400],
      [2 ** -24, 0x0001],
      [0, 0x0000],
    ];
    for (const [value, bits] of cases) {
      assert.equal(toFloat16Bits(value), bits, `${value}`);
    }
    assert.equal(fromFloat16Bits(0x2e66), 0.0999755859375);
    assert.equal(fromFloat16Bits(0x3555), 0.333251953125);
  });

  it('rounds ties to even and overflows to infinity', () => {
    assert.equal(toFloat16Bits(2 ** -25), 0x0000); // halfway to the smallest subnormal: even is 0
    assert.equal(toFloat16Bits(1 + 2 ** -11), 0x3c00); // halfway between 1 and the next half: even
    assert.equal(toFloat16Bits(1 + 3 * 2 ** -11), 0x3c02);
    assert.equal(toFloat16Bits(65520), 0x7c00); // halfway to 65536 rounds up, past the largest
  });
});

describe('tensor codec round trips', () => {
  it('float32 is exact', () => {
    assert.deepEqual(roundTrip(sample, 'float32'), sample.values);
  });

  it('float16 keeps each value within a relative 2^-11 (normal range)', () => {
    const decoded = roundTrip(sample, 'float16');
    sample.values.forEach((v, i) => {
      if (Math.abs(v) >= 2 ** -14)
        assert.ok(Math.abs(decoded[i]! - v) <= Math.abs(v) * 2 ** -11, `${v} -> ${decoded[i]}`);
      else assert.ok(Math.abs(decoded[i]! - v) <= 2 ** -25, `${v} -> ${decoded[i]}`);
    });
  });

  it('int8 per tensor: hand-computed codes, error at most scale/2', () => {
    // scale = 1/127; 0.5 * 127 = 63.5 rounds to 64; 0.25 * 127 = 31.75 rounds to 32.
    const decoded = roundTrip(tensor([-1, 0.5, 0.25, 1]), 'int8');
    assert.deepEqual([...decoded], [-1, 64 / 127, 32 / 127, 1].map(Math.fround));
    const scale = Math.max(...sample.values.map(Math.abs)) / 127;
    roundTrip(sample, 'int8').forEach((d, i) =>
      assert.ok(Math.abs(d - sample.values[i]!) <= scale / 2 + 1e-7),
    );
  });

  it('int8 per output channel keeps a channel of small weights precise', () => {
    // Column 0 holds weights near 1, column 1 weights near 0.01.
    const t = tensor([1, 0.01, -0.5, 0.02, 0.25, -0.015], [3, 2]);
    const perTensor = roundTrip(t, 'int8');
    const perChannel = roundTrip(t, 'int8-channel');
    const smallColumn = [1, 3, 5];
    const error = (d: Float32Array) =>
      Math.max(...smallColumn.map((i) => Math.abs(d[i]! - t.values[i]!)));
    assert.ok(error(perChannel) <= 0.02 / 127 / 2 + 1e-9, `${error(perChannel)}`);
    assert.ok(error(perTensor) > 10 * error(perChannel));
    for (let c = 0; c < 2; c++) {
      const scale = Math.max(...[0, 1, 2].map((r) => Math.abs(t.values[r * 2 + c]!))) / 127;
      [0, 1, 2].forEach((r) =>
        assert.ok(Math.abs(perChannel[r * 2 + c]! - t.values[r * 2 + c]!) <= scale / 2 + 1e-9),
      );
    }
  });

  it('topk keeps the k largest magnitudes exactly and zeroes the rest', () => {
    assert.deepEqual([...roundTrip(tensor([0.1, -3, 0.2, 2, 0]), 'topk', 0.4)], [0, -3, 0, 2, 0]);
    const decoded = roundTrip(sample, 'topk', 0.25);
    const kept = decoded.filter((v) => v !== 0).length;
    assert.equal(kept, 16);
    const smallestKept = Math.min(...[...decoded].filter((v) => v !== 0).map(Math.abs));
    sample.values.forEach((v, i) => {
      if (decoded[i] === 0) assert.ok(Math.abs(v) <= smallestKept);
      else assert.equal(decoded[i], v);
    });
  });

  it('an all-zero tensor survives int8 (scale 0)', () => {
    assert.deepEqual([...roundTrip(tensor([0, 0, 0]), 'int8')], [0, 0, 0]);
  });
});

describe('tensor codec refusals', () => {
  const wire = (overrides: Partial<WireTensor>): unknown => ({
    name: 't',
    shape: [2],
    encoding: 'float32',
    data: new Uint8Array(8),
    ...overrides,
  });

  it('refuses to encode NaN or Inf, and float16 beyond 65504', () => {
    for (const encoding of ['float32', 'float16', 'int8', 'int8-channel', 'topk'] as const) {
      const refused = encodeTensor(tensor([1, NaN]), encoding);
      assert.equal(!refused.ok && refused.error.code, 'update.non_finite', encoding);
    }
    const big = encodeTensor(tensor([1e6]), 'float16');
    assert.equal(!big.ok && big.error.code, 'codec.out_of_range');
  });

  it('float16 takes 65519 (rounding to 65504) and refuses from 65520, naming 65520 as the limit', () => {
    // 65520 is halfway between the largest half, 65504, and 65536; ties to even round it up,
    // past the largest half, so refusal starts there and not just above 65504.
    assert.deepEqual([...roundTrip(tensor([65519, -65519]), 'float16')], [65504, -65504]);
    for (const value of [65520, -65520]) {
      const refused = encodeTensor(tensor([1, value]), 'float16');
      assert.equal(!refused.ok && refused.error.code, 'codec.out_of_range', `${value}`);
      assert.match(!refused.ok ? refused.error.message : '', /\|x\| >= 65520/, `${value}`);
    }
  });

  it('refuses to decode NaN and Inf values and scales', () => {
    const nan = new Uint8Array(new Float32Array([1, NaN]).buffer);
    const decoded = decodeTensor(wire({ data: nan }) as WireTensor);
    assert.equal(!decoded.ok && decoded.error.code, 'update.non_finite');
    const inf16 = new Uint8Array(new Uint16Array([0x3c00, 0x7c00]).buffer);
    const half = decodeTensor(wire({ encoding: 'float16', data: inf16 }) as WireTensor);
    assert.equal(!half.ok && half.error.code, 'update.non_finite');
    const badScale = new Uint8Array(new Float32Array([Infinity]).buffer);
    const int8 = decodeTensor(
      wire({ encoding: 'int8', data: new Uint8Array(2), scales: badScale }) as WireTensor,
    );
    assert.equal(!int8.ok && int8.error.code, 'update.non_finite');
  });

  it('leaves NaN and Inf to a caller that checks them itself (the coordinator folds)', () => {
    const nan = new Uint8Array(new Float32Array([1, NaN]).buffer);
    const decoded = decodeTensor(wire({ data: nan }) as WireTensor, { finiteCheck: 'caller' });
    assert.ok(decoded.ok);
    assert.deepEqual([...decoded.value.values], [1, NaN]);
  });

  it('refuses data whose length does not fit shape and encoding', () => {
    assert.equal(wireTensorSchema.safeParse(wire({ data: new Uint8Array(7) })).success, false);
    assert.equal(
      wireTensorSchema.safeParse(wire({ encoding: 'int8', data: new Uint8Array(2) })).success,
      false,
    );
    assert.equal(
      wireTensorSchema.safeParse(wire({ encoding: 'float16', data: new Uint8Array(8) })).success,
      false,
    );
    assert.equal(wireTensorSchema.safeParse(wire({ scales: new Uint8Array(4) })).success, false);
    assert.equal(wireTensorSchema.safeParse(wire({ shape: [4096, 4096, 2] })).success, false);
  });

  it('refuses an int8 code of -128 and unsorted or out-of-range topk indices', () => {
    const q = new Uint8Array([0x80, 0]);
    const scales = new Uint8Array(new Float32Array([1]).buffer);
    const int8 = decodeTensor(wire({ encoding: 'int8', data: q, scales }) as WireTensor);
    assert.equal(!int8.ok && int8.error.code, 'codec.out_of_range');
    const values = new Uint8Array(new Float32Array([1, 2]).buffer);
    for (const indices of [
      [1, 0],
      [0, 2],
    ]) {
      const topk = decodeTensor(
        wire({
          encoding: 'topk',
          data: values,
          indices: new Uint8Array(new Uint32Array(indices).buffer),
        }) as WireTensor,
      );
      assert.equal(!topk.ok && topk.error.code, 'codec.out_of_range', JSON.stringify(indices));
    }
  });
});
