import { fail, ok, type Result, type RoundStart } from '../protocol/index.js';
import { DEFAULT_SITE_DELTA, type PrivacyLedger } from './privacy-ledger.js';
import type { SiteConfig } from './site-config.js';

export type SitePrivacy = SiteConfig['privacy'];

/** The delta a site accounts its ledger at. */
export const siteDelta = (privacy: SitePrivacy): number => privacy?.delta ?? DEFAULT_SITE_DELTA;

/**
 * The noise multiplier a site vouches for in a round: the stddev it adds itself over the L2 norm
 * it clips its delta to. 0 without either: noise without a clip bounds nothing.
 */
export function ownNoiseMultiplier(start: RoundStart): number {
  const stddev = start.secureAggregation?.noiseStddev;
  return stddev === undefined || start.clipNorm === undefined ? 0 : stddev / start.clipNorm;
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
): Result<true> {
  if (!privacy) return ok(true);
  const floor = privacy.minNoiseMultiplier;
  const round = `round ${start.round}`;
  if (!start.secureAggregation)
    return fail(
      'site.noise_below_floor',
      `${round} is not securely aggregated, so this site adds no noise of its own; its floor is a noise multiplier of ${floor}`,
    );
  const { noiseStddev } = start.secureAggregation;
  if (noiseStddev === undefined || start.clipNorm === undefined)
    return fail(
      'site.noise_below_floor',
      `${round} asks for ${noiseStddev === undefined ? 'no noise' : 'noise without a clip norm'}; this site's floor is a noise multiplier of ${floor}`,
    );
  const asked = ownNoiseMultiplier(start);
  if (asked < floor)
    return fail(
      'site.noise_below_floor',
      `${round} asks for noise stddev ${noiseStddev} at clip norm ${start.clipNorm}, a noise multiplier of ${asked}; this site's floor is ${floor}`,
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
