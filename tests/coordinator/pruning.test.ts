import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { weightMask } from '../../coordinator/compression/magnitude-pruning.js';
import { kernelSparsity } from '../../coordinator/compression/pruning-mask.js';
import { pruneRound } from '../../coordinator/compression/round-pruning.js';
import { unitMask } from '../../coordinator/compression/unit-pruning.js';
import type { NamedTensor } from '../../protocol/index.js';

const tensor = (name: string, shape: number[], values: number[]): NamedTensor => ({
  name,
  shape,
  values: Float32Array.from(values),
});

const valuesOf = (tensors: readonly NamedTensor[]): number[][] => tensors.map((t) => [...t.values]);

/** A mask in the same layout, from 0/1 lists. */
const maskOf = (model: readonly NamedTensor[], values: number[][]): NamedTensor[] =>
  model.map((t, i) => tensor(t.name, [...t.shape], values[i]!));

describe('global magnitude pruning (structure "weights")', () => {
  // |w| of the kernel: 0.5 0.1 0.3 / 0.2 0.05 0.4; the bias is smaller still.
  const model = [
    tensor('hidden_1/kernel', [2, 3], [0.5, -0.1, 0.3, -0.2, 0.05, -0.4]),
    tensor('hidden_1/bias', [3], [0.01, -0.02, 0.03]),
  ];

  it('at 50% the 3 smallest of 6 kernel weights are masked (0.05, 0.1, 0.2); the bias mask is all ones', () => {
    assert.deepEqual(valuesOf(weightMask(model, 0.5)), [
      [1, 0, 1, 0, 0, 1],
      [1, 1, 1],
    ]);
  });

  it('the pruned model has exactly those weights at +0 and its bias untouched', () => {
    const pruned = pruneRound(
      model,
      { schedule: { kind: 'constant', sparsity: 0.5 }, structure: 'weights' },
      1,
    );
    assert.deepEqual(valuesOf(pruned.model), [
      [...Float32Array.from([0.5, 0, 0.3, 0, 0, -0.4])],
      [...Float32Array.from([0.01, -0.02, 0.03])],
    ]);
    // -0.1 and -0.2 were pruned: +0, not -0 (w x 0 would give -0).
    assert.ok(Object.is(pruned.model[0]!.values[1], 0) && Object.is(pruned.model[0]!.values[3], 0));
    assert.equal(pruned.target, 0.5);
    assert.equal(kernelSparsity(pruned.model), 0.5);
  });

  it('ranks all kernels together: a layer of small weights can go first', () => {
    const two = [
      tensor('hidden_1/kernel', [2, 2], [1, -2, 3, 0.5]),
      tensor('hidden_1/bias', [2], [0, 0]),
      tensor('logits/kernel', [2, 1], [0.1, -0.2]),
      tensor('logits/bias', [1], [0]),
    ];
    // 50% of 6 kernel weights: 0.1, 0.2 (logits) and 0.5 (hidden_1).
    assert.deepEqual(valuesOf(weightMask(two, 0.5)), [[1, 1, 1, 0], [1, 1], [0, 0], [1]]);
  });

  it('prunes ceil(s x n) weights, and among equal magnitudes the earlier one in the layout first', () => {
    const tied = [tensor('dense/kernel', [1, 4], [0.3, -0.3, 0.3, 0.1])];
    // ceil(0.3 x 4) = 2: the 0.1, then the first of the three 0.3s.
    assert.deepEqual(valuesOf(weightMask(tied, 0.3)), [[0, 1, 1, 0]]);
    assert.deepEqual(valuesOf(weightMask(tied, 0.25)), [[1, 1, 1, 0]]);
    assert.deepEqual(valuesOf(weightMask(tied, 0)), [[1, 1, 1, 1]]);
    // 0.07 x 100 is 7.000000000000001 in floating point: still 7 weights, not 8.
    const hundred = [
      tensor(
        'dense/kernel',
        [10, 10],
        Array.from({ length: 100 }, (_, i) => i + 1),
      ),
    ];
    const zeros = weightMask(hundred, 0.07)[0]!.values.filter((v) => v === 0).length;
    assert.equal(zeros, 7);
  });

  it('a weight pruned before stays pruned whatever its value now (the mask only grows)', () => {
    // The previous mask pruned the largest weight, 0.5; momentum moved it to 0.6 since.
    const moved = [
      tensor('hidden_1/kernel', [2, 3], [0.6, -0.1, 0.3, -0.2, 0.05, -0.4]),
      model[1]!,
    ];
    const previous = maskOf(model, [
      [0, 1, 1, 1, 1, 1],
      [1, 1, 1],
    ]);
    // 3 of 6: the old one, then the two smallest others (0.05, 0.1).
    assert.deepEqual(valuesOf(weightMask(moved, 0.5, previous))[0], [0, 0, 1, 1, 0, 1]);
    const pruned = pruneRound(
      moved,
      { schedule: { kind: 'constant', sparsity: 0.5 }, structure: 'weights' },
      3,
      previous,
    );
    assert.equal(pruned.model[0]!.values[0], 0);
    // A previous mask that prunes more than asked is kept whole.
    const more = maskOf(model, [
      [0, 0, 0, 0, 1, 1],
      [1, 1, 1],
    ]);
    assert.deepEqual(valuesOf(weightMask(moved, 0.5, more))[0], [0, 0, 0, 0, 1, 1]);
  });

  it('before the schedule prunes anything there is no mask to send', () => {
    const pruned = pruneRound(
      model,
      {
        schedule: {
          kind: 'polynomial',
          initial: 0,
          final: 0.5,
          beginRound: 2,
          endRound: 4,
          power: 3,
        },
        structure: 'weights',
      },
      1,
    );
    assert.equal(pruned.mask, undefined);
    assert.deepEqual(valuesOf(pruned.model), valuesOf(model));
  });
});

