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
 * Run as a process of its own by the webgpu test: trains an MLP, a CNN and the text bag on the
 * webgpu and cpu backends, and takes the text encoder's gradients on both, and prints one JSON
 * line, `{"unavailable": reason}` or `{"worst": {mlp, cnn, bag, encoder}}` (the largest absolute
 * weight difference; for the encoder, the largest gradient difference over the largest
 * gradient). A process of
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

/**
 * The encoder's gradients of one loss on one batch, as one vector. Its weights are not compared
 * after training: at initialisation attention is near uniform and the query and key gradients
 * are near zero (the backends' differ by about 1e-9), where rounding can decide a sign, and Adam
 * turns any non-zero gradient into a step of the full learning rate. Six steps left the two
 * backends' encoders up to 0.048 apart while each step's gradients agreed to float32 rounding.
 */
async function encoderGradients(backend: BackendChoice): Promise<Float32Array> {
  unwrap(await selectBackend(backend));
  const random = seededRandom(11);
  const rows = 48;
  const x = tf.tensor2d(
    Float32Array.from({ length: rows * TEXT.inputs }, () => Math.floor(random() * TEXT.vocabulary)),
    [rows, TEXT.inputs],
  );
  const y = tf.oneHot(
    tf.tensor1d(
      Array.from({ length: rows }, (_, i) => i % 3),
      'int32',
    ),
    3,
  );
  const model = buildModel(ENCODER, 5);
  const { value, grads } = tf.variableGrads(
    () => tf.losses.softmaxCrossEntropy(y, model.apply(x) as tf.Tensor) as tf.Scalar,
    model.trainableWeights.map((w) => w.read() as tf.Variable),
  );
  const parts = await Promise.all(Object.values(grads).map((g) => g.data()));
  const all = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    all.set(part, at);
    at += part.length;
  }
  tf.dispose([x, y, value, ...Object.values(grads)]);
  model.dispose();
  return all;
}

const probe = await selectBackend('webgpu');
if (!probe.ok) {
  console.log(JSON.stringify({ unavailable: probe.error.message }));
} else {
  const worst: Record<string, number> = {};
  for (const spec of [MLP, CNN, BAG]) {
    const gpu = await trainedWeights('webgpu', spec);
    const reference = await trainedWeights('cpu', spec);
    worst[spec.kind] = Math.max(
      ...gpu.map((w, i) => Math.max(...w.map((v, j) => Math.abs(v - reference[i]![j]!)))),
    );
  }
  const gpu = await encoderGradients('webgpu');
  const reference = await encoderGradients('cpu');
  const largest = Math.max(...reference.map(Math.abs));
  // Relative to the largest gradient: the encoder's are compared, not its trained weights.
  worst.encoder = Math.max(...gpu.map((v, i) => Math.abs(v - reference[i]!))) / largest;
  console.log(JSON.stringify({ worst }));
}
