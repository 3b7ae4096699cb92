import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { logErfc } from '../../protocol/privacy/log-erfc.js';
import {
  computeRdp,
  DEFAULT_ORDERS,
  epsilonFromRdp,
  noiseMultiplierFor,
  RdpAccountant,
} from '../../protocol/privacy/rdp-accountant.js';

/** |actual − expected| ≤ tolerance, with both in the message. */
function near(actual: number, expected: number, tolerance: number): void {
  assert.ok(
    Math.abs(actual - expected) <= tolerance,
    `${actual} is not within ${tolerance} of ${expected}`,
  );
}

/** Epsilon at delta after `steps` equal rounds. */
function spentAfter(q: number, sigma: number, steps: number, delta = 1e-5) {
  const accountant = new RdpAccountant();
  accountant.step(q, sigma, steps);
  return accountant.spent(delta);
}

describe('log erfc', () => {
  // Reference values: mpmath at 40 digits, rounded to doubles; erfc(1) = 0.15729920705028513… (A&S table 7.1).
  for (const [x, expected] of [
    [0, 0],
    [1e-10, -1.1283791671591746e-10],
    [1, -1.8496055099332482],
    [5, -27.200889545537436],
    [30, -903.9741171106439], // erfc(30) itself underflows a double
    [100, -10005.177585122665],
    [-1, 0.6112323176780705],
    [-5, 0.6931471805591766],
  ] as const) {
    it(`log erfc(${x}) = ${expected} to double precision`, () => {
      near(logErfc(x), expected, 4e-16 * Math.max(1, Math.abs(expected)));
    });
  }
});

