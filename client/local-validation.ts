import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { crossEntropy } from './distillation-loss.js';
import type { LabelledTensors } from './local-data.js';

/** The only figures a plain round reports about the site's own rows. */
export interface LocalMetrics {
  readonly validationAccuracy: number;
  readonly validationLoss: number;
}

/** Accuracy and cross-entropy of the locally trained model on the site's validation rows. */
export async function validateLocally(
  model: tfl.LayersModel,
  validation: LabelledTensors,
): Promise<LocalMetrics> {
  const [accuracy, loss] = tf.tidy(() => {
    const logits = model.predict(validation.inputs) as tf.Tensor2D;
    const correct = tf.equal(tf.argMax(logits, -1), tf.argMax(validation.labels, -1));
    return [tf.mean(tf.cast(correct, 'float32')), crossEntropy(validation.labels, logits)];
  });
  const [validationAccuracy, validationLoss] = await Promise.all([accuracy.data(), loss.data()]);
  tf.dispose([accuracy, loss]);
  return { validationAccuracy: validationAccuracy[0]!, validationLoss: validationLoss[0]! };
}
