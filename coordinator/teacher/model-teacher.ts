import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {
  applyNormalizer,
  contentHash,
  FedistillError,
  toHex,
  unwrap,
  type StudentSpec,
} from '../../protocol/index.js';
import { modelSpecOf, teacherAt } from '../runs/run-spec.js';
import type { CoordinatorSetup } from '../coordinator-setup.js';
import type { ModelTeacherConfig } from './teacher-config.js';
import type { TeacherFeatures } from './teacher-knowledge.js';
import { loadTeacher, saveTeacher } from './teacher-store.js';
import { trainTeacher } from './teacher-trainer.js';

export type TeacherData = Pick<
  CoordinatorSetup,
  'config' | 'publicSplit' | 'publicLabels' | 'publicSplitBytes' | 'normalizer' | 'sodium' | 'text'
>;

export interface TeacherModel {
  readonly model: tfl.LayersModel;
  readonly spec: StudentSpec;
  readonly fromCache: boolean;
}

export interface TeacherOutputs {
  /** rows x classes on the public inputs. */
  readonly logits: Float32Array;
  readonly features?: TeacherFeatures;
}

/**
 * The teacher model, trained once on the public split and cached on disk under a key of its
 * data and settings, so that later runs (and `teacher export-logits`) load the same weights.
 */
export async function obtainTeacherModel(
  data: TeacherData,
  teacher: ModelTeacherConfig,
  seed: number,
  log: (line: string) => void,
): Promise<TeacherModel> {
  const { config, publicSplit, publicLabels, sodium } = data;
  if (!publicLabels) {
    // Refused with the run spec (public-labels.ts); here for callers that pass a config object.
    throw new FedistillError({
      code: 'config.invalid',
      message: "a teacher model trains on the public split's labels; this public split has none",
      path: ['data', 'publicLabels'],
    });
  }
  const { hidden, epochs, batchSize, learningRate } = teacher;
  const spec = unwrap(
    modelSpecOf(
      teacher,
      {
        inputs: publicSplit.features,
        classes: config.data.classes,
        vocabulary: data.text?.vocabulary,
      },
      teacherAt,
    ),
  );
  // The key holds only what shapes the trained weights (a CNN's layers are in the spec).
  const training = { hidden, epochs, batchSize, learningRate, seed };
  const keyMaterial = new Uint8Array([
    ...data.publicSplitBytes,
    ...new TextEncoder().encode(JSON.stringify({ spec, training })),
  ]);
  const dir = path.join(
    config.cacheDir,
    `teacher-${toHex(contentHash(sodium, keyMaterial)).slice(0, 32)}`,
  );
  const cached = await loadTeacher(dir);
  if (cached) {
    log(`teacher loaded from cache ${dir}`);
    return { model: cached, spec, fromCache: true };
  }
  log(`training the teacher on ${publicSplit.rows} public rows (${epochs} epochs)`);
  const inputs = normalizedInputs(data);
  const model = trainTeacher(spec, inputs, publicLabels, training);
  inputs.dispose();
  await saveTeacher(model, dir).catch((error: Error) =>
    log(`teacher not cached: ${error.message}`),
  );
  return { model, spec, fromCache: false };
}

/** The teacher's logits on the public inputs, and its last hidden layer's features if asked. */
export async function teacherOutputs(
  data: TeacherData,
  model: tfl.LayersModel,
  { withFeatures }: { readonly withFeatures: boolean },
): Promise<TeacherOutputs> {
  const inputs = normalizedInputs(data);
  const logitsTensor = model.predict(inputs) as tf.Tensor2D;
  const logits = (await logitsTensor.data()) as Float32Array;
  logitsTensor.dispose();
  if (!withFeatures) {
    inputs.dispose();
    return { logits };
  }
  const lastHidden = model.layers[model.layers.length - 2]!;
  const extractor = tfl.model({
    inputs: model.inputs,
    outputs: lastHidden.output as tfl.SymbolicTensor,
  });
  const featuresTensor = extractor.predict(inputs) as tf.Tensor2D;
  const features = {
    width: featuresTensor.shape[1],
    values: (await featuresTensor.data()) as Float32Array,
  };
  tf.dispose([featuresTensor, inputs]);
  return { logits, features };
}

function normalizedInputs({ publicSplit, normalizer }: TeacherData): tf.Tensor2D {
  return tf.tensor2d(applyNormalizer(publicSplit.inputs, normalizer), [
    publicSplit.rows,
    publicSplit.features,
  ]);
}
