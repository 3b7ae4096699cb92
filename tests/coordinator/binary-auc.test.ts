import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { binaryAuc } from '../../coordinator/evaluation/binary-auc.js';

describe('binary AUC', () => {
  it("matches scikit-learn's roc_auc_score example (0.75)", () => {
    // sklearn docs: y_true [0, 0, 1, 1], y_scores [0.1, 0.4, 0.35, 0.8] -> 0.75
    assert.equal(binaryAuc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]), 0.75);
  });

  it('counts ties one half, and is 1 and 0 for perfect and reversed rankings', () => {
    assert.equal(binaryAuc([0.5, 0.5], [0, 1]), 0.5);
    // Pairs (pos, neg): (0.7 vs 0.2) 1, (0.7 vs 0.7) 1/2, (0.9 vs 0.2) 1, (0.9 vs 0.7) 1 -> 3.5 / 4
    assert.equal(binaryAuc([0.2, 0.7, 0.7, 0.9], [0, 0, 1, 1]), 0.875);
    assert.equal(binaryAuc([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1]), 1);
    assert.equal(binaryAuc([0.9, 0.8, 0.2, 0.1], [0, 0, 1, 1]), 0);
  });

  it('is undefined (NaN) when one class is absent', () => {
    assert.ok(Number.isNaN(binaryAuc([0.3, 0.6], [1, 1])));
  });
});
