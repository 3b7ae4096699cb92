import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { range, seededRandom, shuffleInPlace, type NamedTensor } from '../protocol/index.js';
import {
  classLogitsLoss,
  distillationLoss,
  hiddenStateMse,
  proximalTerm,
} from './distillation-loss.js';
import { fakeQuantize, type FakeQuantScheme } from './fake-quant.js';

/** The teacher's knowledge as tensors, in the run's distillation mode. */
export type TeacherTensors =
  | {
      readonly kind: 'transfer-set';
      /** Normalised transfer-set inputs, [transferRows, features]. */
      readonly inputs: tf.Tensor2D;
      /** Teacher logits on them, [transferRows, classes]. */
      readonly logits: tf.Tensor2D;
      /** Teacher features at its last hidden layer, [transferRows, width], when sent. */
      readonly hidden?: tf.Tensor2D;
    }
  | {
      readonly kind: 'class-logits';
      /** Mean teacher logits per true class, [classes, classes]. */
      readonly matrix: tf.Tensor2D;
    };

export interface LocalData {
  /** Normalised private inputs, [rows, features]. */
  readonly privateInputs: tf.Tensor2D;
  /** One-hot private labels, [rows, classes]. */
  readonly privateLabels: tf.Tensor2D;
  readonly teacher: TeacherTensors;
}

/** Hidden-state distillation: a student layer's output, projected, regressed on the teacher's features. */
export interface HiddenStateTerm {
  /** Maps the student's inputs to the named layer's output (shares the student's weights). */
  readonly extractor: tfl.LayersModel;
  /** [layer width, teacher width], learned at the site and never sent. */
  readonly projection: tf.Variable;
  readonly weight: number;
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
  readonly hiddenState?: HiddenStateTerm;
  /**
   * Quantization-aware training: the forward pass sees the weights marked in `kernels`
   * fake-quantized; each step's change is applied to float copies (straight-through).
   */
  readonly fakeQuant?: { readonly scheme: FakeQuantScheme; readonly kernels: readonly boolean[] };
  /** Seeds the batch order, so a round replays exactly. */
  readonly seed: number;
}

/**
 * Trains `model` in place; an epoch is one pass over the private data. In the transfer-set mode
 * each step pairs a private batch (hard labels) with a transfer-set batch (soft labels, and
 * teacher features when hidden states are distilled), cycling the transfer set; in the
 * class-logits mode the private batch is distilled towards its classes' mean teacher logits.
 * Adam starts fresh each round: a site keeps no optimiser state between rounds.
 */