describe('structured pruning of units and channels (structure "units")', () => {
  // hidden_1: 3 inputs x 4 units. Column L1 norms: 3, 0.3, 1.5, 0.6.
  const mlp = [
    tensor('hidden_1/kernel', [3, 4], [1, 0.1, 0.5, -0.2, 1, -0.1, 0.5, 0.2, 1, 0.1, -0.5, 0.2]),
    tensor('hidden_1/bias', [4], [0, 0, 0, 0]),
    tensor('logits/kernel', [4, 2], [0.01, 0.01, 0.01, 0.01, 0.01, 0.01, 0.01, 0.01]),
    tensor('logits/bias', [2], [0, 0]),
  ];

  it('at 50% the 2 hidden units of smallest L1 norm (0.3 and 0.6) lose their whole column; the logits layer is left whole', () => {
    const mask = unitMask(mlp, 0.5);
    assert.deepEqual(valuesOf(mask), [
      [1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0],
      [1, 1, 1, 1],
      [1, 1, 1, 1, 1, 1, 1, 1],
      [1, 1],
    ]);
    const pruned = pruneRound(
      mlp,
      { schedule: { kind: 'constant', sparsity: 0.5 }, structure: 'units' },
      1,
    );
    // 6 of the 12 + 8 kernel weights are zero.
    assert.equal(kernelSparsity(pruned.model), 0.3);
  });

  it('never prunes a layer down to no units', () => {
    // ceil(0.9 x 4) = 4 would empty the layer: 3 go, the largest (norm 3) stays.
    assert.deepEqual(valuesOf(unitMask(mlp, 0.9))[0], [1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0]);
  });

  it('ranks conv output channels (the last kernel axis) by L1 norm', () => {
    // conv_1: 1x1 kernel, 2 input channels, 3 output channels; value [0, 0, c, o] at c x 3 + o.
    // Channel norms: o=0: 2 + 2 = 4, o=1: 0.1 + 0.3 = 0.4, o=2: 1 + 1 = 2.
    const cnn = [
      tensor('conv_1/kernel', [1, 1, 2, 3], [2, 0.1, -1, -2, -0.3, 1]),
      tensor('conv_1/bias', [3], [0, 0, 0]),
      tensor('logits/kernel', [3, 2], [0, 0, 0, 0, 0, 0]),
      tensor('logits/bias', [2], [0, 0]),
    ];
    assert.deepEqual(valuesOf(unitMask(cnn, 0.3))[0], [1, 0, 1, 1, 0, 1]);
    assert.deepEqual(valuesOf(unitMask(cnn, 0.6))[0], [1, 0, 0, 1, 0, 0]);
  });

  it('a unit pruned before stays pruned, even if it is now the largest', () => {
    const previous = maskOf(mlp, [
      [0, 1, 1, 1, 0, 1, 1, 1, 0, 1, 1, 1],
      [1, 1, 1, 1],
      [1, 1, 1, 1, 1, 1, 1, 1],
      [1, 1],
    ]);
    // 2 of 4: unit 0 (pruned before), then unit 1 (norm 0.3).
    assert.deepEqual(
      valuesOf(unitMask(mlp, 0.5, previous))[0],
      [0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1],
    );
  });
});
