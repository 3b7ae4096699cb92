import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ADAPTIVE_CLIPPING_DEFAULTS,
  countNoiseStddev,
  nextClipNorm,
  updateNoiseMultiplier,
} from '../../coordinator/privacy/adaptive-clipping.js';

function near(actual: number, expected: number, tolerance: number): void {
  assert.ok(
    Math.abs(actual - expected) <= tolerance,
    `${actual} is not within ${tolerance} of ${expected}`,
  );
}

describe('adaptive clipping (Andrew et al. 2021)', () => {
  it('takes Flower’s defaults: C 0.1, quantile 0.5, step 0.2, count noise m/20', () => {
    assert.deepEqual(ADAPTIVE_CLIPPING_DEFAULTS, {
      initialClipNorm: 0.1,
      targetQuantile: 0.5,
      learningRate: 0.2,
    });
    assert.equal(countNoiseStddev(100), 5);
  });

  it('shrinks C when every update comes in under it: C = 1 becomes exp(−0.1)', () => {
    // b̄ = 1: C·exp(−0.2·(1 − 0.5)) = exp(−0.1)
    const next = nextClipNorm(1, [0.01, 0.2, 0.5, 0.99], 0);
    near(next, 0.9048374180359595, 1e-15);
    assert.ok(next < 1);
  });

  it('grows C when every update is clipped: C = 1 becomes exp(0.1)', () => {
    const next = nextClipNorm(1, [1.01, 3, 40], 0);
    near(next, 1.1051709180756477, 1e-15);
    assert.ok(next > 1);
  });

  it('holds C when the target share is unclipped, and an update at exactly C counts as unclipped', () => {
    assert.equal(nextClipNorm(2, [1, 2, 3, 4], 0), 2);
  });

  it('noise on the count moves the share: 1 of 4 unclipped plus noise 1 is b̄ = 0.5', () => {
    assert.equal(nextClipNorm(0.5, [0.1, 9, 9, 9], 1), 0.5);
  });

  it('follows the configured quantile and step', () => {
    // b̄ = 0.5 against γ = 0.9, η = 1: C·exp(0.4)
    const next = nextClipNorm(3, [1, 5], 0, { targetQuantile: 0.9, learningRate: 1 });
    near(next, 3 * Math.exp(0.4), 1e-14);
  });

  it('leaves the updates the noise multiplier (z^−2 − (2σ_b)^−2)^−1/2', () => {
    // z = 1, σ_b = 5: (1 − 1/100)^−1/2 = 1/√0.99
    const result = updateNoiseMultiplier(1, 5);
    assert.ok(result.ok);
    near(result.value, 1.0050378152592121, 1e-15);
    assert.deepEqual(updateNoiseMultiplier(0, 5), { ok: true, value: 0 });
  });

  it('refuses count noise too small for z: 2σ_b must exceed z', () => {
    for (const [z, sigmaB] of [
      [1, 0.5],
      [3, 1],
    ] as const) {
      const result = updateNoiseMultiplier(z, sigmaB);
      assert.equal(!result.ok && result.error.code, 'config.invalid');
    }
  });
});
