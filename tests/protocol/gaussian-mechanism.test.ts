import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  addGaussianNoise,
  clipByL2,
  cryptoUniform,
  gaussianNoise,
  noiseStddev,
  seededRandom,
  type NamedTensor,
} from '../../protocol/index.js';

const tensor = (name: string, values: number[]): NamedTensor => ({
  name,
  shape: [values.length],
  values: Float32Array.from(values),
});

function meanAndStddev(samples: Float64Array): { mean: number; stddev: number } {
  const mean = samples.reduce((s, v) => s + v, 0) / samples.length;
  const variance = samples.reduce((s, v) => s + (v - mean) ** 2, 0) / (samples.length - 1);
  return { mean, stddev: Math.sqrt(variance) };
}

describe('clipping an update for central DP', () => {
  it('[3, 4] clipped to norm 1 is [0.6, 0.8]', () => {
    const { delta, norm } = clipByL2([tensor('w', [3, 4])], 1);
    assert.equal(norm, 5);
    assert.deepEqual([...delta[0]!.values], [Math.fround(0.6), Math.fround(0.8)]);
  });

  it('clips all tensors as one vector and leaves an update under the bound alone', () => {
    const { delta } = clipByL2([tensor('a', [6]), tensor('b', [8])], 5); // norm 10, halved
    assert.deepEqual(
      delta.map((t) => [...t.values]),
      [[3], [4]],
    );
    const small = [tensor('a', [0.5, 0.5])];
    assert.deepEqual(clipByL2(small, 1).delta[0]!.values, small[0]!.values);
  });
});

describe('Gaussian noise for the mean of clipped updates', () => {
  it('sigma = z·C/m (Flower compute_stdv)', () => {
    assert.equal(noiseStddev(1, 0.1, 10), 0.01);
    assert.equal(noiseStddev(1.5, 2, 60), 0.05);
    assert.equal(noiseStddev(0, 1, 10), 0);
  });

  it('100,000 seeded draws have mean 0 and the requested stddev', () => {
    const n = 100_000;
    const { mean, stddev } = meanAndStddev(gaussianNoise(n, 2.5, seededRandom(7)));
    // Five standard errors: 2.5/√n for the mean, about 2.5/√(2n) for the stddev.
    assert.ok(Math.abs(mean) < (5 * 2.5) / Math.sqrt(n), `mean ${mean}`);
    assert.ok(Math.abs(stddev - 2.5) < (5 * 2.5) / Math.sqrt(2 * n), `stddev ${stddev}`);
  });

  it('the same seed gives the same noise, and an odd length is filled', () => {
    const a = gaussianNoise(5, 1, seededRandom(3));
    assert.deepEqual(a, gaussianNoise(5, 1, seededRandom(3)));
    assert.ok(a.every(Number.isFinite));
  });

  it('a draw at the uniform source’s zero stays finite', () => {
    assert.ok(gaussianNoise(2, 1, () => 0).every(Number.isFinite));
  });

  it('CSPRNG uniforms lie in [0, 1) with mean 1/2, and its noise has the requested stddev', () => {
    const uniform = cryptoUniform();
    const u = Float64Array.from({ length: 100_000 }, uniform);
    assert.ok(u.every((v) => v >= 0 && v < 1));
    // The stddev of a uniform is 1/√12; five standard errors.
    assert.ok(Math.abs(meanAndStddev(u).mean - 0.5) < 5 / Math.sqrt(12 * u.length));
    const { stddev } = meanAndStddev(gaussianNoise(100_000, 0.3, uniform));
    assert.ok(Math.abs(stddev - 0.3) < (5 * 0.3) / Math.sqrt(2 * 100_000), `stddev ${stddev}`);
  });

  it('noise is added to every value of new tensors with the same names and shapes', () => {
    const mean = [tensor('a', [1, 2, 3]), tensor('b', [4])];
    const noisy = addGaussianNoise(mean, 0.5, seededRandom(11));
    assert.deepEqual(
      noisy.map((t) => [t.name, t.shape]),
      [
        ['a', [3]],
        ['b', [1]],
      ],
    );
    assert.ok(noisy.every((t, i) => t.values.some((v, j) => v !== mean[i]!.values[j])));
    assert.deepEqual(addGaussianNoise(mean, 0, seededRandom(11)), mean);
    // The input is not changed in place.
    assert.deepEqual([...mean[0]!.values], [1, 2, 3]);
  });
});
