import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { range, seededRandom, shuffleInPlace, type NamedTensor } from '../protocol/index.js';
import { distillationLoss, proximalTerm } from './distillation-loss.js';

export interface LocalData {
  /** Normalised private inputs, [rows, features]. */
  readonly privateInputs: tf.Tensor2D;
  /** One-hot private labels, [rows, classes]. */
  readonly privateLabels: tf.Tensor2D;
  /** Normalised transfer-set inputs, [transferRows, features]. */
  readonly transferInputs: tf.Tensor2D;
  /** Teacher logits on the transfer set, [transferRows, classes]. */
  readonly teacherLogits: tf.Tensor2D;
}

export interface LocalTrainingPlan {
  readonly temperature: number;
  readonly alpha: number;
  readonly epochs: number;
  readonly batchSize: number;
  readonly learningRate: number;
  readonly labelSmoothing: number;
  /** FedProx mu; 0 leaves the proximal term out. */
  readonly proximalMu: number;
  /** 0/1 per weight in the model's order; weights at 0 stay exactly 0 (the pruning mask). */
  readonly mask?: readonly NamedTensor[];
  /** Seeds the batch order, so a round replays exactly. */
  readonly seed: number;
}

/**
 * Trains `model` in place. Each step pairs a private batch (hard labels) with a transfer-set
 * batch (soft labels); an epoch is one pass over the private data, cycling the transfer set.
 * Adam starts fresh each round: a site keeps no optimiser state between rounds.
 */
export async function trainLocally(
  model: tfl.LayersModel,
  data: LocalData,
  plan: LocalTrainingPlan,
): Promise<{ steps: number; meanLoss: number }> {
  const optimizer = tf.train.adam(plan.learningRate);
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  // The weights training starts from are the global model: the proximal term's anchor.
  const anchor = plan.proximalMu > 0 ? variables.map((v) => tf.clone(v)) : [];
  const masks = plan.mask?.map((m) => tf.tensor(m.values, [...m.shape]));
  // Pruned weights are zeroed before training and again after every step, so no optimiser
  // update (Adam's momentum included) can revive them.
  const applyMask = (): void => {
    if (masks) variables.forEach((v, i) => v.assign(tf.tidy(() => tf.mul(v, masks[i]!))));
  };
  applyMask();
  const random = seededRandom(plan.seed);
  const privateRows = data.privateInputs.shape[0];
  const transferRows = data.transferInputs.shape[0];
  const transferOrder = shuffleInPlace(range(transferRows), random);
  let transferCursor = 0;
  let steps = 0;
  let lossSum = 0;

  for (let epoch = 0; epoch < plan.epochs; epoch++) {
    const privateOrder = shuffleInPlace(range(privateRows), random);
    for (let start = 0; start < privateRows; start += plan.batchSize) {
      const privateIdx = privateOrder.slice(start, start + plan.batchSize);
      const transferIdx: number[] = [];
      for (let k = 0; k < plan.batchSize; k++) {
        transferIdx.push(transferOrder[transferCursor]!);
        transferCursor = (transferCursor + 1) % transferRows;
      }
      const loss = tf.tidy((): tf.Scalar => {
        const pIdx = tf.tensor1d(privateIdx, 'int32');
        const tIdx = tf.tensor1d(transferIdx, 'int32');
        const privX = tf.gather(data.privateInputs, pIdx);
        const privY = tf.gather(data.privateLabels, pIdx);
        const transX = tf.gather(data.transferInputs, tIdx);
        const teacher = tf.gather(data.teacherLogits, tIdx);
        const cost = optimizer.minimize(
          () => {
            const loss = distillationLoss({
              studentTransferLogits: model.apply(transX) as tf.Tensor2D,
              teacherTransferLogits: teacher,
              studentPrivateLogits: model.apply(privX) as tf.Tensor2D,
              privateLabels: privY,
              temperature: plan.temperature,
              alpha: plan.alpha,
              labelSmoothing: plan.labelSmoothing,
            });
            return plan.proximalMu > 0
              ? tf.add(loss, proximalTerm(variables, anchor, plan.proximalMu))
              : loss;
          },
          true,
          variables,
        );
        if (cost === null) throw new Error('the optimiser returned no cost');
        return cost;
      });
      applyMask();
      // An asynchronous read: GPU backends cannot read synchronously, and the wait lets the
      // event loop serve the connection between steps.
      lossSum += (await loss.data())[0]!;
      loss.dispose();
      steps++;
    }
  }
  optimizer.dispose();
  tf.dispose(anchor);
  if (masks) tf.dispose(masks);
  return { steps, meanLoss: steps > 0 ? lossSum / steps : 0 };
}