export async function trainLocally(
  model: tfl.LayersModel,
  data: LocalData,
  plan: LocalTrainingPlan,
): Promise<{ steps: number; meanLoss: number }> {
  const optimizer = tf.train.adam(plan.learningRate);
  const weights = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const hidden =
    data.teacher.kind === 'transfer-set' && data.teacher.hidden ? plan.hiddenState : undefined;
  const variables = hidden ? [...weights, hidden.projection] : weights;
  // The weights training starts from are the global model: the proximal term's anchor.
  const anchor = plan.proximalMu > 0 ? weights.map((v) => tf.clone(v)) : [];
  const masks = plan.mask?.map((m) => tf.tensor(m.values, [...m.shape]));
  // Pruned weights are zeroed before training and again after every step, so no optimiser
  // update (Adam's momentum included) can revive them.
  const fakeQuant = plan.fakeQuant;
  // The float kernels of quantization-aware training; the model's own hold the quantized ones
  // during a step.
  const floats = weights.map((v, i) => (fakeQuant?.kernels[i] ? tf.variable(v, false) : undefined));
  const applyMask = (): void => {
    if (!masks) return;
    weights.forEach((v, i) => v.assign(tf.tidy(() => tf.mul(v, masks[i]!))));
    floats.forEach((f, i) => f?.assign(tf.tidy(() => tf.mul(f, masks[i]!))));
  };
  applyMask();
  const random = seededRandom(plan.seed);
  const privateRows = data.privateInputs.shape[0];
  const transferRows = data.teacher.kind === 'transfer-set' ? data.teacher.inputs.shape[0] : 0;
  const transferOrder = shuffleInPlace(range(transferRows), random);
  let transferCursor = 0;
  let steps = 0;
  let lossSum = 0;

  /** The distillation objective of one step, before the proximal term. */
  const objective = (
    privX: tf.Tensor2D,
    privY: tf.Tensor2D,
    transferIdx: tf.Tensor1D,
  ): tf.Scalar => {
    const teacher = data.teacher;
    const studentPrivateLogits = model.apply(privX) as tf.Tensor2D;
    if (teacher.kind === 'class-logits') {
      return classLogitsLoss({
        studentLogits: studentPrivateLogits,
        labels: privY,
        classLogits: teacher.matrix,
        temperature: plan.temperature,
        alpha: plan.alpha,
        labelSmoothing: plan.labelSmoothing,
      });
    }
    const transX = tf.gather(teacher.inputs, transferIdx);
    const loss = distillationLoss({
      studentTransferLogits: model.apply(transX) as tf.Tensor2D,
      teacherTransferLogits: tf.gather(teacher.logits, transferIdx),
      studentPrivateLogits,
      privateLabels: privY,
      temperature: plan.temperature,
      alpha: plan.alpha,
      labelSmoothing: plan.labelSmoothing,
    });
    if (!hidden || !teacher.hidden) return loss;
    const mse = hiddenStateMse(
      hidden.extractor.apply(transX) as tf.Tensor2D,
      hidden.projection as tf.Tensor2D,
      tf.gather(teacher.hidden, transferIdx),
    );
    return tf.add(loss, tf.mul(mse, hidden.weight));
  };

  for (let epoch = 0; epoch < plan.epochs; epoch++) {
    const privateOrder = shuffleInPlace(range(privateRows), random);
    for (let start = 0; start < privateRows; start += plan.batchSize) {
      const privateIdx = privateOrder.slice(start, start + plan.batchSize);
      const transferIdx: number[] = [];
      for (let k = 0; transferRows > 0 && k < plan.batchSize; k++) {
        transferIdx.push(transferOrder[transferCursor]!);
        transferCursor = (transferCursor + 1) % transferRows;
      }
      const quantized = floats.map((f, i) => {
        if (!f) return undefined;
        const q = fakeQuantize(f, fakeQuant!.scheme);
        weights[i]!.assign(q);
        return q;
      });
      const loss = tf.tidy((): tf.Scalar => {
        const pIdx = tf.tensor1d(privateIdx, 'int32');
        const privX = tf.gather(data.privateInputs, pIdx);
        const privY = tf.gather(data.privateLabels, pIdx);
        const tIdx = tf.tensor1d(transferIdx, 'int32');
        const cost = optimizer.minimize(
          () => {
            const loss = objective(privX, privY, tIdx);
            return plan.proximalMu > 0
              ? tf.add(loss, proximalTerm(weights, anchor, plan.proximalMu))
              : loss;
          },
          true,
          variables,
        );
        if (cost === null) throw new Error('the optimiser returned no cost');
        return cost;
      });
      // Straight-through: the optimiser's step, taken at the quantized point, moves the floats.
      floats.forEach((f, i) => {
        if (f) f.assign(tf.tidy(() => tf.add(f, tf.sub(weights[i]!, quantized[i]!))));
      });
      tf.dispose(quantized.filter((q) => q !== undefined));
      applyMask();
      // An asynchronous read: GPU backends cannot read synchronously, and the wait lets the
      // event loop serve the connection between steps.
      lossSum += (await loss.data())[0]!;
      loss.dispose();
      steps++;
    }
  }
  floats.forEach((f, i) => {
    if (f) weights[i]!.assign(f);
  });
  tf.dispose(floats.filter((f) => f !== undefined));
  optimizer.dispose();
  tf.dispose(anchor);
  if (masks) tf.dispose(masks);
  return { steps, meanLoss: steps > 0 ? lossSum / steps : 0 };
}