describe('the RDP accountant (Opacus / TF Privacy vectors, research/security.md §3.1)', () => {
  it('default orders are Opacus DEFAULT_ALPHAS: 1.1 … 10.9, then 12 … 63', () => {
    assert.equal(DEFAULT_ORDERS.length, 151);
    assert.deepEqual(DEFAULT_ORDERS.slice(0, 3), [1.1, 1.2, 1.3]);
    assert.deepEqual(DEFAULT_ORDERS.slice(98, 101), [10.9, 12, 13]);
    assert.equal(DEFAULT_ORDERS.at(-1), 63);
  });

  it('sigma 1.5, q 0.04, 2,250 steps spend epsilon 7.32911117143 at order 3.9 (Opacus accountants_test)', () => {
    const { epsilon, order } = spentAfter(0.04, 1.5, 2250);
    near(epsilon, 7.32911117143, 1e-9);
    near(order, 3.9, 1e-12);
  });

  it('the same curve gives 8.07385 by the looser classic bound RDP + log(1/delta)/(alpha - 1)', () => {
    const rdp = computeRdp(0.04, 1.5, 2250, DEFAULT_ORDERS);
    const classic = Math.min(...rdp.map((r, k) => r + Math.log(1e5) / (DEFAULT_ORDERS[k]! - 1)));
    near(classic, 8.07385, 5e-6);
  });

  it('two different mechanisms compose to epsilon 0.3363441 at order 23 (Opacus docstring)', () => {
    const accountant = new RdpAccountant(Array.from({ length: 31 }, (_, i) => i + 2));
    accountant.step(1e-5, 1, 10);
    accountant.step(1e-4, 3, 4);
    const { epsilon, order } = accountant.spent(1e-5);
    near(epsilon, 0.3363441, 5e-8);
    assert.equal(order, 23);
  });

  it('q 0.1, sigma 2, 10 steps give RDP 0.07737 at order 5 (TF Privacy rdp_accountant_test)', () => {
    near(computeRdp(0.1, 2, 10, [5])[0]!, 0.07737, 5e-6);
  });

  it('q 0.01, sigma 2.5, 50 steps match TF Privacy at fractional and integer orders', () => {
    const rdp = computeRdp(0.01, 2.5, 50, [1.5, 2.5, 5, 50, 100]);
    // TF Privacy prints these truncated; each agrees to one unit of its last digit.
    const expected = [
      [0.00065, 1e-5],
      [0.001085, 1e-6],
      [0.00218075, 1e-8],
      [0.023846, 1e-6],
      [167.416307, 1e-6],
    ] as const;
    expected.forEach(([value, unit], k) => near(rdp[k]!, value, unit));
  });

  for (const [q, sigma, steps, epsilon, order] of [
    [0.01, 1, 1000, 2.101365, 7.8],
    [0.1, 1, 100, 7.899255, 3.2],
    [1, 1, 1, 4.728507, 5.4],
  ] as const) {
    it(`q ${q}, sigma ${sigma}, ${steps} steps spend epsilon ${epsilon} at order ${order}`, () => {
      const spent = spentAfter(q, sigma, steps);
      near(spent.epsilon, epsilon, 5e-7);
      near(spent.order, order, 1e-12);
    });
  }

  it('without sampling (q = 1) the RDP is the Gaussian mechanism’s alpha·T/(2 sigma²) exactly', () => {
    const orders = [1.5, 2, 3.9, 32];
    assert.deepEqual(
      computeRdp(1, 1.5, 7, orders),
      orders.map((alpha) => (alpha / (2 * 1.5 ** 2)) * 7),
    );
  });

  it('no sampling spends nothing and no noise spends everything', () => {
    assert.deepEqual(computeRdp(0, 1, 100, [2, 3.5]), [0, 0]);
    assert.deepEqual(computeRdp(0.1, 0, 1, [2, 3.5]), [Infinity, Infinity]);
    assert.equal(spentAfter(0.1, 0, 1).epsilon, Infinity);
  });

  it('an order at or below 1 is a caller bug and throws', () => {
    assert.throws(() => computeRdp(0.1, 1, 1, [1]), RangeError);
  });

  it('composition adds RDP: rounds with different noise cost the sum of their curves', () => {
    const orders = [2, 4.5, 16];
    const accountant = new RdpAccountant(orders);
    accountant.step(0.05, 1.2, 30);
    accountant.step(0.1, 2, 20);
    const a = computeRdp(0.05, 1.2, 30, orders);
    const b = computeRdp(0.1, 2, 20, orders);
    assert.deepEqual(
      accountant.spent(1e-6),
      epsilonFromRdp(
        a.map((r, k) => r + b[k]!),
        orders,
        1e-6,
      ),
    );
  });

  it('equal consecutive rounds share one history entry and cost the same as one batch', () => {
    const oneByOne = new RdpAccountant();
    for (let round = 0; round < 2250; round++) oneByOne.step(0.04, 1.5);
    assert.deepEqual(oneByOne.history, [{ q: 0.04, sigma: 1.5, steps: 2250 }]);
    assert.deepEqual(oneByOne.spent(1e-5), spentAfter(0.04, 1.5, 2250));
    oneByOne.step(0.04, 2);
    assert.equal(oneByOne.history.length, 2);
  });

  it('an empty history has spent nothing', () => {
    assert.equal(new RdpAccountant().spent(1e-5).epsilon, 0);
  });
});

describe('choosing the noise multiplier from a budget', () => {
  it('epsilon 8 at delta 1e-5 over 90 epochs at q 0.04 needs sigma ≈ 1.416 (Opacus get_noise_multiplier)', () => {
    const result = noiseMultiplierFor(8, 1e-5, 0.04, 2250);
    assert.ok(result.ok);
    near(result.value, 1.416, 0.01);
    // The answer never overspends and lies within the 0.01 tolerance of the budget.
    const spent = spentAfter(0.04, result.value, 2250).epsilon;
    assert.ok(spent <= 8 && spent > 8 - 0.01, `epsilon ${spent}`);
  });

  it('a budget no noise can meet is refused with config.invalid', () => {
    for (const target of [0.01, 0, Number.NaN]) {
      const result = noiseMultiplierFor(target, 1e-5, 0.04, 2250);
      assert.equal(result.ok, false);
      assert.equal(!result.ok && result.error.code, 'config.invalid');
    }
  });
});
