import * as tf from '@tensorflow/tfjs-core';
import { trainLocally } from '../../client/local-trainer.js';
import {
  buildModel,
  readWeights,
  seededRandom,
  selectBackend,
  unwrap,
  type BackendChoice,
  type StudentSpec,
} from '../../protocol/index.js';

/**
 * Run as a process of its own by the webgpu test: trains an MLP, a CNN and the two text students
 * on the webgpu and cpu backends and prints one JSON line, `{"unavailable": reason}` or
 * `{"worst": {mlp, cnn, bag, encoder}}` (the largest absolute weight difference). A process of
 * its own, so that a driver that stops answering (Dawn on a software Vulkan adapter) can be
 * killed and the test can say so.
 */
const MLP: StudentSpec = { kind: 'mlp', inputs: 6, hidden: [16], classes: 3 };
const CNN: StudentSpec = {
  kind: 'cnn',
  inputs: 144,
  image: [12, 12, 1],
  conv: [{ filters: 4, kernel: 3 }],
  dense: [8],
  classes: 3,
};
/** The text students, on rows of 10 token ids from a vocabulary of 30. */
const TEXT = { inputs: 10, vocabulary: 30, classes: 3 } as const;
const BAG: StudentSpec = { kind: 'bag', ...TEXT, embedding: 8, hidden: [6] };
const ENCODER: StudentSpec = {
  kind: 'encoder',
  ...TEXT,
  dimension: 8,
  heads: 2,
  layers: 1,
  feedForward: 12,
};

async function trainedWeights(backend: BackendChoice, spec: StudentSpec): Promise<Float32Array[]> {
  unwrap(await selectBackend(backend));
  const random = seededRandom(11);
  const rows = 48;
  // Token ids for a text student, values in [-1, 1) for the others.
  const value =
    spec.kind === 'bag' || spec.kind === 'encoder'
      ? () => Math.floor(random() * spec.vocabulary)
      : () => random() * 2 - 1;
  const x = tf.tensor2d(Float32Array.from({ length: rows * spec.inputs }, value), [
    rows,
    spec.inputs,
  ]);
  const y = tf.cast(
    tf.oneHot(
      tf.tensor1d(
        Array.from({ length: rows }, (_, i) => i % 3),
        'int32',
      ),
      3,
    ),
    'float32',
  ) as tf.Tensor2D;
  const teacher = tf.tensor2d(
    Float32Array.from({ length: rows * 3 }, () => random() * 4 - 2),
    [rows, 3],
  );
  const model = buildModel(spec, 5);
  await trainLocally(
    model,
    {
      privateInputs: x,
      privateLabels: y,
      teacher: { kind: 'transfer-set', inputs: x, logits: teacher },
    },
    {
      temperature: 3,
      alpha: 0.6,
      epochs: 2,
      batchSize: 16,
      learningRate: 0.01,
      labelSmoothing: 0.1,
      proximalMu: 0.01,
      seed: 2,
    },
  );
  const weights = (await readWeights(model, spec)).map((t) => t.values);
  model.dispose();
  tf.dispose([x, y, teacher]);
  return weights;
}

const probe = await selectBackend('webgpu');
if (!probe.ok) {
  console.log(JSON.stringify({ unavailable: probe.error.message }));
} else {
  const worst: Record<string, number> = {};
  for (const spec of [MLP, CNN, BAG, ENCODER]) {
    const gpu = await trainedWeights('webgpu', spec);
    const reference = await trainedWeights('cpu', spec);
    worst[spec.kind] = Math.max(
      ...gpu.map((w, i) => Math.max(...w.map((v, j) => Math.abs(v - reference[i]![j]!)))),
    );
  }
  console.log(JSON.stringify({ worst }));
}
