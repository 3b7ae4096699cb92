import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { applyNormalizer, type LabelledTable, type Normalizer } from '../../protocol/index.js';
import { binaryAuc } from './binary-auc.js';
import { meanCrossEntropy } from './cross-entropy.js';

export interface HeldOutMeasure {
  readonly accuracy: number;
  /** Mean cross-entropy, nats. */
  readonly loss: number;
  /** For two classes: the AUC of the logit gap logit[1] - logit[0] (the class-1 log-odds). */
  readonly auc?: number;
}

/** A model's accuracy, loss and (binary) AUC on a held-out split, normalised as the sites see it. */
export class HeldOutEvaluator {
  private readonly inputs: tf.Tensor2D;
  private readonly labels: Int32Array;
  readonly rows: number;
  readonly majorityClassRate: number;

  constructor(
    heldOut: LabelledTable,
    normalizer: Normalizer,
    private readonly classes: number,
  ) {
    this.rows = heldOut.rows;
    this.labels = heldOut.labels;
    this.inputs = tf.tensor2d(applyNormalizer(heldOut.inputs, normalizer), [
      heldOut.rows,
      heldOut.features,
    ]);
    const counts = new Array<number>(classes).fill(0);
    for (const label of heldOut.labels) counts[label]!++;
    this.majorityClassRate = Math.max(...counts) / heldOut.rows;
  }

  async measure(model: tfl.LayersModel): Promise<HeldOutMeasure> {
    const [predictedTensor, logitsTensor, logProbabilities] = tf.tidy(() => {
      const logits = model.predict(this.inputs) as tf.Tensor2D;
      return [tf.argMax(logits, -1), logits, tf.logSoftmax(logits)];
    });
    const [predicted, logits, logProbs] = await Promise.all([
      predictedTensor.data(),
      logitsTensor.data(),
      logProbabilities.data(),
    ]);
    tf.dispose([predictedTensor, logitsTensor, logProbabilities]);
    let correct = 0;
    for (let i = 0; i < this.rows; i++) if (predicted[i] === this.labels[i]) correct++;
    const accuracy = correct / this.rows;
    const loss = meanCrossEntropy(logProbs, this.labels, this.classes);
    if (this.classes !== 2) return { accuracy, loss };
    // Rank by the logit gap, not the class-1 probability: the gap orders rows exactly as the
    // probability does, but a float32 softmax saturates at 1 for gaps above about 17, which would
    // tie every confident row and pull the AUC towards 0.5.
    const gap = Float64Array.from(
      { length: this.rows },
      (_, i) => logits[2 * i + 1]! - logits[2 * i]!,
    );
    return { accuracy, loss, auc: binaryAuc(gap, this.labels) };
  }

  dispose(): void {
    this.inputs.dispose();
  }
}
