import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { scaledAddKernel } from '../../coordinator/aggregation/scaled-add-kernel.js';
import { WASM_PAGE_BYTES, webAssembly } from '../../coordinator/aggregation/wasm-module.js';
import { WeightedSumMemory } from '../../coordinator/aggregation/weighted-sum.js';
import type { NamedTensor } from '../../protocol/index.js';

const tensor = (name: string, values: number[]): NamedTensor => ({
  name,
  shape: [values.length],
  values: Float32Array.from(values),
});
const valuesOf = (tensors: readonly NamedTensor[]): number[][] => tensors.map((t) => [...t.values]);
/** 1, 2, ..., n */
const counting = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);

describe('the scaled-add kernel (out = x + w * y, f32x4)', () => {
  // Lengths around the four-lane vectors and the 16-value groups of the unrolled loop.
  for (const n of [0, 1, 3, 4, 5, 15, 16, 17, 33]) {
    it(`gives x + w * y for all ${n} values and says they are finite`, () => {
      const memory = new webAssembly.Memory({ initial: 1 });
      const scaledAdd = scaledAddKernel(memory);
      const f32 = new Float32Array(memory.buffer);
      // x at byte 1024, y at 2048, out at 4096; a guard value past the end must stay untouched.
      f32.set(counting(n), 256);
      f32.set(
        counting(n).map((v) => 10 * v),
        512,
      );
      f32[1024 + n] = -7;
      assert.equal(scaledAdd(1024, 2048, 4096, n, 0.5), 1);
      // x[i] = i + 1 and y[i] = 10 (i + 1): x + 0.5 y = 6 (i + 1)
      assert.deepEqual(
        [...f32.subarray(1024, 1024 + n)],
        counting(n).map((v) => 6 * v),
      );
      assert.equal(f32[1024 + n], -7);
    });
  }

  it('is correct at addresses that are not 16-byte aligned, and in place', () => {
    const memory = new webAssembly.Memory({ initial: 1 });
    const f32 = new Float32Array(memory.buffer);
    f32.set(counting(21), 1); // x at byte 4
    f32.set(counting(21), 101); // y at byte 404
    assert.equal(scaledAddKernel(memory)(4, 404, 4, 21, 2), 1);
    assert.deepEqual(
      [...f32.subarray(1, 22)],
      counting(21).map((v) => 3 * v),
    );
  });

  for (const [what, value, at] of [
    ['NaN in the vector loop', NaN, 2],
    ['+Infinity in the vector loop', Infinity, 15],
    ['-Infinity in the scalar tail', -Infinity, 16],
    ['NaN as the last value', NaN, 18],
  ] as const) {
    it(`answers 0 for ${what}`, () => {
      const memory = new webAssembly.Memory({ initial: 1 });
      const f32 = new Float32Array(memory.buffer);
      const y = counting(19);
      y[at] = value;
      f32.set(y, 256);
      assert.equal(scaledAddKernel(memory)(0, 1024, 2048, 19, 1), 0);
    });
  }
});

