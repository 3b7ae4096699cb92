import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { trainLocally } from '../../client/local-trainer.js';
import { ErrorFeedback, weightDelta } from '../../client/update-builder.js';
import {
  buildModel,
  clipByL2,
  decodeTensorBlob,
  l2Norm,
  readWeights,
  selectBackend,
  unwrap,
  weightLayout,
  type MlpSpec,
  type NamedTensor,
} from '../../protocol/index.js';

const tensor = (name: string, values: number[]): NamedTensor => ({
  name,
  shape: [values.length],
  values: Float32Array.from(values),
});

describe('the update a site builds', () => {
  before(async () => {
    unwrap(await selectBackend('wasm'));
  });

  it('delta is trained minus global', () => {
    const delta = weightDelta([tensor('a', [1, 5])], [tensor('a', [0.5, 2])]);
    assert.deepEqual([...delta[0]!.values], [0.5, 3]);
  });

  it('L2 clipping scales the whole update to the bound and keeps its direction', () => {
    // ||[3, 4] ++ [12]|| = 13; clipped to 6.5 it is halved.
    const { delta, norm } = clipByL2([tensor('a', [3, 4]), tensor('b', [12])], 6.5);
    assert.equal(norm, 13);
    assert.deepEqual([...delta[0]!.values, ...delta[1]!.values], [1.5, 2, 6]);
    assert.ok(Math.abs(l2Norm(delta) - 6.5) < 1e-6);
    const small = clipByL2([tensor('a', [0.3, 0.4])], 1);
    assert.deepEqual(
      [...small.delta[0]!.values].map((v) => Math.round(v * 10) / 10),
      [0.3, 0.4],
    );
  });

  it('top-k with error feedback sends what an earlier round dropped', () => {
    const feedback = new ErrorFeedback();
    // k = 1 of 4: round 1 sends the 4 and keeps [1, 2, 3, 0] back.
    const first = unwrap(
      decodeTensorBlob(unwrap(feedback.encode([tensor('a', [1, 2, 3, 4])], 'topk', 0.25))),
    );
    assert.deepEqual([...first[0]!.values], [0, 0, 0, 4]);
    assert.deepEqual([...feedback.carried![0]!.values], [1, 2, 3, 0]);
    // Round 2's delta [0, 0, 1, 0] plus the residual is [1, 2, 4, 0]: the 4 (3 + 1) goes out.
    const second = unwrap(
      decodeTensorBlob(unwrap(feedback.encode([tensor('a', [0, 0, 1, 0])], 'topk', 0.25))),
    );
    assert.deepEqual([...second[0]!.values], [0, 0, 4, 0]);
    assert.deepEqual([...feedback.carried![0]!.values], [1, 2, 0, 0]);
  });

  it('pruned weights stay exactly zero through local training', async () => {
    const spec: MlpSpec = { kind: 'mlp', inputs: 4, hidden: [6], classes: 2 };
    const model = buildModel(spec, 3);
    // Prune every other weight of every tensor.
    const mask = weightLayout(spec).map((slot) => {
      const n = slot.shape.reduce((a, b) => a * b, 1);
      return {
        name: slot.name,
        shape: slot.shape,
        values: Float32Array.from({ length: n }, (_, i) => i % 2),
      };
    });
    const x = tf.randomNormal([40, 4], 0, 1, 'float32', 1) as tf.Tensor2D;
    const y = tf.cast(
      tf.oneHot(
        tf.tensor1d(
          Array.from({ length: 40 }, (_, i) => i % 2),
          'int32',
        ),
        2,
      ),
      'float32',
    ) as tf.Tensor2D;
    const before = await readWeights(model, spec);
    await trainLocally(
      model,
      {
        privateInputs: x,
        privateLabels: y,
        teacher: { kind: 'transfer-set', inputs: x, logits: tf.zeros([40, 2]) },
      },
      {
        temperature: 2,
        alpha: 0.5,
        epochs: 3,
        batchSize: 8,
        learningRate: 0.05,
        labelSmoothing: 0,
        proximalMu: 0,
        mask,
        seed: 1,
      },
    );
    const after = await readWeights(model, spec);
    after.forEach((t, k) => {
      t.values.forEach((v, i) => {
        if (i % 2 === 0) assert.ok(v === 0, `${t.name}[${i}] is ${v}`);
      });
      // The kept weights did train.
      assert.ok(
        t.values.some((v, i) => i % 2 === 1 && v !== before[k]!.values[i]),
        t.name,
      );
    });
    model.dispose();
  });
});
