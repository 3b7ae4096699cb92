import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import * as tfjs from '@tensorflow/tfjs';
import * as tf from '@tensorflow/tfjs-core';
import { InThreadTrainer } from '../../../client/in-thread-trainer.js';
import { trainLocally, type LocalData } from '../../../client/local-trainer.js';
import { weightMask } from '../../../coordinator/compression/magnitude-pruning.js';
import { exportTfjsModel } from '../../../coordinator/compression/tfjs-export.js';
import { loadExportedModel } from '../../support/exported-model.js';
import {
  buildModel,
  parameterCount,
  readWeights,
  seededRandom,
  selectBackend,
  studentSpecSchema,
  unwrap,
  weightLayout,
  type StudentSpec,
} from '../../../protocol/index.js';

const BAG: StudentSpec = {
  kind: 'bag',
  inputs: 8,
  vocabulary: 20,
  embedding: 6,
  hidden: [5],
  classes: 2,
};
const ENCODER: StudentSpec = {
  kind: 'encoder',
  inputs: 8,
  vocabulary: 20,
  dimension: 8,
  heads: 2,
  layers: 2,
  feedForward: 12,
  classes: 2,
};

/**
 * Rows of 8 token ids: a class-1 row holds the id 3 somewhere, a class-0 row the id 4; the rest
 * are ids 5..19, then padding (0) after a random length.
 */
function toyRows(rows: number, seed: number): { x: tf.Tensor2D; y: Int32Array } {
  const random = seededRandom(seed);
  const ids = new Float32Array(rows * 8);
  const labels = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    labels[r] = random() < 0.5 ? 0 : 1;
    const length = 3 + Math.floor(random() * 6);
    for (let i = 0; i < length; i++) ids[r * 8 + i] = 5 + Math.floor(random() * 15);
    ids[r * 8 + Math.floor(random() * length)] = labels[r] === 1 ? 3 : 4;
  }
  return { x: tf.tensor2d(ids, [rows, 8]), y: labels };
}

function accuracy(predict: (x: tf.Tensor2D) => tf.Tensor, rows: { x: tf.Tensor2D; y: Int32Array }) {
  const predicted = tf.tidy(() => tf.argMax(predict(rows.x), -1).dataSync());
  return Array.from(predicted).filter((p, i) => p === rows.y[i]).length / rows.y.length;
}

