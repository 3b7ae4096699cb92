import { fork } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { readBreastCancer } from '../cli/demo/demo-data.js';
import { loadMnistDigits } from '../client/data-sources/mnist.js';
import { trainLocally, type LocalData } from '../client/local-trainer.js';
import {
  applyNormalizer,
  buildModel,
  fitNormalizer,
  selectBackend,
  unwrap,
  type BackendChoice,
  type LabelledTable,
  type StudentSpec,
} from '../protocol/index.js';

/**
 * Local training throughput of the site client: the demo's MLP student and a small CNN, on
 * the wasm and cpu backends in the same run (and their ratio), then the CNN on wasm in 1 and 2
 * processes at once (wasm has one thread in Node, so processes are its parallelism), and the
 * peak memory of each. Figures only, never pass/fail.
 */
const MLP: StudentSpec = { kind: 'mlp', inputs: 30, hidden: [8], classes: 2 };
const CNN: StudentSpec = {
  kind: 'cnn',
  inputs: 784,
  image: [28, 28, 1],
  conv: [
    { filters: 8, kernel: 5 },
    { filters: 16, kernel: 5 },
  ],
  dense: [32],
  classes: 10,
};

function localData(table: LabelledTable, classes: number): LocalData {
  const inputs = tf.tensor2d(applyNormalizer(table.inputs, fitNormalizer(table)), [
    table.rows,
    table.features,
  ]);
  return {
    privateInputs: inputs,
    privateLabels: tf.cast(
      tf.oneHot(tf.tensor1d(table.labels, 'int32'), classes),
      'float32',
    ) as tf.Tensor2D,
    teacher: {
      kind: 'transfer-set',
      inputs,
      logits: tf.randomNormal([table.rows, classes], 0, 2, 'float32', 7) as tf.Tensor2D,
    },
  };
}

/** Samples per second of distillation training (KD + CE) over `epochs` passes. */
async function samplesPerSecond(
  backend: BackendChoice,
  spec: StudentSpec,
  table: LabelledTable,
  epochs: number,
): Promise<number> {
  unwrap(await selectBackend(backend));
  const data = localData(table, spec.classes);
  const model = buildModel(spec, 1);
  const plan = {
    temperature: 4,
    alpha: 0.7,
    batchSize: 64,
    learningRate: 0.001,
    labelSmoothing: 0,
    proximalMu: 0,
  };
  await trainLocally(model, data, { ...plan, epochs: 1, seed: 0 }); // warm-up: compile kernels, grow the heap
  const start = performance.now();
  await trainLocally(model, data, { ...plan, epochs, seed: 1 });
  const seconds = (performance.now() - start) / 1000;
  model.dispose();
  tf.dispose([
    data.privateInputs,
    data.privateLabels,
    data.teacher.kind === 'transfer-set' ? data.teacher.logits : data.teacher.matrix,
  ]);
  return (epochs * table.rows) / seconds;
}

const peakMb = (): number => process.resourceUsage().maxRSS / 1024;

if (process.argv[2] === 'worker') {
  // One process of the parallel measurement: its own shard of digits, reports its rate.
  const shard = Number(process.argv[3]);
  const rate = await samplesPerSecond(
    'wasm',
    CNN,
    loadMnistDigits({ perDigit: 60, offset: shard * 60 }),
    2,
  );
  process.send?.({ rate, peakMb: peakMb() });
} else {
  const cancer = await readBreastCancer();
  const digits = loadMnistDigits({ perDigit: 60 });
  const digitsSmall = loadMnistDigits({ perDigit: 6 });
  const row = (model: string, backend: string, rate: string, ratio = ''): void =>
    console.log(`${model.padEnd(12)} | ${backend.padEnd(7)} | ${rate.padStart(9)} | ${ratio}`);
  row('model', 'backend', 'samples/s', 'wasm / cpu');
  const mlpWasm = await samplesPerSecond('wasm', MLP, cancer, 20);
  const mlpCpu = await samplesPerSecond('cpu', MLP, cancer, 20);
  console.log(`MLP 30-8-2 | wasm    | ${mlpWasm.toFixed(0).padStart(9)} |`);
  console.log(
    `MLP 30-8-2 | cpu     | ${mlpCpu.toFixed(0).padStart(9)} | ${(mlpWasm / mlpCpu).toFixed(1)}x`,
  );
  const cnnWasm = await samplesPerSecond('wasm', CNN, digits, 2);
  // The pure-JS cpu backend is two orders slower on convolutions: a tenth of the images.
  const cnnCpu = await samplesPerSecond('cpu', CNN, digitsSmall, 1);
  console.log(`CNN 8-16-32 | wasm   | ${cnnWasm.toFixed(0).padStart(9)} |`);
  console.log(
    `CNN 8-16-32 | cpu    | ${cnnCpu.toFixed(1).padStart(9)} | ${(cnnWasm / cnnCpu).toFixed(0)}x`,
  );
  console.log(`peak memory of this process: ${peakMb().toFixed(0)} MB`);

  const self = fileURLToPath(import.meta.url);
  for (const processes of [1, 2]) {
    const started = performance.now();
    const results = await Promise.all(
      Array.from({ length: processes }, (_, shard) => {
        const child = fork(self, ['worker', String(shard)], {
          stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        });
        return new Promise<{ rate: number; peakMb: number }>((resolve) =>
          child.once('message', resolve),
        );
      }),
    );
    const wall = (performance.now() - started) / 1000;
    const total = results.reduce((n, r) => n + r.rate, 0);
    console.log(
      `CNN on wasm, ${processes} process(es) at once: ${total.toFixed(0)} samples/s in all ` +
        `(${results.map((r) => r.rate.toFixed(0)).join(' + ')}), peak ${Math.max(...results.map((r) => r.peakMb)).toFixed(0)} MB each, ${wall.toFixed(1)} s`,
    );
  }
}
