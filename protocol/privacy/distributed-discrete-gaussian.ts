/**
 * The privacy of a sum of n independent discrete Gaussians N_Z(0, sigma²), each added by one
 * site to its update on the integer grid (Kairouz, Liu and Steinke 2021, "The Distributed
 * Discrete Gaussian Mechanism for Federated Learning with Secure Aggregation", arXiv
 * 2102.06387). The sum is not itself a discrete Gaussian; its distance from one is the term
 * tau = 10 sum_{k=1}^{n-1} exp(-2 pi² sigma² k/(k+1)) (Theorem 1, Proposition 14), negligible
 * once sigma is a few grid steps. All figures are in grid units.
 */

/** tau of KLS Theorem 1 for n summands of parameter sigma² each. */
export function ddgTau(sigma2: number, summands: number): number {
  let sum = 0;
  for (let k = 1; k < summands; k++) sum += Math.exp((-2 * Math.PI ** 2 * sigma2 * k) / (k + 1));
  return 10 * sum;
}

/**
 * A stochastically rounded vector of L2 norm at most `norm` (grid units) has norm below
 * norm + sqrt(d): each coordinate moves by less than one step (the triangle inequality; KLS's
 * second bound, which holds with certainty, unlike their conditional rounding's first).
 */
export function roundedL2Sensitivity(norm: number, dimension: number): number {
  return norm + Math.sqrt(dimension);
}

export interface DdgRound {
  /** L2 sensitivity of the sum, after rounding, in grid units. */
  readonly sensitivity: number;
  /** Each summand's sigma² in grid units. */
  readonly sigma2: number;
  /** The fewest summands the released sum may carry (the first term grows as n falls). */
  readonly minSummands: number;
  /** The most summands it may carry (tau grows with n). */
  readonly maxSummands: number;
  readonly dimension: number;
}

/**
 * The concentrated-DP epsilon of one sum, KLS Proposition 14's pure-CDP form: the sum is
 * (epsilon²/2)-CDP with epsilon = Delta_2 / (sqrt(n) sigma) + tau sqrt(d).
 */
export function ddgCdpEpsilon(round: DdgRound): number {
  const scale = round.sensitivity / Math.sqrt(round.minSummands * round.sigma2);
  return scale + ddgTau(round.sigma2, round.maxSummands) * Math.sqrt(round.dimension);
}

/**
 * RDP of one sum at each order (KLS Proposition 14, as google-research/federated's
 * distributed_dp computes it, without the L1 bound):
 * min(alpha/2 s² + tau d, alpha/2 (s + tau sqrt(d))²) with s = Delta_2 / (sqrt(n) sigma).
 */
export function ddgRdp(round: DdgRound, orders: readonly number[]): number[] {
  const scale = round.sensitivity / Math.sqrt(round.minSummands * round.sigma2);
  const tau = ddgTau(round.sigma2, round.maxSummands);
  const d = round.dimension;
  return orders.map((alpha) =>
    Math.min((alpha / 2) * scale ** 2 + tau * d, (alpha / 2) * (scale + tau * Math.sqrt(d)) ** 2),
  );
}
