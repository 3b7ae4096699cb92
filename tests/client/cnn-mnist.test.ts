import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { loadMnistDigits } from '../../client/data-sources/mnist.js';
import { trainLocally, type LocalData } from '../../client/local-trainer.js';
import { SMALL_MNIST_CNN } from '../../harness/students.js';
import {
  buildModel,
  parameterCount,
  range,
  seededRandom,
  selectBackend,
  shuffleInPlace,
  unwrap,
  weightLayout,
} from '../../protocol/index.js';

const SPEC = SMALL_MNIST_CNN;

describe('a small CNN student on MNIST, wasm backend', () => {
  before(async () => {
    unwrap(await selectBackend('wasm'));
  });

  it('builds the layout it promises: 5x5 convs, pooling, dense', () => {
    assert.deepEqual(
      weightLayout(SPEC).map((s) => `${s.name} ${s.shape.join('x')}`),
      [
        'conv_1/kernel 5x5x1x8',
        'conv_1/bias 8',
        'conv_2/kernel 5x5x8x16',
        'conv_2/bias 16',
        'hidden_1/kernel 784x32',
        'hidden_1/bias 32',
        'logits/kernel 32x10',
        'logits/bias 10',
      ],
    );
    // 200 + 8 + 3200 + 16 + 25088 + 32 + 320 + 10
    assert.equal(parameterCount(SPEC), 28874);
  });

  it('trains: held-out accuracy rises from chance to well above it', async (t) => {
    const digits = loadMnistDigits({ perDigit: 250 });
    const order = shuffleInPlace(range(digits.rows), seededRandom(3));
    const [trainRows, testRows] = [order.slice(0, 2000), order.slice(2000, 2500)];
    const take = (rows: number[]) => ({
      x: tf.tensor2d(
        rows.flatMap((r) => Array.from(digits.inputs.subarray(r * 784, (r + 1) * 784))),
        [rows.length, 784],
      ),
      y: Int32Array.from(rows, (r) => digits.labels[r]!),
    });
    const train = take(trainRows);
    const test = take(testRows);
    const model = buildModel(SPEC, 1);
    const accuracy = (): number =>
      tf.tidy(() => {
        const predicted = Array.from(
          tf.argMax(model.predict(test.x) as tf.Tensor2D, -1).dataSync(),
        );
        return predicted.filter((p, i) => p === test.y[i]).length / test.y.length;
      });
    const data: LocalData = {
      privateInputs: train.x,
      privateLabels: tf.cast(
        tf.oneHot(tf.tensor1d(train.y, 'int32'), 10),
        'float32',
      ) as tf.Tensor2D,
      // Cross-entropy only here (alpha = 0): the transfer term has no weight.
      teacher: { kind: 'transfer-set', inputs: train.x, logits: tf.zeros([trainRows.length, 10]) },
    };
    const plan = {
      temperature: 1,
      alpha: 0,
      batchSize: 32,
      learningRate: 0.003,
      labelSmoothing: 0,
      proximalMu: 0,
    };
    const before = accuracy();
    await trainLocally(model, data, { ...plan, epochs: 1, seed: 1 });
    const afterOne = accuracy();
    await trainLocally(model, data, { ...plan, epochs: 2, seed: 2 });
    const afterThree = accuracy();
    t.diagnostic(
      `held-out accuracy: untrained ${before}, after 1 epoch ${afterOne}, after 3 ${afterThree}`,
    );
    assert.ok(before < 0.25, `untrained accuracy ${before}`);
    assert.ok(afterOne > before + 0.3, `after 1 epoch ${afterOne} (from ${before})`);
    assert.ok(afterThree > afterOne, `after 3 epochs ${afterThree}, after 1 ${afterOne}`);
    assert.ok(afterThree > 0.85, `after 3 epochs ${afterThree}`);
    tf.dispose([
      train.x,
      test.x,
      data.privateLabels,
      (data.teacher as { logits: tf.Tensor }).logits,
    ]);
    model.dispose();
  });
});
