import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import {
  classLogitsLoss,
  crossEntropy,
  distillationLoss,
  hiddenStateMse,
  proximalTerm,
  softenedKl,
} from '../../client/distillation-loss.js';
import { selectBackend, unwrap } from '../../protocol/index.js';

before(async () => {
  unwrap(await selectBackend('cpu'));
});

// Teacher logits 2*ln([3, 6, 1]): divided by T=2 they are ln([3, 6, 1]), whose softmax is
// exactly [0.3, 0.6, 0.1]. At T=1 the softmax is [9, 36, 1] / 46.
const TEACHER = [2 * Math.log(3), 2 * Math.log(6), 0];
// A student that says nothing: uniform [1/3, 1/3, 1/3] at any temperature.
const STUDENT = [0, 0, 0];
// KL([0.3, 0.6, 0.1] || uniform) = 0.3 ln 0.9 + 0.6 ln 1.8 + 0.1 ln 0.3, by hand:
const KL_AT_T2 = 0.3 * -0.1053605157 + 0.6 * 0.5877866649 + 0.1 * -1.2039728043; // 0.2006665638
// KL([9, 36, 1]/46 || uniform) = sum p ln(3p):
const KL_AT_T1 =
  (9 / 46) * Math.log(27 / 46) + (36 / 46) * Math.log(108 / 46) + (1 / 46) * Math.log(3 / 46); // 0.5043557
// CE for private logits [1, 2, 3] with label 2: ln(e + e^2 + e^3) - 3 = ln(30.19287485) - 3.
const CE = 3.4076059644 - 3; // 0.4076059644

function loss(temperature: number, alpha: number, teacher = TEACHER, label = 2): number {
  return tf.tidy(
    () =>
      distillationLoss({
        studentTransferLogits: tf.tensor2d([STUDENT]),
        teacherTransferLogits: tf.tensor2d([teacher]),
        studentPrivateLogits: tf.tensor2d([[1, 2, 3]]),
        privateLabels: tf.cast(
          tf.oneHot(tf.tensor1d([label], 'int32'), 3),
          'float32',
        ) as tf.Tensor2D,
        temperature,
        alpha,
      }).dataSync()[0]!,
  );
}

describe('distillation loss', () => {
  it('softens the teacher at T=2 to [0.3, 0.6, 0.1]', () => {
    const soft = tf.tidy(() => tf.softmax(tf.div(tf.tensor2d([TEACHER]), 2)).dataSync());
    [0.3, 0.6, 0.1].forEach((p, i) =>
      assert.ok(Math.abs(soft[i]! - p) < 1e-6, `${soft[i]} vs ${p}`),
    );
  });

  it('the KL term at T=2 matches the hand-computed 0.20067 nats', () => {
    const kl = tf.tidy(
      () => softenedKl(tf.tensor2d([TEACHER]), tf.tensor2d([STUDENT]), 2).dataSync()[0]!,
    );
    assert.ok(Math.abs(kl - KL_AT_T2) < 1e-5, `${kl} vs ${KL_AT_T2}`);
  });

  it('alpha=1 is T^2 times the KL term: 4 x 0.20067 at T=2, 1 x 0.50436 at T=1', () => {
    assert.ok(Math.abs(loss(2, 1) - 4 * KL_AT_T2) < 1e-5, `${loss(2, 1)}`);
    assert.ok(Math.abs(loss(1, 1) - KL_AT_T1) < 1e-5, `${loss(1, 1)}`);
  });

  it('alpha=1 ignores the private labels entirely', () => {
    assert.ok(Math.abs(loss(2, 1, TEACHER, 0) - loss(2, 1, TEACHER, 2)) < 1e-7);
  });

  it('alpha=0 is plain cross-entropy and ignores the teacher', () => {
    assert.ok(Math.abs(loss(2, 0) - CE) < 1e-5, `${loss(2, 0)} vs ${CE}`);
    assert.ok(Math.abs(loss(2, 0, [9, -9, 0]) - CE) < 1e-6);
  });

  it('alpha=0.5 at T=2 mixes the two: 0.5 x 0.80267 + 0.5 x 0.40761', () => {
    const expected = 0.5 * 4 * KL_AT_T2 + 0.5 * CE;
    assert.ok(Math.abs(loss(2, 0.5) - expected) < 1e-5, `${loss(2, 0.5)} vs ${expected}`);
  });

  it('is zero in the soft term when the student already matches the teacher', () => {
    const kl = tf.tidy(
      () => softenedKl(tf.tensor2d([TEACHER]), tf.tensor2d([TEACHER]), 3).dataSync()[0]!,
    );
    assert.ok(Math.abs(kl) < 1e-6);
  });
});