describe('text students', () => {
  before(async () => {
    unwrap(await selectBackend('wasm'));
  });

  it('lays out the bag as embeddings then dense layers', () => {
    assert.deepEqual(
      weightLayout(BAG).map((s) => `${s.name} ${s.shape.join('x')}`),
      [
        'embedding/embeddings 20x6',
        'hidden_1/kernel 6x5',
        'hidden_1/bias 5',
        'logits/kernel 5x2',
        'logits/bias 2',
      ],
    );
    // 120 + 30 + 5 + 10 + 2
    assert.equal(parameterCount(BAG), 167);
  });

  it('builds exactly the weights each layout promises, in its order', () => {
    const oneHead: StudentSpec = { ...ENCODER, heads: 1, layers: 1 };
    for (const spec of [BAG, ENCODER, oneHead]) {
      const model = buildModel(spec, 1);
      assert.deepEqual(
        model.weights.map((w) => `${w.originalName} ${w.shape.join('x')}`),
        weightLayout(spec).map((s) => `${s.name} ${s.shape.join('x')}`),
        spec.kind,
      );
      model.dispose();
    }
    // Embedding 160, position 3x8x8 + 8, per block: 6 heads' 8x4 + 4, attention 72,
    // norms 32, feed-forward 8x12 + 12 + 12x8 + 8, then logits 18.
    assert.equal(parameterCount(ENCODER), 160 + 200 + 2 * (216 + 72 + 32 + 108 + 104) + 18);
  });

  it('refuses an encoder whose dimension does not split into its heads', () => {
    const parsed = studentSpecSchema.safeParse({ ...ENCODER, heads: 3 });
    assert.ok(!parsed.success);
    assert.deepEqual(parsed.error.issues[0]!.path, ['heads']);
  });

  for (const spec of [BAG, ENCODER]) {
    it(`${spec.kind}: trains on the wasm backend to find the class token, from chance`, async () => {
      const train = toyRows(400, 1);
      const test = toyRows(200, 2);
      const model = buildModel(spec, 3);
      const before = accuracy((x) => model.predict(x) as tf.Tensor, test);
      const data: LocalData = {
        privateInputs: train.x,
        privateLabels: tf.oneHot(tf.tensor1d(train.y, 'int32'), 2).toFloat() as tf.Tensor2D,
        teacher: { kind: 'transfer-set', inputs: train.x, logits: tf.zeros([400, 2]) },
      };
      await trainLocally(model, data, {
        temperature: 1,
        alpha: 0,
        epochs: spec.kind === 'bag' ? 15 : 5,
        batchSize: 32,
        learningRate: 0.01,
        labelSmoothing: 0,
        proximalMu: 0,
        seed: 1,
      });
      const after = accuracy((x) => model.predict(x) as tf.Tensor, test);
      assert.ok(before < 0.7, `untrained ${before}`);
      assert.ok(after > 0.9, `${spec.kind} trained to ${after} (from ${before})`);
      model.dispose();
    });
  }

  it('prunes its embeddings with the kernels, and exports what stock tf.loadLayersModel loads', async () => {
    const model = buildModel(ENCODER, 5);
    const weights = await readWeights(model, ENCODER);
    const mask = weightMask(weights, 0.5);
    const embeddingMask = mask.find((m) => m.name === 'embedding/embeddings')!;
    assert.ok(embeddingMask.values.includes(0), 'some embeddings are pruned');
    const pruned = weights.map((w, i) => ({
      ...w,
      values: w.values.map((v, j) => v * mask[i]!.values[j]!),
    }));
    const dir = await mkdtemp(path.join(tmpdir(), 'fedistill-text-export-'));
    const test = toyRows(50, 4);
    const ids = await test.x.array();
    for (const format of ['float32', 'int8'] as const) {
      const exported = unwrap(
        await exportTfjsModel(path.join(dir, format), ENCODER, pruned, format),
      );
      const loaded = await loadExportedModel(exported.dir);
      const reference = buildModel(ENCODER, 0);
      reference.setWeights(pruned.map((w) => tf.tensor(w.values, [...w.shape])));
      const expected = (reference.predict(tfjs.tensor2d(ids)) as tf.Tensor).dataSync();
      const got = (loaded.predict(tfjs.tensor2d(ids)) as tfjs.Tensor).dataSync();
      const worst = Math.max(...Array.from(got, (v, i) => Math.abs(v - expected[i]!)));
      assert.ok(
        worst < (format === 'float32' ? 1e-5 : 0.05),
        `${format}: logits differ by ${worst}`,
      );
    }
    model.dispose();
  });

  it('distils hidden states from its pooled vector, and refuses a per-token layer', async () => {
    const rows = toyRows(64, 6);
    const inputs = rows.x.dataSync() as Float32Array;
    const plan = {
      temperature: 2,
      alpha: 0.5,
      epochs: 2,
      batchSize: 16,
      learningRate: 0.01,
      labelSmoothing: 0,
      proximalMu: 0,
      seed: 4,
    };
    const random = seededRandom(9);
    // Teacher features of width 5 per transfer row: only their pull on the student matters here.
    const hidden = { values: Float32Array.from({ length: 64 * 5 }, () => random()), width: 5 };
    const trained = async (spec: StudentSpec, layer?: string) => {
      const model = buildModel(spec, 7);
      const global = await readWeights(model, spec);
      model.dispose();
      const trainer = new InThreadTrainer({
        spec,
        data: {
          inputs,
          labels: rows.y,
          teacher: {
            kind: 'transfer-set',
            inputs,
            logits: new Float32Array(128),
            rows: 64,
            hidden,
          },
        },
      });
      try {
        return await trainer.train(global, {
          ...plan,
          ...(layer ? { hiddenState: { layer, weight: 5 } } : {}),
        });
      } finally {
        trainer.close();
      }
    };
    const plain = unwrap(await trained(BAG));
    const distilled = unwrap(await trained(BAG, 'pool'));
    assert.notDeepEqual(distilled, plain, 'the hidden-state term changes what the bag learns');
    const perToken = await trained(ENCODER, 'block1_norm2');
    assert.ok(!perToken.ok);
    assert.equal(perToken.error.code, 'schema.invalid');
    assert.match(perToken.error.message, /block1_norm2 gives \[8, 8\] per row/);
    assert.ok((await trained(ENCODER, 'pool')).ok);
  });
});
