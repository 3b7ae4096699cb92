import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { HeldOutEvaluator } from '../../coordinator/evaluation/held-out-evaluator.js';

/**
 * One feature x, and a model whose logits are (0, x): the logit gap logit[1] - logit[0] is x.
 * The normalizer is the identity, so the held-out inputs are the gaps themselves.
 */
async function aucOf(gaps: number[], labels: number[]): Promise<number | undefined> {
  const model = tfl.sequential({
    layers: [tfl.layers.dense({ units: 2, inputShape: [1], useBias: false })],
  });
  model.setWeights([tf.tensor2d([[0, 1]])]);
  const evaluator = new HeldOutEvaluator(
    {
      featureNames: ['gap'],
      rows: gaps.length,
      features: 1,
      inputs: Float32Array.from(gaps),
      labels: Int32Array.from(labels),
    },
    { mean: [0], std: [1] },
    2,
  );
  try {
    return (await evaluator.measure(model)).auc;
  } finally {
    evaluator.dispose();
    model.dispose();
  }
}

describe('held-out AUC', () => {
  before(async () => {
    await tf.setBackend('cpu');
  });

  it('ranks by the logit gap, so logits whose float32 probabilities all saturate at 1 still rank (gaps 25, 30 above 20, 18: AUC 1)', async () => {
    // sigmoid(18) = 1 - 1.5e-8 is already 1 in float32, so the class-1 probabilities of all four
    // rows tie at 1 and rank to 0.5; the gaps put both positives above both negatives: 4/4 pairs.
    assert.equal(await aucOf([25, 30, 20, 18], [1, 1, 0, 0]), 1);
    // Reversed: 0/4 pairs.
    assert.equal(await aucOf([18, 20, 25, 30], [1, 1, 0, 0]), 0);
  });

  it('still counts equal logit gaps one half', async () => {
    // Pairs (pos, neg): (40 vs 20) 1, (40 vs 40) 1/2, (50 vs 20) 1, (50 vs 40) 1 -> 3.5 / 4.
    assert.equal(await aucOf([20, 40, 40, 50], [0, 0, 1, 1]), 0.875);
    assert.equal(await aucOf([-3, -3], [0, 1]), 0.5);
  });
});