describe('a weighted sum in WebAssembly memory', () => {
  const like = [
    tensor('w', [0, 0, 0, 0, 0]),
    tensor(
      'b',
      counting(17).map(() => 0),
    ),
  ];

  it('sums weight x delta over several tensors, as computed by hand', () => {
    const sum = new WeightedSumMemory().start(like);
    assert.ok(sum.add([tensor('w', [1, 2, 3, 4, 5]), tensor('b', counting(17))], 2).ok);
    assert.ok(sum.add([tensor('w', [4, 0, -2, 0.5, 8]), tensor('b', counting(17))], 0.25).ok);
    // w: 2 [1, 2, 3, 4, 5] + 0.25 [4, 0, -2, 0.5, 8]; b: (2 + 0.25) (i + 1)
    assert.deepEqual(valuesOf(sum.tensors()), [
      [3, 4, 5.5, 8.125, 12],
      counting(17).map((v) => 2.25 * v),
    ]);
    assert.deepEqual(
      sum.tensors().map((t) => [t.name, t.shape]),
      [
        ['w', [5]],
        ['b', [17]],
      ],
    );
  });

  it('sums tensors of 0, 1, 3, 5 and 17 values, and one longer than a copied block', () => {
    const lengths = [0, 1, 3, 5, 17, 70_001];
    const zeros = lengths.map((n, i) => ({
      name: `t${i}`,
      shape: [n],
      values: new Float32Array(n),
    }));
    const sum = new WeightedSumMemory().start(zeros);
    const delta = lengths.map((n, i) => tensor(`t${i}`, counting(n)));
    assert.ok(sum.add(delta, 3).ok);
    assert.ok(sum.add(delta, -1).ok);
    // (3 - 1) (i + 1) in every tensor
    assert.deepEqual(
      valuesOf(sum.tensors()),
      lengths.map((n) => counting(n).map((v) => 2 * v)),
    );
  });

  for (const [what, bad] of [
    ['NaN', NaN],
    ['Infinity', Infinity],
    ['-Infinity', -Infinity],
  ] as const) {
    it(`refuses a delta holding ${what}, naming its tensor, and keeps the sum as it was`, () => {
      const sum = new WeightedSumMemory().start(like);
      assert.ok(sum.add([tensor('w', [1, 2, 3, 4, 5]), tensor('b', counting(17))], 1).ok);
      const before = valuesOf(sum.tensors());
      // The first tensor is clean and summed before the bad value is met in the second.
      const b = counting(17);
      b[16] = bad;
      const refused = sum.add([tensor('w', [1, 1, 1, 1, 1]), tensor('b', b)], 1);
      assert.equal(!refused.ok && refused.error.code, 'update.non_finite');
      assert.deepEqual(!refused.ok && refused.error.path, [1]);
      assert.match(!refused.ok ? refused.error.message : '', /tensor b/);
      assert.deepEqual(valuesOf(sum.tensors()), before);
      // And the next update folds onto the sum as it was.
      assert.ok(sum.add([tensor('w', [1, 1, 1, 1, 1]), tensor('b', counting(17))], 1).ok);
      assert.deepEqual(valuesOf(sum.tensors()), [[2, 3, 4, 5, 6], counting(17).map((v) => 2 * v)]);
    });
  }

  it('refuses a delta of other lengths before summing anything', () => {
    const sum = new WeightedSumMemory().start(like);
    const refused = sum.add([tensor('w', [1, 2, 3, 4, 5]), tensor('b', counting(16))], 1);
    assert.equal(!refused.ok && refused.error.code, 'update.shape_mismatch');
    assert.deepEqual(valuesOf(sum.tensors()), [[0, 0, 0, 0, 0], counting(17).map(() => 0)]);
  });

  it('refuses a finite delta that would overflow the sum to infinity', () => {
    const sum = new WeightedSumMemory().start([tensor('w', [0])]);
    assert.ok(sum.add([tensor('w', [3e38])], 1).ok);
    const refused = sum.add([tensor('w', [3e38])], 1);
    assert.equal(!refused.ok && refused.error.code, 'update.non_finite');
    assert.deepEqual(valuesOf(sum.tensors()), [[Math.fround(3e38)]]);
  });

  it('starts each round at zero in the same memory, and a sum of an earlier round throws', () => {
    const memory = new WeightedSumMemory();
    const first = memory.start(like);
    assert.ok(first.add([tensor('w', [1, 2, 3, 4, 5]), tensor('b', counting(17))], 1).ok);
    const second = memory.start([tensor('w', [0, 0]), tensor('b', [0])]);
    assert.deepEqual(valuesOf(second.tensors()), [[0, 0], [0]]);
    assert.throws(() => first.tensors(), /after the next round started/);
    assert.throws(() => first.add(like, 1), /after the next round started/);
  });

  it('grows its memory for a larger model', () => {
    const memory = new WeightedSumMemory();
    memory.start([tensor('w', [0])]);
    const n = 3 * WASM_PAGE_BYTES;
    const big = memory.start([{ name: 'w', shape: [n], values: new Float32Array(n) }]);
    const ones = new Float32Array(n).fill(1);
    assert.ok(big.add([{ name: 'w', shape: [n], values: ones }], 2).ok);
    assert.ok(big.tensors()[0]!.values.every((v) => v === 2));
  });
});