describe('label smoothing and the proximal term', () => {
  it('label smoothing 0.1 on logits [1, 2, 3], label 2: 0.9 x 0.40761 + 0.1 x mean(2.40761, 1.40761, 0.40761)', () => {
    // Smoothed target [1/30, 1/30, 0.9 + 1/30] against log-softmax [-2.40761, -1.40761, -0.40761].
    const expected = 0.9 * CE + 0.1 * ((2.4076059644 + 1.4076059644 + 0.4076059644) / 3); // 0.5076059644
    const value = tf.tidy(
      () =>
        crossEntropy(
          tf.cast(tf.oneHot(tf.tensor1d([2], 'int32'), 3), 'float32') as tf.Tensor2D,
          tf.tensor2d([[1, 2, 3]]),
          0.1,
        ).dataSync()[0]!,
    );
    assert.ok(Math.abs(value - expected) < 1e-5, `${value} vs ${expected}`);
    assert.ok(Math.abs(value - 0.5076059644) < 1e-5);
  });

  it('the proximal term is (mu / 2) ||w - w_global||^2: mu 0.1, w [1, 2] and [[3]], global 0 -> 0.05 x 14 = 0.7', () => {
    const value = tf.tidy(
      () =>
        proximalTerm(
          [tf.tensor1d([1, 2]), tf.tensor2d([[3]])],
          [tf.zeros([2]), tf.zeros([1, 1])],
          0.1,
        ).dataSync()[0]!,
    );
    assert.ok(Math.abs(value - 0.7) < 1e-6, `${value}`);
  });
});

describe('hidden-state MSE and the class-logits mode', () => {
  it('hidden MSE: h [1, 2] projected by [[1, 0, 1], [0, 1, 1]] is [1, 2, 3]; against [1, 1, 1] it is (0 + 1 + 4) / 3', () => {
    const value = tf.tidy(
      () =>
        hiddenStateMse(
          tf.tensor2d([[1, 2]]),
          tf.tensor2d([
            [1, 0, 1],
            [0, 1, 1],
          ]),
          tf.tensor2d([[1, 1, 1]]),
        ).dataSync()[0]!,
    );
    assert.ok(Math.abs(value - 5 / 3) < 1e-6, `${value}`);
  });

  it('class logits: a class-2 example is pulled towards row 2 of the matrix, as in the transfer-set case', () => {
    // Row 2 holds the T=2 teacher of the first suite, 2 ln([3, 6, 1]); the student says nothing.
    const matrix = [[5, 0, 0], [0, 5, 0], TEACHER];
    const value = (alpha: number) =>
      tf.tidy(
        () =>
          classLogitsLoss({
            studentLogits: tf.tensor2d([STUDENT]),
            labels: tf.cast(tf.oneHot(tf.tensor1d([2], 'int32'), 3), 'float32') as tf.Tensor2D,
            classLogits: tf.tensor2d(matrix),
            temperature: 2,
            alpha,
          }).dataSync()[0]!,
      );
    // alpha = 1: 4 x KL([0.3, 0.6, 0.1] || uniform); alpha = 0: CE of a uniform student = ln 3.
    assert.ok(Math.abs(value(1) - 4 * KL_AT_T2) < 1e-5, `${value(1)}`);
    assert.ok(Math.abs(value(0) - Math.log(3)) < 1e-5, `${value(0)}`);
  });
});
