import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  DiscreteGaussian,
  RandomWords,
  seededRandom,
  unwrap,
  type ByteSource,
} from '../../protocol/index.js';

/** A replayable byte stream, so that the statistical checks below always see the same draws. */
function seededBytes(seed: number): ByteSource {
  const random = seededRandom(seed);
  return (into) => {
    for (let i = 0; i < into.length; i++) into[i] = Math.floor(random() * 256);
  };
}

/**
 * N_Z(0, sigma²)'s normalising constant sum_x exp(-x²/(2 sigma²)) and variance, summed by hand
 * over |x| <= 60 in double precision (Python): CKS 2020 Prop. 19 has the variance strictly
 * below sigma², which shows at sigma² = 0.5.
 */
const PMF = new Map([
  [0.5, { norm: 1.7726372048266523, variance: 0.49897913083282036 }],
  [1, { norm: 2.506628288042906, variance: 0.9999997887677279 }],
  [4, { norm: 5.0132565492620005, variance: 4 }],
]);

describe('the discrete Gaussian sampler (CKS 2020)', () => {
  for (const [sigma2, { norm, variance }] of PMF) {
    it(`sigma² = ${sigma2}: 200k draws fit the exact pmf (chi-square) and its variance`, () => {
      const n = 200_000;
      const draws = unwrap(DiscreteGaussian.create(sigma2, seededBytes(17))).samples(n);
      // Cells -k..k, the tails beyond folded into the outermost, each expecting >= 100 draws.
      const k = Math.floor(Math.sqrt(2 * sigma2 * Math.log((n * 0.01) / norm)));
      const pmf = (x: number) => Math.exp(-(x * x) / (2 * sigma2)) / norm;
      const expected = new Map<number, number>();
      for (let x = -k; x <= k; x++) expected.set(x, pmf(x));
      let tail = 0;
      for (let x = k + 1; x < 60; x++) tail += pmf(x);
      expected.set(-k, expected.get(-k)! + tail);
      expected.set(k, expected.get(k)! + tail);
      const observed = new Map<number, number>();
      let sumSquares = 0;
      for (const y of draws) {
        assert.ok(Number.isInteger(y));
        const cell = Math.max(-k, Math.min(k, y));
        observed.set(cell, (observed.get(cell) ?? 0) + 1);
        sumSquares += y * y;
      }
      let chi2 = 0;
      for (const [x, p] of expected) chi2 += ((observed.get(x) ?? 0) - n * p) ** 2 / (n * p);
      // 2k degrees of freedom (k = 2, 3, 6 here); the 0.1% critical values are 18.5, 22.5, 32.9.
      const critical = new Map([
        [4, 18.47],
        [6, 22.46],
        [12, 32.91],
      ]);
      assert.ok(chi2 < critical.get(2 * k)!, `chi-square ${chi2} with ${2 * k} dof`);
      // E[X²] = variance (mean 0); E[X^4] ~ 3 sigma^4 bounds the spread of the estimate.
      const se = Math.sqrt((2 * sigma2 * sigma2) / n);
      assert.ok(Math.abs(sumSquares / n - variance) < 4 * se, `E[X²] ${sumSquares / n}`);
    });
  }

  it('refuses sigma² outside (0, 2^60]', () => {
    for (const sigma2 of [0, -1, NaN, 2 ** 61]) {
      const made = DiscreteGaussian.create(sigma2);
      assert.equal(!made.ok && made.error.code, 'config.invalid');
    }
  });

  it('replays from the same bytes, and at sigma = 1e7 grid units has the stddev of sigma', () => {
    const a = unwrap(DiscreteGaussian.create(1e14, seededBytes(3))).samples(20_000);
    assert.deepEqual(a, unwrap(DiscreteGaussian.create(1e14, seededBytes(3))).samples(20_000));
    const sd = Math.sqrt(a.reduce((s, y) => s + y * y, 0) / a.length);
    // Within 4 standard errors (1e7 / sqrt(2 x 20,000) each).
    assert.ok(Math.abs(sd - 1e7) < 4 * (1e7 / Math.sqrt(40_000)), `stddev ${sd}`);
  });
});

describe('exact coins', () => {
  const frequency = (n: number, coin: () => boolean) => {
    let heads = 0;
    for (let i = 0; i < n; i++) if (coin()) heads++;
    return heads / n;
  };
  const within = (observed: number, p: number, n: number) =>
    assert.ok(Math.abs(observed - p) < 4 * Math.sqrt((p * (1 - p)) / n), `${observed} vs ${p}`);

  it('Bernoulli(exp(-gamma)) for gamma = 1/2 and 7/3 lands at e^-1/2 = 0.60653 and e^-7/3 = 0.09697', () => {
    const coins = new RandomWords(seededBytes(5));
    within(
      frequency(100_000, () => coins.bernoulliExpNeg(1n, 2n)),
      0.6065306597126334,
      100_000,
    );
    within(
      frequency(100_000, () => coins.bernoulliExpNeg(7n, 3n)),
      0.09697196786440505,
      100_000,
    );
  });

  it('Bernoulli(num/den) with a denominator past 2^32 is drawn word by word: 1/3 of 3 x 2^40', () => {
    const coins = new RandomWords(seededBytes(6));
    within(
      frequency(100_000, () => coins.bernoulli(1n << 40n, 3n << 40n)),
      1 / 3,
      100_000,
    );
    assert.equal(coins.bernoulli(0n, 1n << 40n), false);
    assert.equal(coins.bernoulli(1n << 40n, 1n << 40n), true);
  });
});
