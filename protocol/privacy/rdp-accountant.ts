import { fail, ok, type Result } from '../errors.js';
import { logErfc } from './log-erfc.js';

/**
 * Rényi-DP accounting for the Poisson-sampled Gaussian mechanism (Mironov, Talwar and Zhang
 * 2019), step for step the algorithm of Opacus `accountants/analysis/rdp.py`, itself a port of
 * TF Privacy (research/security.md §3.1). In federated terms q is the share of sites sampled
 * per round, sigma the noise multiplier z and a step one round; the privacy unit is a site.
 */

/** Opacus DEFAULT_ALPHAS: 1.1, 1.2, …, 10.9, then 12, 13, …, 63. */
export const DEFAULT_ORDERS: readonly number[] = [
  ...Array.from({ length: 99 }, (_, x) => 1 + (x + 1) / 10),
  ...Array.from({ length: 52 }, (_, x) => 12 + x),
];

/** Fractional-order series terms below e^-30 no longer move the sum (Opacus' cut-off). */
const SERIES_CUTOFF_LOG = -30;

/** Opacus get_noise_multiplier gives up past this sigma: the budget is too small to reach. */
const MAX_NOISE_MULTIPLIER = 1e6;

/** log(e^x + e^y) without overflow. */
function logAdd(x: number, y: number): number {
  const [a, b] = x < y ? [x, y] : [y, x];
  if (a === -Infinity) return b;
  return Math.log1p(Math.exp(a - b)) + b;
}

/** log(e^x − e^y) for x ≥ y. */
function logSub(x: number, y: number): number {
  if (x < y) throw new RangeError('logSub: the result would be negative');
  if (y === -Infinity) return x;
  if (x === y) return -Infinity;
  const d = Math.expm1(x - y);
  // Opacus catches the overflow of expm1 and answers x, which is then exact to double precision.
  return Number.isFinite(d) ? Math.log(d) + y : x;
}

/** log A_alpha for integer alpha: a finite binomial sum. */
function logAIntegerOrder(q: number, sigma: number, alpha: number): number {
  let logA = -Infinity;
  let logBinom = 0; // log C(alpha, 0)
  for (let i = 0; i <= alpha; i++) {
    if (i > 0) logBinom += Math.log((alpha - i + 1) / i);
    const logCoef = logBinom + i * Math.log(q) + (alpha - i) * Math.log1p(-q);
    logA = logAdd(logA, logCoef + (i * i - i) / (2 * sigma * sigma));
  }
  return logA;
}

/** log A_alpha for fractional alpha: two alternating-sign series split at z0. */
function logAFractionalOrder(q: number, sigma: number, alpha: number): number {
  let logA0 = -Infinity;
  let logA1 = -Infinity;
  const z0 = sigma * sigma * Math.log(1 / q - 1) + 0.5;
  const erfcScale = Math.SQRT2 * sigma;
  let coef = 1; // C(alpha, 0); the generalised binomial changes sign once i passes alpha
  for (let i = 0; ; i++) {
    if (i > 0) coef *= (alpha - i + 1) / i;
    const logCoef = Math.log(Math.abs(coef));
    const j = alpha - i;
    const logT0 = logCoef + i * Math.log(q) + j * Math.log1p(-q);
    const logT1 = logCoef + j * Math.log(q) + i * Math.log1p(-q);
    const logE0 = Math.log(0.5) + logErfc((i - z0) / erfcScale);
    const logE1 = Math.log(0.5) + logErfc((z0 - j) / erfcScale);
    const logS0 = logT0 + (i * i - i) / (2 * sigma * sigma) + logE0;
    const logS1 = logT1 + (j * j - j) / (2 * sigma * sigma) + logE1;
    if (coef > 0) {
      logA0 = logAdd(logA0, logS0);
      logA1 = logAdd(logA1, logS1);
    } else {
      logA0 = logSub(logA0, logS0);
      logA1 = logSub(logA1, logS1);
    }
    // Written so that a NaN term ends the series instead of looping forever.
    if (!(Math.max(logS0, logS1) >= SERIES_CUTOFF_LOG)) break;
  }
  return logAdd(logA0, logA1);
}

/** RDP of one step at one order. */
function rdpOfStep(q: number, sigma: number, alpha: number): number {
  if (q === 0) return 0;
  if (sigma === 0) return Infinity;
  if (q === 1) return alpha / (2 * sigma * sigma);
  if (alpha === Infinity) return Infinity;
  const logA = Number.isInteger(alpha)
    ? logAIntegerOrder(q, sigma, alpha)
    : logAFractionalOrder(q, sigma, alpha);
  return logA / (alpha - 1);
}

/**
 * RDP at each order of `steps` compositions of the Gaussian mechanism with noise multiplier
 * `sigma`, each applied to a Poisson sample at rate `q`. Bad arguments are caller bugs (the
 * run config is validated before this is reached) and throw.
 */
