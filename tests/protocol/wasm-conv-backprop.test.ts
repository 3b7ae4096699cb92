import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { seededRandom, selectBackend, unwrap } from '../../protocol/index.js';

type Case = {
  x: [number, number, number, number];
  filter: [number, number, number, number];
  stride: number;
  pad: 'same' | 'valid';
};

/** d/dW of sum(conv2d(x, W) * r) on the active backend, for fixed pseudo-random x, W and r. */
function filterGradient(c: Case): Float32Array {
  const random = seededRandom(c.x.reduce((a, b) => a * 31 + b, c.stride));
  const values = (n: number) => Float32Array.from({ length: n }, () => random() * 2 - 1);
  return tf.tidy(() => {
    const x = tf.tensor4d(values(c.x.reduce((a, b) => a * b)), c.x);
    const w = tf.tensor4d(values(c.filter.reduce((a, b) => a * b)), c.filter);
    const out = tf.conv2d(x, w, c.stride, c.pad);
    const r = tf.tensor(values(out.size), out.shape);
    const grad = tf.grad((weights: tf.Tensor) =>
      tf.sum(tf.mul(tf.conv2d(x, weights as tf.Tensor4D, c.stride, c.pad), r)),
    )(w);
    return grad.dataSync() as Float32Array;
  });
}

describe('Conv2DBackpropFilter on wasm', () => {
  const cases: Case[] = [
    { x: [2, 9, 9, 3], filter: [3, 3, 3, 4], stride: 1, pad: 'same' },
    { x: [2, 9, 9, 3], filter: [3, 3, 3, 4], stride: 2, pad: 'same' },
    { x: [3, 10, 8, 2], filter: [3, 2, 2, 5], stride: 2, pad: 'valid' },
    { x: [1, 7, 7, 1], filter: [4, 4, 1, 2], stride: 3, pad: 'valid' },
    { x: [4, 28, 28, 1], filter: [5, 5, 1, 8], stride: 1, pad: 'same' },
  ];

  it('matches the cpu backend within a relative 1e-3 (stride 1-3, same and valid padding)', async (t) => {
    unwrap(await selectBackend('cpu'));
    const reference = cases.map(filterGradient);
    unwrap(await selectBackend('wasm'));
    cases.forEach((c, i) => {
      const got = filterGradient(c);
      const want = reference[i]!;
      assert.equal(got.length, want.length);
      const scale = Math.max(...want.map(Math.abs));
      const worst = Math.max(...want.map((v, j) => Math.abs(v - got[j]!) / scale));
      assert.ok(worst <= 1e-3, `case ${i}: max relative difference ${worst}`);
      t.diagnostic(`case ${i}: max relative difference ${worst.toExponential(2)}`);
    });
  });
});
