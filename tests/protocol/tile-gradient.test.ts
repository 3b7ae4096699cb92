import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend, unwrap } from '../../protocol/index.js';

/** d/dx of sum(tile(x, reps) * w), with w = 0, 1, 2, ... over the tiled shape. */
function tileGradient(shape: number[], reps: number[]): number[] {
  return tf.tidy(() => {
    const x = tf.zeros(shape);
    const size = shape.reduce((n, s, i) => n * s * reps[i]!, 1);
    const w = tf.reshape(
      tf.range(0, size),
      shape.map((s, i) => s * reps[i]!),
    );
    return Array.from(
      tf
        .grad((t: tf.Tensor) => tf.sum(tf.mul(tf.tile(t, reps), w)))(x)
        .dataSync(),
    );
  });
}

describe('the gradient of tile', () => {
  for (const backend of ['cpu', 'wasm'] as const) {
    it(`sums dy over the repetitions, as worked by hand (${backend})`, async () => {
      unwrap(await selectBackend(backend));
      // x [2, 3] tiled [2, 2] is [4, 6]; w[r, c] = 6 r + c. x[0, 0] appears at (0, 0), (0, 3),
      // (2, 0), (2, 3): 0 + 3 + 12 + 15 = 30; x[1, 2] at (1, 2), (1, 5), (3, 2), (3, 5):
      // 8 + 11 + 20 + 23 = 62. In general 30 + 24 i + 4 j.
      assert.deepEqual(tileGradient([2, 3], [2, 2]), [30, 34, 38, 54, 58, 62]);
    });
  }

  it('gives a layer normalisation gain the sum over batch and positions, in one reduction', async () => {
    unwrap(await selectBackend('wasm'));
    // [1, 1, 2] tiled [2, 3, 1]: w over [2, 3, 2] is 0..11; gain 0 gets the even entries
    // 0 + 2 + ... + 10 = 30, gain 1 the odd ones, 36. Rank 5, which tfjs's own gradient refuses,
    // follows the same rule.
    assert.deepEqual(tileGradient([1, 1, 2], [2, 3, 1]), [30, 36]);
    assert.deepEqual(tileGradient([1, 1, 1, 1, 2], [1, 2, 1, 1, 1]), [0 + 2, 1 + 3]);
  });
});
