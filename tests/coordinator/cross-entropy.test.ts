import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { meanCrossEntropy } from '../../coordinator/evaluation/cross-entropy.js';

test('mean cross-entropy: -(ln 0.75 + ln 0.2) / 2 = 0.948559992442940 nats', () => {
  // Row 0: p = (0.25, 0.75), label 1; row 1: p = (0.8, 0.2), label 1.
  const logProbs = [Math.log(0.25), Math.log(0.75), Math.log(0.8), Math.log(0.2)];
  assert.ok(Math.abs(meanCrossEntropy(logProbs, [1, 1], 2) - 0.94855999244294) < 1e-12);
  // Labelled at the likelier class instead: -(ln 0.75 + ln 0.8) / 2 = 0.255413...
  assert.ok(Math.abs(meanCrossEntropy(logProbs, [1, 0], 2) - 0.25541281188299536) < 1e-12);
});

test('mean cross-entropy of uniform logits over 3 classes is ln 3 = 1.0986122886681098', async () => {
  await tf.setBackend('cpu');
  const logProbs = tf.tidy(() =>
    tf.logSoftmax(
      tf.tensor2d([
        [2, 2, 2],
        [-1, -1, -1],
      ]),
    ),
  );
  const values = await logProbs.data();
  logProbs.dispose();
  assert.ok(Math.abs(meanCrossEntropy(values, [0, 2], 3) - 1.0986122886681098) < 1e-6);
});

test('mean cross-entropy refuses log-probabilities that do not fit the labels', () => {
  assert.throws(() => meanCrossEntropy([0, 0, 0], [0, 1], 2), RangeError);
  assert.throws(() => meanCrossEntropy([], [], 2), RangeError);
});
