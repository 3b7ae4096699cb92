import { performance } from 'node:perf_hooks';
import * as tf from '@tensorflow/tfjs-core';
import { disposeLocalTensors, localTensors } from '../client/local-data.js';
import { trainLocally } from '../client/local-trainer.js';
import {
  buildModel,
  parameterCount,
  seededRandom,
  selectBackend,
  unwrap,
  type BackendChoice,
  type StudentSpec,
} from '../protocol/index.js';
import { recordResults, round } from './results.js';

/**
 * Local training throughput of the text students at the size a mail run would use (128 token
 * ids a row, a 4,000-id vocabulary), on wasm, the backend every machine has: rows per second for
 * one distillation epoch, and the parameters. (The pure-JavaScript cpu backend trains the encoder
 * too slowly to time.) Figures only, never pass/fail.
 */
const SIZE = { inputs: 128, vocabulary: 4000, classes: 2 } as const;
const STUDENTS: Record<string, StudentSpec> = {
  bag: { kind: 'bag', ...SIZE, embedding: 32, hidden: [16] },
  encoder: { kind: 'encoder', ...SIZE, dimension: 32, heads: 2, layers: 1, feedForward: 64 },
};
const ROWS = 512;

/** Token rows with a Zipf-like id distribution and random lengths, and a hot random teacher. */
function tokenRows(seed: number): {
  inputs: Float32Array;
  labels: Int32Array;
  logits: Float32Array;
} {
  const random = seededRandom(seed);
  const inputs = new Float32Array(ROWS * SIZE.inputs);
  for (let r = 0; r < ROWS; r++) {
    const length = 20 + Math.floor(random() * (SIZE.inputs - 20));
    for (let i = 0; i < length; i++) {
      inputs[r * SIZE.inputs + i] = 2 + Math.floor((SIZE.vocabulary - 2) * random() ** 3);
    }
  }
  const labels = Int32Array.from({ length: ROWS }, () => (random() < 0.3 ? 1 : 0));
  const logits = Float32Array.from({ length: ROWS * 2 }, () => (random() - 0.5) * 8);
  return { inputs, labels, logits };
}

async function rowsPerSecond(spec: StudentSpec): Promise<number> {
  const { inputs, labels, logits } = tokenRows(1);
  const data = localTensors(
    { inputs, labels, teacher: { kind: 'transfer-set', inputs, logits, rows: ROWS } },
    spec,
  );
  const model = buildModel(spec, 1);
  const plan = {
    temperature: 4,
    alpha: 0.7,
    batchSize: 64,
    learningRate: 0.001,
    labelSmoothing: 0,
    proximalMu: 0,
    epochs: 1,
  };
  // The first epoch warms the kernels up; the second is timed.
  await trainLocally(model, data, { ...plan, seed: 1 });
  const started = performance.now();
  await trainLocally(model, data, { ...plan, seed: 2 });
  const seconds = (performance.now() - started) / 1000;
  model.dispose();
  disposeLocalTensors(data);
  return ROWS / seconds;
}

const figures: Record<string, number> = {};
for (const backend of ['wasm'] as BackendChoice[]) {
  unwrap(await selectBackend(backend));
  for (const [name, spec] of Object.entries(STUDENTS)) {
    const speed = await rowsPerSecond(spec);
    figures[`${name}_${backend}_rows_per_s`] = round(speed, 1);
    console.log(
      `${name} on ${backend}: ${round(speed, 1)} private rows a second (with as many transfer rows)`,
    );
  }
}
for (const [name, spec] of Object.entries(STUDENTS)) {
  figures[`${name}_parameters`] = parameterCount(spec);
  console.log(`${name}: ${parameterCount(spec)} parameters`);
}
tf.disposeVariables();
await recordResults('text_students', figures);
