import { fail, ok, type Result } from '../../protocol/index.js';

/**
 * Adaptive clipping (Andrew, Thakkar, McMahan and Ramaswamy 2021, arXiv 1905.03871): the clip
 * norm C follows a target quantile of the update norms by a geometric step on a privately
 * estimated fraction of unclipped updates, so no one has to guess C in advance.
 *
 * b_i = 1 when site i's update was NOT clipped (‖Δ_i‖ ≤ C). Current Flower sets the bit for a
 * clipped update while keeping the same step, which moves C the wrong way (research/security.md
 * §3); the direction is pinned by a test.
 */

export interface AdaptiveClippingConfig {
  /** gamma: the share of updates that should come in under the clip norm. */
  readonly targetQuantile: number;
  /** eta_C: the step size of the geometric update. */
  readonly learningRate: number;
}

/** Flower's defaults (DifferentialPrivacyServerSideAdaptiveClipping). */
export const ADAPTIVE_CLIPPING_DEFAULTS = {
  initialClipNorm: 0.1,
  targetQuantile: 0.5,
  learningRate: 0.2,
} as const;

/** sigma_b, the noise on the count of unclipped updates: m/20 for m sampled sites, as in Flower. */
export function countNoiseStddev(sampledSites: number): number {
  return sampledSites / 20;
}

/**
 * The clip norm for the next round: C·exp(−eta·(b̄ − gamma)), with
 * b̄ = (Σ_i 1[‖Δ_i‖ ≤ C] + countNoise)/m. `countNoise` is one N(0, sigma_b²) draw (zero only in
 * tests): the count is released too, and the noise is what keeps it private. More updates under
 * C than the target shrinks C; more over it grows C.
 */
export function nextClipNorm(
  clipNorm: number,
  updateNorms: readonly number[],
  countNoise: number,
  config: AdaptiveClippingConfig = ADAPTIVE_CLIPPING_DEFAULTS,
): number {
  const unclipped = updateNorms.filter((norm) => norm <= clipNorm).length;
  const fraction = (unclipped + countNoise) / updateNorms.length;
  return clipNorm * Math.exp(-config.learningRate * (fraction - config.targetQuantile));
}

/**
 * The noise multiplier left for the updates once the count has taken its share:
 * z_Δ = (z^−2 − (2·sigma_b)^−2)^−1/2, so that the round as a whole is still the Gaussian
 * mechanism with multiplier z (Andrew et al. 2021, Thm 1). Fails when 2·sigma_b ≤ z: the
 * count noise alone would then already spend the whole budget.
 */
export function updateNoiseMultiplier(
  noiseMultiplier: number,
  countStddev: number,
): Result<number> {
  const remaining = noiseMultiplier ** -2 - (2 * countStddev) ** -2;
  if (!(remaining > 0))
    return fail(
      'config.invalid',
      `count noise ${countStddev} is too small for noise multiplier ${noiseMultiplier}: need 2·sigma_b > z`,
    );
  return ok(remaining ** -0.5);
}
