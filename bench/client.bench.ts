import { performance } from 'node:perf_hooks';
import * as tf from '@tensorflow/tfjs-core';
import { readBreastCancer } from '../cli/demo/demo-data.js';
import { loadMnistDigits } from '../client/data-sources/mnist.js';
import { disposeLocalTensors, localTensors } from '../client/local-data.js';
import { trainLocally, type LocalData } from '../client/local-trainer.js';
import { TrainingPool } from '../client/training-pool.js';
import { SMALL_MNIST_CNN } from '../harness/students.js';
import {
  applyNormalizer,
  buildModel,
  fitNormalizer,
  readWeights,
  selectBackend,
  unwrap,
  type BackendChoice,
  type LabelledTable,
  type StudentSpec,
} from '../protocol/index.js';
import { recordResults, round } from './results.js';

/**
 * Local training throughput of the site client: the demo's MLP student and a small CNN, on
 * the wasm and cpu backends in the same run (and their ratio), then the CNN through the site's
 * worker pool with 1 and 2 worker threads (wasm has one thread in Node, so workers are its
 * parallelism), and the peak memory. Figures only, never pass/fail.
 */
const MLP: StudentSpec = { kind: 'mlp', inputs: 30, hidden: [8], classes: 2 };
const CNN: StudentSpec = SMALL_MNIST_CNN;
/** The same local plan for every measurement: distillation with a hot teacher. */
const PLAN = {
  temperature: 4,
  alpha: 0.7,
  batchSize: 64,
  learningRate: 0.001,
  labelSmoothing: 0,
  proximalMu: 0,
};

/** The table as the site trains on it, with a random hot teacher on the same rows. */
function localData(table: LabelledTable, spec: StudentSpec): LocalData {
  const inputs = applyNormalizer(table.inputs, fitNormalizer(table));
  const logits = tf.randomNormal([table.rows, spec.classes], 0, 2, 'float32', 7);
  const data = localTensors(
    {
      inputs,
      labels: table.labels,
      teacher: {
        kind: 'transfer-set',
        inputs,
        logits: logits.dataSync() as Float32Array,
        rows: table.rows,
      },
    },
    spec,
  );
  logits.dispose();
  return data;
}

/** Samples per second of distillation training (KD + CE) over `epochs` passes. */
async function samplesPerSecond(
  backend: BackendChoice,
  spec: StudentSpec,
  table: LabelledTable,
  epochs: number,
): Promise<number> {
  unwrap(await selectBackend(backend));
  const data = localData(table, spec);
  const model = buildModel(spec, 1);
  await trainLocally(model, data, { ...PLAN, epochs: 1, seed: 0 }); // warm-up: compile kernels, grow the heap
  const start = performance.now();
  await trainLocally(model, data, { ...PLAN, epochs, seed: 1 });
  const seconds = (performance.now() - start) / 1000;
  model.dispose();
  disposeLocalTensors(data);
  return (epochs * table.rows) / seconds;
}

/** CNN samples per second through the site's worker pool (wasm in each worker thread). */
async function poolSamplesPerSecond(
  workers: number,
  table: LabelledTable,
  epochs: number,
): Promise<number> {
  const spec = CNN;
  const pool = await TrainingPool.start({
    workers,
    backend: 'wasm',
    spec,
    inputs: table.inputs,
    labels: table.labels,
    teacher: {
      kind: 'transfer-set',
      inputs: table.inputs,
      logits: new Float32Array(table.rows * spec.classes),
      rows: table.rows,
    },
  });
  unwrap(await selectBackend('wasm'));
  const model = buildModel(spec, 1);
  const global = await readWeights(model, spec);
  model.dispose();
  await pool.train(global, { ...PLAN, epochs: 1, seed: 0 }); // warm-up
  const start = performance.now();
  await pool.train(global, { ...PLAN, epochs, seed: 1 });
  const seconds = (performance.now() - start) / 1000;
  await pool.close();
  return (epochs * table.rows) / seconds;
}

const cancer = await readBreastCancer();
const digits = loadMnistDigits({ perDigit: 60 });
const digitsSmall = loadMnistDigits({ perDigit: 6 });
const row = (model: string, backend: string, rate: string, ratio = ''): void =>
  console.log(`${model.padEnd(12)} | ${backend.padEnd(14)} | ${rate.padStart(9)} | ${ratio}`);
row('model', 'backend', 'samples/s', 'ratio');
const mlpWasm = await samplesPerSecond('wasm', MLP, cancer, 20);
const mlpCpu = await samplesPerSecond('cpu', MLP, cancer, 20);
row('MLP 30-8-2', 'wasm', mlpWasm.toFixed(0));
row('MLP 30-8-2', 'cpu', mlpCpu.toFixed(0), `wasm / cpu ${(mlpWasm / mlpCpu).toFixed(1)}x`);
const cnnWasm = await samplesPerSecond('wasm', CNN, digits, 2);
// The pure-JS cpu backend is two orders slower on convolutions: a tenth of the images.
const cnnCpu = await samplesPerSecond('cpu', CNN, digitsSmall, 1);
row('CNN 8-16-32', 'wasm', cnnWasm.toFixed(0));
row('CNN 8-16-32', 'cpu', cnnCpu.toFixed(1), `wasm / cpu ${(cnnWasm / cnnCpu).toFixed(0)}x`);
const oneWorker = await poolSamplesPerSecond(1, digits, 2);
const twoWorkers = await poolSamplesPerSecond(2, digits, 2);
row('CNN 8-16-32', 'wasm, 1 worker', oneWorker.toFixed(0));
row(
  'CNN 8-16-32',
  'wasm, 2 workers',
  twoWorkers.toFixed(0),
  `2 / 1 workers ${(twoWorkers / oneWorker).toFixed(2)}x`,
);
const peakMB = process.resourceUsage().maxRSS / 1024;
console.log(`peak memory of this process (main thread and workers): ${peakMB.toFixed(0)} MB`);
await recordResults('client', {
  mlp_wasm_samples_per_s: round(mlpWasm),
  mlp_cpu_samples_per_s: round(mlpCpu),
  mlp_wasm_vs_cpu: round(mlpWasm / mlpCpu, 1),
  cnn_wasm_samples_per_s: round(cnnWasm),
  cnn_cpu_samples_per_s: round(cnnCpu, 1),
  cnn_wasm_vs_cpu: round(cnnWasm / cnnCpu),
  cnn_pool_1_worker_samples_per_s: round(oneWorker),
  cnn_pool_2_workers_samples_per_s: round(twoWorkers),
  cnn_pool_2_vs_1_workers: round(twoWorkers / oneWorker, 2),
  peak_memory_mb: round(peakMB),
});
