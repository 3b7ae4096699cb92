import { fail, ok, roundedL2Sensitivity, type Result, type RoundStart } from '../protocol/index.js';
import { DEFAULT_SITE_DELTA, type PrivacyLedger } from './privacy-ledger.js';
import type { SiteConfig } from './site-config.js';

export type SitePrivacy = SiteConfig['privacy'];

/** The delta a site accounts its ledger at. */
export const siteDelta = (privacy: SitePrivacy): number => privacy?.delta ?? DEFAULT_SITE_DELTA;

/**
 * The noise multiplier a site vouches for in a round: the discrete Gaussian's sigma it adds
 * itself, over the L2 norm of its clipped delta on the grid (clip norm over the grid step, plus
 * sqrt(d) for the rounding: PROTOCOL.md 11.2), both in grid steps. 0 without noise or without
 * a clip norm: noise without a clip bounds nothing.
 */
export function ownNoiseMultiplier(start: RoundStart, dimension: number): number {
  const secure = start.secureAggregation;
  if (secure?.noiseSigma2 === undefined || start.clipNorm === undefined) return 0;
  const step = (2 * secure.clip) / secure.levels;
  return Math.sqrt(secure.noiseSigma2) / roundedL2Sensitivity(start.clipNorm / step, dimension);
}

/**
 * Whether the site takes part in a round, by its own privacy config alone: a floor means it
 * adds DP noise itself, so a round without secure aggregation (its update would leave without
 * it), without noise, or with less than the floor is refused, as is an attempt that would take
 * its ledger past its budget. Without a privacy config every round is admitted.
 */
export function admitRound(
  privacy: SitePrivacy,
  ledger: PrivacyLedger,
  start: RoundStart,
  /** The student's parameter count: the length of the vector the site masks. */
  dimension: number,
): Result<true> {
  if (!privacy) return ok(true);
  const floor = privacy.minNoiseMultiplier;
  const round = `round ${start.round}`;
  if (!start.secureAggregation)
    return fail(
      'site.noise_below_floor',
      `${round} is not securely aggregated, so this site adds no noise of its own; its floor is a noise multiplier of ${floor}`,
    );
  const { noiseSigma2 } = start.secureAggregation;
  if (noiseSigma2 === undefined || start.clipNorm === undefined)
    return fail(
      'site.noise_below_floor',
      `${round} asks for ${noiseSigma2 === undefined ? 'no noise' : 'noise without a clip norm'}; this site's floor is a noise multiplier of ${floor}`,
    );
  const asked = ownNoiseMultiplier(start, dimension);
  if (asked < floor)
    return fail(
      'site.noise_below_floor',
      `${round} asks for noise sigma^2 ${noiseSigma2} (grid steps) at clip norm ${start.clipNorm}, a noise multiplier of ${asked.toFixed(3)}; this site's floor is ${floor}`,
    );
  const delta = siteDelta(privacy);
  const next = ledger.epsilon(delta, asked);
  if (next > privacy.maxEpsilon)
    return fail(
      'site.budget_exhausted',
      `${round} (attempt ${start.secureAggregation.attempt}) would take this site's epsilon to ${next} at delta ${delta}, past its budget of ${privacy.maxEpsilon} (spent ${ledger.epsilon(delta)} over ${ledger.entries.length} attempts)`,
    );
  return ok(true);
}
