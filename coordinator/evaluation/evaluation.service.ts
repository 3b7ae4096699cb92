import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { applyNormalizer } from '../../protocol/index.js';
import { COORDINATOR_SETUP, type CoordinatorSetup } from '../coordinator-setup.js';
import { binaryAuc } from './binary-auc.js';
import { meanCrossEntropy } from './cross-entropy.js';

/** Accuracy on the held-out split, which never leaves the coordinator. */
@Injectable()
export class EvaluationService implements OnModuleDestroy {
  private readonly inputs: tf.Tensor2D;
  private readonly labels: Int32Array;
  readonly rows: number;
  readonly majorityClassRate: number;
  private readonly classes: number;

  constructor(@Inject(COORDINATOR_SETUP) setup: CoordinatorSetup) {
    const { heldOut, normalizer, config } = setup;
    this.rows = heldOut.rows;
    this.classes = config.data.classes;
    this.labels = heldOut.labels;
    this.inputs = tf.tensor2d(applyNormalizer(heldOut.inputs, normalizer), [
      heldOut.rows,
      heldOut.features,
    ]);
    const counts = new Array<number>(config.data.classes).fill(0);
    for (const label of heldOut.labels) counts[label]!++;
    this.majorityClassRate = Math.max(...counts) / heldOut.rows;
  }

  /**
   * Accuracy and mean cross-entropy, and for two classes the AUC of the class-1 probability, on
   * the held-out split.
   */
  async measure(model: tfl.LayersModel): Promise<{ accuracy: number; loss: number; auc?: number }> {
    const [predictedTensor, probabilities, logProbabilities] = tf.tidy(() => {
      const logits = model.predict(this.inputs) as tf.Tensor2D;
      return [tf.argMax(logits, -1), tf.softmax(logits), tf.logSoftmax(logits)];
    });
    const [predicted, probs, logProbs] = await Promise.all([
      predictedTensor.data(),
      probabilities.data(),
      logProbabilities.data(),
    ]);
    tf.dispose([predictedTensor, probabilities, logProbabilities]);
    let correct = 0;
    for (let i = 0; i < this.rows; i++) if (predicted[i] === this.labels[i]) correct++;
    const accuracy = correct / this.rows;
    const loss = meanCrossEntropy(logProbs, this.labels, this.classes);
    if (this.classes !== 2) return { accuracy, loss };
    const positive = Float64Array.from({ length: this.rows }, (_, i) => probs[2 * i + 1]!);
    return { accuracy, loss, auc: binaryAuc(positive, this.labels) };
  }

  onModuleDestroy(): void {
    this.inputs.dispose();
  }
}
