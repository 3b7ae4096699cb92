import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decode, encode } from '@msgpack/msgpack';
import {
  decodeTensorBlob,
  encodeTensorBlob,
  encodeTensors,
  unwrap,
  TENSOR_ENCODINGS,
  type NamedTensor,
} from '../../protocol/index.js';

const ascii = (s: string): number[] => [...s].map((c) => c.charCodeAt(0));

/** Tensors whose data lengths need bin8, bin16 and bin32 headers, under names of `nameLength`. */
function model(nameLength: number): NamedTensor[] {
  return [3, 5_000, 20_000].map((n, i) => ({
    name: `${'n'.repeat(nameLength)}/${i}`,
    shape: [n],
    values: Float32Array.from({ length: n }, (_, j) => Math.sin(j + i) * 3),
  }));
}

describe('tensor blobs', () => {
  it('lay out a one-value float32 tensor with its data at byte 44, as worked out by hand', () => {
    const blob = unwrap(
      encodeTensorBlob([{ name: 'w', shape: [1], values: Float32Array.of(1.5) }], 'float32'),
    );
    // [ {name: 'w', shape: [1], encoding: 'float32', data: bin} ]: 26 bytes up to the encoding
    // string; 'float32' (1 + 7) and 'data' (1 + 4) with a bin8 header (2) would put the data at
    // 41. The fewest added bytes that reach a multiple of 4 are 3: a bin32 header (5), at 44.
    assert.deepEqual(
      [...blob],
      [
        0x91,
        0x84,
        0xa4,
        ...ascii('name'),
        0xa1,
        ...ascii('w'),
        0xa5,
        ...ascii('shape'),
        0x91,
        0x01,
        0xa8,
        ...ascii('encoding'),
        0xa7,
        ...ascii('float32'),
        0xa4,
        ...ascii('data'),
        0xc6,
        0,
        0,
        0,
        4,
        ...new Uint8Array(Float32Array.of(1.5).buffer),
      ],
    );
    assert.equal(blob.length - 4, 44);
  });

  for (const encoding of TENSOR_ENCODINGS) {
    it(`read back as the same wire tensors by a plain MessagePack decoder (${encoding})`, () => {
      for (let nameLength = 1; nameLength <= 8; nameLength++) {
        const tensors = model(nameLength);
        const blob = unwrap(encodeTensorBlob(tensors, encoding, { topkFraction: 0.3 }));
        assert.deepEqual(
          decode(blob),
          unwrap(encodeTensors(tensors, encoding, { topkFraction: 0.3 })),
        );
      }
    });
  }

  it('start every float32 data at a multiple of 4 bytes, so decoding views it in place', () => {
    for (const nameLength of [1, 2, 3, 4, 5, 6, 7, 8, 40, 190]) {
      const tensors = model(nameLength);
      const blob = unwrap(encodeTensorBlob(tensors, 'float32'));
      const decoded = unwrap(decodeTensorBlob(blob));
      decoded.forEach((t, i) => {
        assert.equal(t.values.buffer, blob.buffer, `${t.name} was copied`);
        assert.deepEqual(t.values, tensors[i]!.values);
      });
    }
  });

  it('from another encoder, with data at any offset, decode to the same values', () => {
    for (let nameLength = 1; nameLength <= 4; nameLength++) {
      const tensors = model(nameLength);
      const blob = encode(unwrap(encodeTensors(tensors, 'float32')));
      assert.deepEqual(
        unwrap(decodeTensorBlob(blob)).map((t) => t.values),
        tensors.map((t) => t.values),
      );
    }
  });
});