export function computeRdp(
  q: number,
  sigma: number,
  steps: number,
  orders: readonly number[],
): number[] {
  if (!(q >= 0 && q <= 1)) throw new RangeError(`sampling rate ${q} is not in [0, 1]`);
  if (!(sigma >= 0)) throw new RangeError(`noise multiplier ${sigma} is negative`);
  if (!(Number.isInteger(steps) && steps >= 0)) throw new RangeError(`steps ${steps}`);
  return orders.map((alpha) => {
    if (!(alpha > 1)) throw new RangeError(`RDP order ${alpha} is not above 1`);
    return rdpOfStep(q, sigma, alpha) * steps;
  });
}

export interface RdpEpsilon {
  readonly epsilon: number;
  /**
   * The order that gave the least epsilon; the first or last order means the list is too short.
   * NaN when nothing has been spent or no order gives a bound.
   */
  readonly order: number;
}

/**
 * The (epsilon, delta)-DP that an RDP curve implies, by Balle et al. 2020 ("Hypothesis testing
 * interpretations and Rényi DP", Thm 21) as Opacus computes it:
 * eps = min_alpha [ RDP(alpha) − (log delta + log alpha)/(alpha − 1) + log((alpha − 1)/alpha) ].
 * Tighter than Mironov's RDP(alpha) + log(1/delta)/(alpha − 1).
 */
export function epsilonFromRdp(
  rdp: readonly number[],
  orders: readonly number[],
  delta: number,
): RdpEpsilon {
  if (rdp.length !== orders.length) throw new RangeError('one RDP value per order');
  let best: RdpEpsilon | undefined;
  for (let k = 0; k < orders.length; k++) {
    const alpha = orders[k]!;
    const epsilon =
      rdp[k]! - (Math.log(delta) + Math.log(alpha)) / (alpha - 1) + Math.log((alpha - 1) / alpha);
    // As numpy's nanargmin: NaN never wins, and a tie keeps the earlier order.
    if (!Number.isNaN(epsilon) && (best === undefined || epsilon < best.epsilon))
      best = { epsilon, order: alpha };
  }
  return best ?? { epsilon: Infinity, order: NaN };
}

/** One entry of the accountant's history: `steps` rounds at sampling rate q and multiplier sigma. */
export interface GaussianSteps {
  readonly q: number;
  readonly sigma: number;
  readonly steps: number;
}

/**
 * Composes rounds whose sampling rate or noise may differ. RDP adds per order, so the history is
 * kept and the curve computed on demand; equal consecutive rounds share one entry, as in
 * Opacus, so 2,250 rounds cost one series, not 2,250.
 */
export class RdpAccountant {
  private readonly entries: GaussianSteps[] = [];

  constructor(private readonly orders: readonly number[] = DEFAULT_ORDERS) {}

  step(q: number, sigma: number, count = 1): void {
    const last = this.entries.at(-1);
    if (last !== undefined && last.q === q && last.sigma === sigma)
      this.entries[this.entries.length - 1] = { q, sigma, steps: last.steps + count };
    else this.entries.push({ q, sigma, steps: count });
  }

  get history(): readonly GaussianSteps[] {
    return this.entries;
  }

  /** Nothing released yet is epsilon 0 exactly (as Opacus), not the bound's value at RDP 0. */
  spent(delta: number): RdpEpsilon {
    if (this.entries.length === 0) return { epsilon: 0, order: NaN };
    const total = this.orders.map(() => 0);
    for (const { q, sigma, steps } of this.entries)
      computeRdp(q, sigma, steps, this.orders).forEach((r, k) => (total[k]! += r));
    return epsilonFromRdp(total, this.orders, delta);
  }
}

/** Epsilon after `steps` equal rounds. */
function epsilonFor(sigma: number, delta: number, q: number, steps: number): number {
  const accountant = new RdpAccountant();
  accountant.step(q, sigma, steps);
  return accountant.spent(delta).epsilon;
}

/**
 * The smallest noise multiplier (to within `epsilonTolerance` of the budget) whose epsilon after
 * `steps` rounds stays at or under `targetEpsilon`: Opacus get_noise_multiplier's search, which
 * doubles an upper bound from 20 and then bisects. The answer never overspends the budget.
 */
export function noiseMultiplierFor(
  targetEpsilon: number,
  delta: number,
  q: number,
  steps: number,
  epsilonTolerance = 0.01,
): Result<number> {
  if (!(targetEpsilon > 0)) return fail('config.invalid', `epsilon budget ${targetEpsilon}`);
  let low = 0;
  let high = 10;
  let epsHigh = Infinity;
  while (epsHigh > targetEpsilon) {
    high *= 2;
    if (high > MAX_NOISE_MULTIPLIER)
      return fail('config.invalid', `no noise multiplier reaches epsilon ${targetEpsilon}`);
    epsHigh = epsilonFor(high, delta, q, steps);
  }
  while (targetEpsilon - epsHigh > epsilonTolerance) {
    const sigma = (low + high) / 2;
    const eps = epsilonFor(sigma, delta, q, steps);
    if (eps < targetEpsilon) {
      high = sigma;
      epsHigh = eps;
    } else low = sigma;
  }
  return ok(high);
}
