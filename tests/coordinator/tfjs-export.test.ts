import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { readBreastCancer, splitForDemo } from '../../cli/demo/demo-data.js';
import { exportSizes } from '../../coordinator/compression/export-sizes.js';
import type { ModelInspection } from '../../coordinator/compression/model-inspect.js';
import { exportTfjsModel, SHARD_BYTES } from '../../coordinator/compression/tfjs-export.js';
import {
  loadedValues,
  type ExportFormat,
  type WeightsManifestEntry,
} from '../../coordinator/compression/weight-quantization.js';
import { trainTeacher } from '../../coordinator/teacher/teacher-trainer.js';
import {
  applyNormalizer,
  buildModel,
  decodeTensor,
  encodeTensor,
  fitNormalizer,
  fromFloat16Bits,
  readWeights,
  seededRandom,
  toFloat16Bits,
  writeWeights,
  type CnnSpec,
  type MlpSpec,
  type NamedTensor,
} from '../../protocol/index.js';

const MAIN = fileURLToPath(new URL('../../cli/main.js', import.meta.url));
const execute = promisify(execFile);

/** A static file server on loopback: the plain HTTP path a browser would load the model by. */
async function serve(root: string): Promise<{ server: Server; url: string }> {
  const server = createServer((request, response) => {
    const file = path.join(root, decodeURIComponent(new URL(request.url!, 'http://x').pathname));
    readFile(file).then(
      (bytes) => response.writeHead(200).end(bytes),
      () => response.writeHead(404).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return { server, url: `http://127.0.0.1:${port}` };
}

/** The loaded model's weights by name, read with tfjs alone. */
async function loadedWeights(model: tf.LayersModel): Promise<Map<string, Float32Array>> {
  const values = await Promise.all(model.getWeights().map((w) => w.data<'float32'>()));
  return new Map(model.weights.map((w, i) => [w.originalName, values[i]!]));
}

async function argmax(model: tf.LayersModel, inputs: tf.Tensor2D): Promise<Int32Array> {
  const predicted = tf.tidy(() => tf.argMax(model.predict(inputs) as tf.Tensor2D, -1));
  const values = (await predicted.data()) as Int32Array;
  predicted.dispose();
  return values;
}

const agreement = (a: ArrayLike<number>, b: ArrayLike<number>): number =>
  Array.from(a).filter((v, i) => v === b[i]).length / a.length;

/** Zeroes the half of each kernel with the smallest magnitudes (ties by index); biases stay. */
function pruneHalf(tensor: NamedTensor): NamedTensor {
  if (tensor.shape.length < 2) return tensor;
  const values = tensor.values.slice();
  const order = Array.from(values.keys()).sort(
    (a, b) => Math.abs(values[a]!) - Math.abs(values[b]!) || a - b,
  );
  for (const i of order.slice(0, Math.floor(values.length / 2))) values[i] = 0;
  return { ...tensor, values };
}

async function manifestOf(dir: string): Promise<Map<string, WeightsManifestEntry>> {
  const json = JSON.parse(await readFile(path.join(dir, 'model.json'), 'utf8')) as {
    weightsManifest: { weights: WeightsManifestEntry[] }[];
  };
  return new Map(json.weightsManifest.flatMap((g) => g.weights).map((e) => [e.name, e]));
}

before(async () => {
  await tf.setBackend('cpu');
});

describe('weights decode as the tfjs loader decodes them (tfjs-core io_utils_test.ts vectors)', () => {
  const codes = new Uint8Array([0, 48, 255]);
  const uint8 = { dtype: 'uint8', scale: 0.1, min: -1 } as const;

  it('uint8 [0, 48, 255] with scale 0.1, min -1 is [-1, 3.8, 24.5] in float32, as tfjs gives', async () => {
    const entry: WeightsManifestEntry = {
      name: 'w',
      shape: [3],
      dtype: 'float32',
      quantization: uint8,
    };
    const expected = Float32Array.from([-1, 3.8, 24.5]);
    assert.deepEqual(loadedValues(entry, codes), expected);
    const byTfjs = tf.io.decodeWeights(codes.slice().buffer, [entry]).w!;
    assert.deepEqual(await byTfjs.data(), expected);
  });

  it('the same codes for an int32 weight round to [-1, 4, 25]', () => {
    const entry: WeightsManifestEntry = {
      name: 'w',
      shape: [3],
      dtype: 'int32',
      quantization: uint8,
    };
    assert.deepEqual(loadedValues(entry, codes), Int32Array.from([-1, 4, 25]));
  });

  it('float16 [13312, 14336, 14848] is [0.25, 0.5, 0.75]', () => {
    const halves = new Uint8Array(Uint16Array.from([13312, 14336, 14848]).buffer);
    const entry: WeightsManifestEntry = {
      name: 'w',
      shape: [3],
      dtype: 'float32',
      quantization: { dtype: 'float16' },
    };
    assert.deepEqual(loadedValues(entry, halves), Float32Array.from([0.25, 0.5, 0.75]));
  });
});

describe('a trained, half-pruned breast-cancer student exported and loaded by plain @tensorflow/tfjs', () => {
  const spec: MlpSpec = { kind: 'mlp', inputs: 30, hidden: [16], classes: 2 };
  const formats: readonly ExportFormat[] = ['float32', 'float16', 'int8'];
  let dir: string;
  let server: Server;
  let url: string;
  let pruned: NamedTensor[];
  let original: NamedTensor[];
  let heldOut: tf.Tensor2D;
  let heldOutLabels: Int32Array;
  let fp32Predictions: Int32Array;
  const loaded = new Map<ExportFormat, tf.LayersModel>();

  before(async () => {
    const split = splitForDemo(await readBreastCancer(), {
      sites: 1,
      seed: 11,
      heldOutFraction: 0.2,
      publicFraction: 0.2,
      dirichletAlpha: 0.5,
      minSiteRows: 20,
    });
    const train = split.sites[0]!;
    const normalizer = fitNormalizer(train);
    const inputs = tf.tensor2d(applyNormalizer(train.inputs, normalizer), [
      train.rows,
      train.features,
    ]);
    const student = trainTeacher(spec, inputs, train.labels, {
      epochs: 40,
      batchSize: 32,
      learningRate: 0.01,
      seed: 5,
    });
    inputs.dispose();
    original = await readWeights(student, spec);
    pruned = original.map(pruneHalf);
    writeWeights(student, pruned);
    heldOut = tf.tensor2d(applyNormalizer(split.heldOut.inputs, normalizer), [
      split.heldOut.rows,
      split.heldOut.features,
    ]);
    heldOutLabels = split.heldOut.labels;
    fp32Predictions = await argmax(student, heldOut);
    student.dispose();

    dir = await mkdtemp(path.join(tmpdir(), 'fedistill-export-'));
    ({ server, url } = await serve(dir));
    for (const format of formats) {
      const exported = await exportTfjsModel(path.join(dir, format), spec, pruned, format);
      assert.ok(exported.ok, exported.ok ? '' : exported.error.message);
      loaded.set(format, await tf.loadLayersModel(`${url}/${format}/model.json`));
    }
  });

  after(async () => {
    loaded.forEach((model) => model.dispose());
    heldOut?.dispose();
    server?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('the pruned fp32 student is still a classifier: held-out accuracy at least 0.9', () => {
    assert.ok(
      agreement(fp32Predictions, heldOutLabels) >= 0.9,
      `${agreement(fp32Predictions, heldOutLabels)}`,
    );
  });

  it('every format agrees with the fp32 student on at least 99% of the held-out rows', async () => {
    for (const format of formats) {
      const share = agreement(await argmax(loaded.get(format)!, heldOut), fp32Predictions);
      assert.ok(share >= 0.99, `${format}: argmax agreement ${share} on ${heldOut.shape[0]} rows`);
    }
  });

  it('int8: every kernel weight within scale/2 of fp32, pruned weights exactly 0, biases float32', async () => {
    const weights = await loadedWeights(loaded.get('int8')!);
    const manifest = await manifestOf(path.join(dir, 'int8'));
    for (const tensor of pruned) {
      const values = weights.get(tensor.name)!;
      const quantization = manifest.get(tensor.name)!.quantization;
      if (tensor.shape.length === 1) {
        assert.equal(quantization, undefined, `${tensor.name} is stored float32`);
        assert.deepEqual(values, tensor.values);
        continue;
      }
      assert.ok(quantization?.dtype === 'uint8', `${tensor.name} is stored uint8`);
      const { scale, min } = quantization;
      assert.equal(min, -128 * scale);
      assert.ok(scale > 0);
      tensor.values.forEach((w, i) => {
        if (w === 0) assert.ok(Object.is(values[i], 0), `${tensor.name}[${i}]: ${values[i]}`);
        assert.ok(Math.abs(values[i]! - w) <= scale / 2, `${tensor.name}[${i}]`);
      });
      // And tfjs gives bit for bit what the project's own int8 codec decodes.
      const wire = encodeTensor(tensor, 'int8');
      assert.ok(wire.ok);
      const decoded = decodeTensor(wire.value);
      assert.ok(decoded.ok);
      assert.deepEqual(values, decoded.value.values);
    }
  });

  it('float16: every weight is its binary16 rounding (relative error at most 2^-11); float32 is exact', async () => {
    const halves = await loadedWeights(loaded.get('float16')!);
    const exact = await loadedWeights(loaded.get('float32')!);
    for (const tensor of pruned) {
      const values = halves.get(tensor.name)!;
      tensor.values.forEach((w, i) => {
        assert.equal(values[i], fromFloat16Bits(toFloat16Bits(w)));
        assert.ok(Math.abs(values[i]! - w) <= Math.max(Math.abs(w) * 2 ** -11, 2 ** -25));
      });
      assert.deepEqual(exact.get(tensor.name), tensor.values);
    }
  });

  it('model inspect reports the parameters, sparsity and bytes computed here independently', async () => {
    const int8Dir = path.join(dir, 'int8');
    const { stdout } = await execute(process.execPath, [
      MAIN,
      'model',
      'inspect',
      int8Dir,
      '--json',
    ]);
    const inspection = JSON.parse(stdout) as ModelInspection;
    // 30 x 16 + 16 + 16 x 2 + 2.
    assert.equal(inspection.parameters, 530);
    const weights = await loadedWeights(loaded.get('int8')!);
    const zeros = [...weights.values()].reduce((n, v) => n + v.filter((x) => x === 0).length, 0);
    assert.equal(inspection.zeros, zeros);
    assert.ok(zeros >= 248, `half of each kernel (240 + 16) was pruned; ${zeros} zeros`);
    assert.equal(inspection.sparsity, zeros / 530);
    const files = await readdir(int8Dir);
    const sizes = await Promise.all(files.map((f) => stat(path.join(int8Dir, f))));
    assert.equal(
      inspection.fileBytes,
      sizes.reduce((n, s) => n + s.size, 0),
    );
    // 512 kernel values of one byte, 18 float32 biases.
    assert.equal(
      inspection.layers.reduce((n, l) => n + l.bytes, 0),
      512 + 18 * 4,
    );
    assert.deepEqual(
      inspection.layers.map((l) => [l.name, l.className, l.parameters]),
      [
        ['hidden_1', 'Dense', 496],
        ['logits', 'Dense', 34],
      ],
    );
    const text = (await execute(process.execPath, [MAIN, 'model', 'inspect', int8Dir])).stdout;
    assert.match(text, /hidden_1 \(Dense\): 496 parameters/);
    assert.match(text, /hidden_1\/kernel \[30, 16\]: 480 parameters, uint8 \(scale /);
    assert.match(text, new RegExp(`total: 530 parameters, ${zeros} exact zeros`));
  });

  it('export sizes: int8 and float16 weights take 1/4 (kernels) and 1/2 of float32, and pruning shrinks the gzipped int8', async () => {
    const sizes = await exportSizes(spec, pruned);
    assert.ok(sizes.ok, sizes.ok ? '' : sizes.error.message);
    const { tfjs } = sizes.value;
    assert.equal(tfjs.float32.weights_bytes, 530 * 4);
    assert.equal(tfjs.float16.weights_bytes, 530 * 2);
    assert.equal(tfjs.int8.weights_bytes, 512 + 18 * 4);
    assert.equal(tfjs.float32.max_weight_error, 0);
    assert.equal(sizes.value.zeros, 240 + 16);
    const dense = await exportSizes(spec, original);
    assert.ok(dense.ok);
    assert.equal(dense.value.tfjs.int8.weights_bytes, tfjs.int8.weights_bytes);
    assert.ok(
      tfjs.int8.weights_gzip_bytes < dense.value.tfjs.int8.weights_gzip_bytes,
      `gzipped int8: pruned ${tfjs.int8.weights_gzip_bytes}, dense ${dense.value.tfjs.int8.weights_gzip_bytes}`,
    );
  });
});

describe('other students and refusals', () => {
  let dir: string;
  let server: Server;
  let url: string;

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'fedistill-export-'));
    ({ server, url } = await serve(dir));
  });

  after(async () => {
    server?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('a CNN exported in float32 loads and predicts exactly as the student; in int8 its conv kernel is the codec int8', async () => {
    const spec: CnnSpec = {
      kind: 'cnn',
      inputs: 64,
      image: [8, 8, 1],
      conv: [{ filters: 4, kernel: 3 }],
      dense: [8],
      classes: 3,
    };
    const student = buildModel(spec, 3);
    const weights = await readWeights(student, spec);
    const random = seededRandom(2);
    const inputs = tf.tensor2d(Float32Array.from({ length: 5 * 64 }, random), [5, 64]);
    for (const format of ['float32', 'int8'] as const) {
      const exported = await exportTfjsModel(
        path.join(dir, `cnn-${format}`),
        spec,
        weights,
        format,
      );
      assert.ok(exported.ok, exported.ok ? '' : exported.error.message);
    }
    const fp32 = await tf.loadLayersModel(`${url}/cnn-float32/model.json`);
    const expected = tf.tidy(() => student.predict(inputs) as tf.Tensor);
    const got = tf.tidy(() => fp32.predict(inputs) as tf.Tensor);
    assert.deepEqual(await got.data(), await expected.data());
    const int8 = await tf.loadLayersModel(`${url}/cnn-int8/model.json`);
    const kernel = (await loadedWeights(int8)).get('conv_1/kernel')!;
    const wire = encodeTensor(weights[0]!, 'int8');
    assert.ok(wire.ok);
    const decoded = decodeTensor(wire.value);
    assert.ok(decoded.ok);
    assert.deepEqual(kernel, decoded.value.values);
    tf.dispose([inputs, expected, got]);
    [student, fp32, int8].forEach((m) => m.dispose());
  });

  it('weights over 4 MiB go into 4 MiB shards, cut inside a tensor, and load back exactly', async () => {
    const spec: MlpSpec = { kind: 'mlp', inputs: 1100, hidden: [1000], classes: 2 };
    const random = seededRandom(9);
    const weights = [
      { name: 'hidden_1/kernel', shape: [1100, 1000] },
      { name: 'hidden_1/bias', shape: [1000] },
      { name: 'logits/kernel', shape: [1000, 2] },
      { name: 'logits/bias', shape: [2] },
    ].map((slot) => ({
      ...slot,
      values: Float32Array.from(
        { length: slot.shape.reduce((a, b) => a * b) },
        () => random() - 0.5,
      ),
    }));
    const exported = await exportTfjsModel(path.join(dir, 'large'), spec, weights, 'float32');
    assert.ok(exported.ok, exported.ok ? '' : exported.error.message);
    const total = (1100 * 1000 + 1000 + 2000 + 2) * 4;
    assert.deepEqual(exported.value.files.slice(1), [
      { name: 'group1-shard1of2.bin', bytes: SHARD_BYTES },
      { name: 'group1-shard2of2.bin', bytes: total - SHARD_BYTES },
    ]);
    const model = await tf.loadLayersModel(`${url}/large/model.json`);
    const back = await loadedWeights(model);
    for (const tensor of weights) assert.deepEqual(back.get(tensor.name), tensor.values);
    model.dispose();
  });

  it('weights that do not fit the spec are refused with update.shape_mismatch', async () => {
    const spec: MlpSpec = { kind: 'mlp', inputs: 4, hidden: [], classes: 2 };
    const result = await exportTfjsModel(
      path.join(dir, 'wrong'),
      spec,
      [{ name: 'logits/kernel', shape: [4, 3], values: new Float32Array(12) }],
      'int8',
    );
    assert.ok(!result.ok);
    assert.equal(result.error.code, 'update.shape_mismatch');
  });

  it('model inspect refuses a shard shorter than the manifest says', async () => {
    const spec: MlpSpec = { kind: 'mlp', inputs: 4, hidden: [], classes: 2 };
    const target = path.join(dir, 'truncated');
    const weights = [
      { name: 'logits/kernel', shape: [4, 2], values: new Float32Array(8).fill(0.5) },
      { name: 'logits/bias', shape: [2], values: new Float32Array(2) },
    ];
    assert.ok((await exportTfjsModel(target, spec, weights, 'int8')).ok);
    await writeFile(path.join(target, 'group1-shard1of1.bin'), new Uint8Array(9));
    const refused = await execute(process.execPath, [MAIN, 'model', 'inspect', target]).then(
      () => assert.fail('inspect accepted a truncated shard'),
      (error: { code: number; stderr: string }) => error,
    );
    assert.equal(refused.code, 1);
    assert.match(
      refused.stderr,
      /data\.invalid: group1-shard1of1\.bin hold 9 bytes; the manifest describes 16/,
    );
  });
});
