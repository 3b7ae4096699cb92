import * as tf from '@tensorflow/tfjs-core';
import {
  applyNormalizer,
  type LabelledTable,
  type Normalizer,
  type StudentSpec,
  type TeacherKnowledge,
} from '../protocol/index.js';
import type { LocalData } from './local-trainer.js';

/** The teacher's knowledge as plain arrays, inputs normalised as the student sees them. */
export type TeacherArrays =
  | {
      readonly kind: 'transfer-set';
      /** Normalised transfer-set inputs, rows x features. */
      readonly inputs: Float32Array;
      /** rows x classes. */
      readonly logits: Float32Array;
      readonly rows: number;
      /** The teacher's features, rows x width, when the run distils hidden states. */
      readonly hidden?: { readonly values: Float32Array; readonly width: number };
    }
  | { readonly kind: 'class-logits'; readonly matrix: Float32Array };

/**
 * What a site trains on, as plain arrays: normalised once, and cheap to post to a worker
 * thread (structured clone), where the same `localTensors` turns a shard of it into tensors.
 */
export interface LocalArrays {
  /** Normalised private rows, rows x features. */
  readonly inputs: Float32Array;
  readonly labels: Int32Array;
  readonly teacher: TeacherArrays;
}

/** A table's rows as a model sees them: normalised inputs and one-hot labels. */
export interface LabelledTensors {
  readonly inputs: tf.Tensor2D;
  readonly labels: tf.Tensor2D;
}

type Shape = Pick<StudentSpec, 'inputs' | 'classes'>;

/** The private training rows and the teacher's knowledge, normalised with the run's normalizer. */
export function localArrays(
  train: LabelledTable,
  knowledge: TeacherKnowledge,
  normalizer: Normalizer,
): LocalArrays {
  return {
    inputs: applyNormalizer(train.inputs, normalizer),
    labels: train.labels,
    teacher:
      knowledge.mode === 'class-logits'
        ? { kind: 'class-logits', matrix: knowledge.matrix }
        : {
            kind: 'transfer-set',
            inputs: applyNormalizer(knowledge.inputs, normalizer),
            logits: knowledge.logits,
            rows: knowledge.rows,
            ...(knowledge.hiddenWidth > 0
              ? { hidden: { values: knowledge.hidden, width: knowledge.hiddenWidth } }
              : {}),
          },
  };
}

/** Normalised inputs, rows x spec.inputs, with their labels one-hot over spec.classes. */
export function labelledTensors(
  inputs: Float32Array,
  labels: Int32Array,
  spec: Shape,
): LabelledTensors {
  return {
    inputs: tf.tensor2d(inputs, [labels.length, spec.inputs]),
    labels: tf.tidy(() =>
      tf.cast(tf.oneHot(tf.tensor1d(labels, 'int32'), spec.classes), 'float32'),
    ) as tf.Tensor2D,
  };
}

/** The tensors local training reads; the one preparation for the site thread and its workers. */
export function localTensors(arrays: LocalArrays, spec: Shape): LocalData {
  const { inputs, labels } = labelledTensors(arrays.inputs, arrays.labels, spec);
  const { teacher } = arrays;
  return {
    privateInputs: inputs,
    privateLabels: labels,
    teacher:
      teacher.kind === 'class-logits'
        ? {
            kind: 'class-logits',
            matrix: tf.tensor2d(teacher.matrix, [spec.classes, spec.classes]),
          }
        : {
            kind: 'transfer-set',
            inputs: tf.tensor2d(teacher.inputs, [teacher.rows, spec.inputs]),
            logits: tf.tensor2d(teacher.logits, [teacher.rows, spec.classes]),
            ...(teacher.hidden
              ? {
                  hidden: tf.tensor2d(teacher.hidden.values, [teacher.rows, teacher.hidden.width]),
                }
              : {}),
          },
  };
}

/** Frees what `localTensors` made. */
export function disposeLocalTensors(data: LocalData): void {
  const { teacher } = data;
  tf.dispose([
    data.privateInputs,
    data.privateLabels,
    ...(teacher.kind === 'class-logits'
      ? [teacher.matrix]
      : [teacher.inputs, teacher.logits, ...(teacher.hidden ? [teacher.hidden] : [])]),
  ]);
}
