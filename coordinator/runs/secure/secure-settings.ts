import {
  decodeKey,
  DEFAULT_GRAPH_THREAT,
  degreeFor,
  ringDegree,
  type SecureRound,
} from '../../../protocol/index.js';
import type { PrivacyPlan } from '../../privacy/privacy-plan.js';
import type { SecureAggregationConfig } from '../../privacy/secure-aggregation-config.js';

/**
 * The SecAgg+ settings every participant of a secure attempt gets with round.start: the sorted
 * participants and their identity keys, the ring graph's seed and degree (by default the
 * smallest that holds against the configured corrupt and dropout fractions), the threshold (a majority of a site's neighbours), the quantization range
 * and levels, and with distributed DP each site's noise.
 */
export function secureRoundSettings(args: {
  readonly config: SecureAggregationConfig;
  readonly privacy: PrivacyPlan;
  readonly seed: number;
  /** 0-based. */
  readonly attempt: number;
  readonly participants: readonly string[];
  /** Every enrolled site's identity key (base64). */
  readonly publicKeys: ReadonlyMap<string, string>;
  /** The model's parameter count, which the rounding's sensitivity grows with. */
  readonly dimension: number;
}): SecureRound {
  const { config } = args;
  const sites = [...args.participants].sort();
  const degree =
    config.neighbours ??
    degreeFor(sites.length, {
      corruptFraction: config.corruptFraction,
      dropoutFraction: config.dropoutFraction,
      failureProbability: DEFAULT_GRAPH_THREAT.failureProbability,
    }).degree;
  const levels = Math.floor((2 ** 32 - 1) / sites.length);
  const noise = args.privacy.distributedNoise({
    participants: sites.length,
    levels,
    dimension: args.dimension,
  });
  return {
    attempt: args.attempt,
    participants: sites,
    identities: sites.map((site) => ({ site, publicKey: decodeKey(args.publicKeys.get(site)!) })),
    graphSeed: args.seed,
    degree,
    threshold: config.threshold ?? Math.floor(ringDegree(sites.length, degree) / 2) + 1,
    clip: noise?.clip ?? config.clip,
    levels,
    ...(noise ? { noiseSigma2: noise.sigma2 } : {}),
  };
}
