import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend, unwrap } from '../../protocol/index.js';

describe('UnsortedSegmentSum on wasm', () => {
  it('sums rows by segment as worked by hand', async () => {
    unwrap(await selectBackend('wasm'));
    const x = tf.tensor2d([1, 2, 3, 4, 5, 6, 7, 8], [4, 2]);
    const sum = tf.unsortedSegmentSum(x, tf.tensor1d([2, 0, 2, 1], 'int32'), 4);
    // Segment 0: row 1; 1: row 3; 2: rows 0 + 2; 3: nothing.
    assert.deepEqual([...sum.dataSync()], [3, 4, 7, 8, 6, 8, 0, 0]);
    tf.dispose([x, sum]);
  });

  it("gives an embedding lookup's gradient equal to the cpu backend's", async () => {
    const gradient = () =>
      tf.tidy(() => {
        const table = tf.tensor2d(
          Array.from({ length: 15 }, (_, i) => i / 7 - 1),
          [5, 3],
        );
        const ids = tf.tensor2d([0, 3, 3, 4, 1, 0], [2, 3], 'int32');
        const weights = tf.tensor3d(
          Array.from({ length: 18 }, (_, i) => (i % 5) - 2),
          [2, 3, 3],
        );
        const grad = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.gather(t, ids), weights)))(table);
        return Array.from(grad.dataSync());
      });
    unwrap(await selectBackend('cpu'));
    const onCpu = gradient();
    unwrap(await selectBackend('wasm'));
    assert.deepEqual(gradient(), onCpu);
    // Row 3 is looked up twice: its gradient is the sum of both positions' weights.
    assert.deepEqual(onCpu.slice(9, 12), [1 - 1, 2 + 0, -2 + 1]);
  });
});
