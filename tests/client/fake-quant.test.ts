import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { classLogitsLoss } from '../../client/distillation-loss.js';
import { fakeQuantize } from '../../client/fake-quant.js';
import { trainLocally } from '../../client/local-trainer.js';
import {
  buildModel,
  selectBackend,
  unwrap,
  weightLayout,
  type MlpSpec,
} from '../../protocol/index.js';

const close = (actual: ArrayLike<number>, expected: readonly number[], tolerance: number): void => {
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < expected.length; i++) {
    assert.ok(
      Math.abs(actual[i]! - expected[i]!) <= tolerance,
      `[${i}] ${actual[i]} vs ${expected[i]}`,
    );
  }
};

describe('fake quantization (quantization-aware training)', () => {
  it('rounds to the symmetric int8 grid per tensor: s = max|w| / 127', async () => {
    unwrap(await selectBackend('cpu'));
    // s = 1.27 / 127 = 0.01: 0.003 -> 0, 0.0149 -> 0.01, 0.5 stays, -1.27 stays
    const q = fakeQuantize(tf.tensor1d([0.5, -1.27, 0.003, 0.0149]), 'int8');
    close(await q.data(), [0.5, -1.27, 0, 0.01], 1e-7);
  });

  it('rounds per output channel (the last axis), and leaves an all-zero channel at zero', async () => {
    // Channel 0 [1, -0.25]: s = 1/127, -0.25 * 127 = -31.75 -> -32 -> -0.2519685.
    // Channel 1 [0.02, 0.012]: s = 0.02/127, 0.012 -> 76.2 -> 76 -> 0.0119685. Channel 2 zeros.
    const w = tf.tensor2d([
      [1, 0.02, 0],
      [-0.25, 0.012, 0],
    ]);
    const q = fakeQuantize(w, 'int8-channel');
    close(await q.data(), [1, 0.02, 0, -32 / 127, (76 * 0.02) / 127, 0], 1e-7);
  });

  it('takes each step at the quantized kernels and applies it to the float kernels (straight-through)', async () => {
    unwrap(await selectBackend('cpu'));
    const spec: MlpSpec = { kind: 'mlp', inputs: 4, hidden: [3], classes: 2 };
    const model = buildModel(spec, 5);
    const kernels = weightLayout(spec).map((s) => s.name.endsWith('/kernel'));
    const inputs = tf.tensor2d(
      Array.from({ length: 32 }, (_, i) => Math.sin(i * 1.7)),
      [8, 4],
    );
    const labels = tf.oneHot(tf.tensor1d([0, 1, 1, 0, 1, 0, 0, 1], 'int32'), 2) as tf.Tensor2D;
    const matrix = tf.tensor2d([
      [2, -1],
      [-1, 2],
    ]);
    const settings = { temperature: 2, alpha: 0.5, labelSmoothing: 0 };
    const lr = 0.01;
    const start = model.getWeights().map((w) => w.clone());

    // By hand: the gradient at the quantized kernels (biases as they are), then Adam's first
    // step: bias-corrected moments g and g^2, so lr * g / (|g| + eps), tfjs's eps 1e-7.
    model.setWeights(start.map((w, i) => (kernels[i] ? fakeQuantize(w, 'int8') : w)));
    const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const { grads } = tf.variableGrads(
      () =>
        classLogitsLoss({
          studentLogits: model.apply(inputs) as tf.Tensor2D,
          labels,
          classLogits: matrix,
          ...settings,
        }),
      variables,
    );
    const expected = await Promise.all(
      variables.map(async (v, i) => {
        const g = await grads[v.name]!.data();
        const w0 = await start[i]!.data();
        return Array.from(w0, (w, k) => w - (lr * g[k]!) / (Math.abs(g[k]!) + 1e-7));
      }),
    );

    model.setWeights(start);
    await trainLocally(
      model,
      { privateInputs: inputs, privateLabels: labels, teacher: { kind: 'class-logits', matrix } },
      {
        ...settings,
        epochs: 1,
        batchSize: 8,
        learningRate: lr,
        proximalMu: 0,
        seed: 1,
        fakeQuant: { scheme: 'int8', kernels },
      },
    );
    const after = await Promise.all(model.getWeights().map((w) => w.data()));
    after.forEach((values, i) => close(values, expected[i]!, 2e-6));
    // The floats moved on from their own values, not from the quantized ones.
    const quantizedStart = await fakeQuantize(start[0]!, 'int8').data();
    const w0 = await start[0]!.data();
    assert.ok(w0.some((w, k) => Math.abs(w - quantizedStart[k]!) > 1e-4));
  });
});
