import * as tf from '@tensorflow/tfjs-core';

/**
 * The site's objective (Hinton, Vinyals & Dean 2015, "Distilling the Knowledge in a Neural
 * Network"):
 *
 *   alpha * T^2 * KL(softmax(teacher / T) || softmax(student / T))   on the transfer set
 * + (1 - alpha) * CE(y, softmax(student))                            on the private data
 *
 * The T^2 factor keeps the soft term's gradients on the same scale as the hard term's as T
 * changes, since softening by T shrinks those gradients by 1/T^2.
 */
export interface DistillationBatch {
  /** Student logits on a transfer-set batch, [n, classes]. */
  readonly studentTransferLogits: tf.Tensor2D;
  /** Teacher logits on the same transfer inputs, [n, classes]. */
  readonly teacherTransferLogits: tf.Tensor2D;
  /** Student logits on a private batch, [m, classes]. */
  readonly studentPrivateLogits: tf.Tensor2D;
  /** One-hot labels of that private batch, [m, classes]. */
  readonly privateLabels: tf.Tensor2D;
  readonly temperature: number;
  readonly alpha: number;
  /** Label smoothing epsilon for the hard term (Szegedy et al. 2016); 0 for none. */
  readonly labelSmoothing?: number;
}

/** Mean over the batch of KL(softmax(teacher/T) || softmax(student/T)), in nats. */
export function softenedKl(
  teacherLogits: tf.Tensor2D,
  studentLogits: tf.Tensor2D,
  temperature: number,
): tf.Scalar {
  return tf.tidy(() => {
    const logP = tf.logSoftmax(tf.div(teacherLogits, temperature));
    const logQ = tf.logSoftmax(tf.div(studentLogits, temperature));
    return tf.mean(tf.sum(tf.mul(tf.exp(logP), tf.sub(logP, logQ)), -1)) as tf.Scalar;
  });
}

/**
 * Mean over the batch of -sum(y' * log softmax(logits)), in nats, where the one-hot labels are
 * smoothed to y' = (1 - epsilon) y + epsilon / classes.
 */
export function crossEntropy(labels: tf.Tensor2D, logits: tf.Tensor2D, smoothing = 0): tf.Scalar {
  return tf.tidy(() => {
    const classes = labels.shape[1];
    const target =
      smoothing > 0 ? tf.add(tf.mul(labels, 1 - smoothing), smoothing / classes) : labels;
    return tf.neg(tf.mean(tf.sum(tf.mul(target, tf.logSoftmax(logits)), -1))) as tf.Scalar;
  });
}

/**
 * FedProx's proximal term (Li et al. 2020, arXiv 1812.06127): (mu / 2) * ||w - w_global||^2,
 * which keeps local training near the global model on skewed data.
 */
export function proximalTerm(
  weights: readonly tf.Tensor[],
  global: readonly tf.Tensor[],
  mu: number,
): tf.Scalar {
  return tf.tidy(() => {
    const squares = weights.map((w, i) => tf.sum(tf.square(tf.sub(w, global[i]!))));
    return tf.mul(tf.addN(squares), mu / 2) as tf.Scalar;
  });
}

export function distillationLoss(batch: DistillationBatch): tf.Scalar {
  const { temperature: t, alpha } = batch;
  return tf.tidy(() => {
    const soft = tf.mul(
      softenedKl(batch.teacherTransferLogits, batch.studentTransferLogits, t),
      alpha * t * t,
    );
    const hard = tf.mul(
      crossEntropy(batch.privateLabels, batch.studentPrivateLogits, batch.labelSmoothing ?? 0),
      1 - alpha,
    );
    return tf.add(soft, hard);
  });
}

/**
 * Hidden-state distillation (FitNets, Romero et al. 2015; TinyBERT's hidden MSE): the student's
 * activations at a named layer, mapped by a learned linear projection to the teacher's feature
 * width, regressed onto the teacher's features: mean over batch and features of
 * (h_student P - h_teacher)^2. The projection is trained at the site and never sent.
 */
export function hiddenStateMse(
  studentHidden: tf.Tensor2D,
  projection: tf.Tensor2D,
  teacherFeatures: tf.Tensor2D,
): tf.Scalar {
  return tf.tidy(
    () =>
      tf.mean(
        tf.square(tf.sub(tf.matMul(studentHidden, projection), teacherFeatures)),
      ) as tf.Scalar,
  );
}

/**
 * The class-logits mode (Jeong et al. 2018, "Federated Distillation", arXiv 1811.11479): no
 * transfer set; each private example is distilled towards the teacher's mean logits for its
 * true class, a C x C matrix, so the soft term is
 * alpha * T^2 * KL(softmax(M[y] / T) || softmax(student / T)), plus (1 - alpha) * CE.
 */
export function classLogitsLoss(options: {
  readonly studentLogits: tf.Tensor2D;
  readonly labels: tf.Tensor2D;
  readonly classLogits: tf.Tensor2D;
  readonly temperature: number;
  readonly alpha: number;
  readonly labelSmoothing?: number;
}): tf.Scalar {
  const { studentLogits, labels, classLogits, temperature: t, alpha } = options;
  return tf.tidy(() => {
    // One-hot labels times the matrix pick each example's row of class-mean teacher logits.
    const teacher = tf.matMul(labels, classLogits) as tf.Tensor2D;
    const soft = tf.mul(softenedKl(teacher, studentLogits, t), alpha * t * t);
    const hard = tf.mul(
      crossEntropy(labels, studentLogits, options.labelSmoothing ?? 0),
      1 - alpha,
    );
    return tf.add(soft, hard) as tf.Scalar;
  });
}
