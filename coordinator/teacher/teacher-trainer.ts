import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import {
  buildModel,
  range,
  seededRandom,
  shuffleInPlace,
  type StudentSpec,
} from '../../protocol/index.js';

export interface TeacherTraining {
  readonly epochs: number;
  readonly batchSize: number;
  readonly learningRate: number;
  readonly seed: number;
}

/** Trains the teacher with plain cross-entropy (Adam, seeded batch order) on the public split. */
export function trainTeacher(
  spec: StudentSpec,
  inputs: tf.Tensor2D,
  labels: Int32Array,
  plan: TeacherTraining,
): tfl.LayersModel {
  const model = buildModel(spec, plan.seed);
  const optimizer = tf.train.adam(plan.learningRate);
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const oneHot = tf.tidy(() =>
    tf.cast(tf.oneHot(tf.tensor1d(labels, 'int32'), spec.classes), 'float32'),
  );
  const random = seededRandom(plan.seed);
  const rows = inputs.shape[0];
  for (let epoch = 0; epoch < plan.epochs; epoch++) {
    const order = shuffleInPlace(range(rows), random);
    for (let start = 0; start < rows; start += plan.batchSize) {
      tf.tidy(() => {
        const idx = tf.tensor1d(order.slice(start, start + plan.batchSize), 'int32');
        const x = tf.gather(inputs, idx);
        const y = tf.gather(oneHot, idx);
        optimizer.minimize(
          () => tf.losses.softmaxCrossEntropy(y, model.apply(x) as tf.Tensor2D) as tf.Scalar,
          false,
          variables,
        );
      });
    }
  }
  oneHot.dispose();
  optimizer.dispose();
  return model;
}
