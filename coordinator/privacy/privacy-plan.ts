import {
  ddgRdp,
  ddgTau,
  DEFAULT_ORDERS,
  fail,
  ok,
  roundedL2Sensitivity,
  type Result,
} from '../../protocol/index.js';
import type { AggregationStrategy } from '../aggregation/strategy.js';
import { createStrategy, type AggregationConfig } from '../aggregation/strategy-config.js';
import type { AuditEvent } from '../events/coordinator-events.js';
import { DpFedAvg } from './dp-fedavg.js';
import type { DpConfig } from './privacy-config.js';
import { plannedParticipants, RunPrivacy } from './run-privacy.js';
import type { SecureAggregationConfig } from './secure-aggregation-config.js';

/** What of a run spec its privacy depends on. */
export interface PrivacySpec {
  readonly rounds: number;
  readonly minSites: number;
  readonly participationFraction: number;
  readonly clipNorm?: number;
  readonly aggregation: AggregationConfig;
  readonly privacy: { dp?: DpConfig; secureAggregation?: SecureAggregationConfig };
}

/**
 * How the run's rounds select their sites, as the ledger accounts for it. Sites are chosen by a
 * generator seeded from the run spec, which operators and the API see, among the sites that
 * happen to be connected: no secret random draw, so no amplification by sampling is claimed and
 * every round is accounted at q = 1, whatever share of the sites it selects.
 */
export const SAMPLING = { method: 'seeded', q: 1 } as const;

/** The privacy figures of one released round, for its summary. */
export interface PrivacySpent {
  readonly epsilon: number;
  readonly noise_multiplier: number;
  readonly clip_norm: number;
  readonly sampling_rate: number;
}

/** What sites of one secure round are told to do for distributed DP. */
export interface DistributedNoise {
  /** The quantization range: the clipped update plus eight standard deviations of its noise. */
  readonly clip: number;
  /** Each site's discrete Gaussian sigma², in grid units (steps of 2 clip / levels). */
  readonly sigma2: number;
}

/** Sites' noise is widened until tau, the sum's distance from a discrete Gaussian, is this small. */
const MAX_TAU_SHARE = 0.5;

/**
 * A run's privacy, built once from its spec: the DP ledger, the strategy plain rounds fold with
 * (DP-FedAvg under DP, else the configured one), and what sites are told to do themselves (clip,
 * and with secure aggregation add their share of the noise). The runs service checks a spec
 * with it when the run is created; the conductor runs with it.
 */
export class PrivacyPlan {
  /** The RDP of this round's secure attempts so far, the largest per order: what spend() records. */
  private roundRdp: number[] | undefined;

  private constructor(
    private readonly spec: PrivacySpec,
    readonly strategy: AggregationStrategy<unknown>,
    private readonly dp: { ledger: RunPrivacy; strategy: DpFedAvg; config: DpConfig } | undefined,
  ) {}

  /** `enrolled`: the sites enrolled now, whose share the planned rounds select. */
  static create(spec: PrivacySpec, enrolled: number): Result<PrivacyPlan> {
    const config = spec.privacy.dp;
    if (!config) return ok(new PrivacyPlan(spec, createStrategy(spec.aggregation), undefined));
    const expected = plannedParticipants(spec, enrolled);
    const rate = SAMPLING.q;
    const ledger = RunPrivacy.create(config, rate, spec.rounds);
    if (!ledger.ok) return fail('config.invalid', ledger.error.message, ['privacy', 'dp']);
    const strategy = DpFedAvg.create(config, ledger.value.noiseMultiplier, expected);
    if (!strategy.ok) {
      return fail('config.invalid', strategy.error.message, ['privacy', 'dp', 'adaptiveClipping']);
    }
    if (!ledger.value.allows(rate)) {
      return fail(
        'config.invalid',
        `epsilon ${config.epsilon} allows not even one round at noise multiplier ${ledger.value.noiseMultiplier} (sampling rate ${rate}: seeded selection)`,
        ['privacy', 'dp', 'epsilon'],
      );
    }
    return ok(
      new PrivacyPlan(spec, strategy.value, {
        ledger: ledger.value,
        strategy: strategy.value,
        config,
      }),
    );
  }

  get secureAggregation(): boolean {
    return this.spec.privacy.secureAggregation?.enabled === true;
  }

  /** The ledger, when the run is differentially private. */
  get ledger(): RunPrivacy | undefined {
    return this.dp?.ledger;
  }

  /** Whether one more round stays within the budget (always, without DP). */
  allows(): boolean {
    return this.dp?.ledger.allows(SAMPLING.q) ?? true;
  }

  /** A restarted run's ledger: every charged attempt's step again, the same epsilon. */
  replay(rates: readonly number[]): void {
    for (const rate of rates) this.dp?.ledger.record(rate);
  }

  /** Spends one released round: its figures, or nothing without DP. */
  spend(): PrivacySpent | undefined {
    if (!this.dp) return undefined;
    const rate = SAMPLING.q;
    const { ledger, strategy, config } = this.dp;
    const roundRdp = this.roundRdp;
    this.roundRdp = undefined;
    return {
      // A secure round's own bound; a round replayed after a restart (see replay) or a plain
      // one is accounted as the Gaussian mechanism, which bounds the discrete one from above.
      epsilon: roundRdp ? ledger.recordRdp(roundRdp) : ledger.record(rate),
      noise_multiplier: ledger.noiseMultiplier,
      // Secure rounds are clipped by the sites, to the configured norm (adaptive clipping is
      // refused with secure aggregation); plain ones by DP-FedAvg, whose norm may move.
      clip_norm: this.secureAggregation ? config.clipNorm : strategy.lastClipNorm,
      sampling_rate: rate,
    };
  }

  /** The audit log's record of a round's spending. */
  spentEvent(round: number, spent: PrivacySpent): AuditEvent {
    return {
      event: 'privacy.spent',
      round,
      epsilon: spent.epsilon,
      delta: this.dp?.config.delta,
      noiseMultiplier: spent.noise_multiplier,
      clipNorm: spent.clip_norm,
      samplingRate: spent.sampling_rate,
    };
  }

  /**
   * The L2 norm sites clip their updates to: the run's, or with differential privacy and secure
   * aggregation the DP clip norm (the coordinator cannot clip updates it never sees).
   */
  siteClipNorm(): number | undefined {
    const dp = this.spec.privacy.dp;
    if (dp && this.secureAggregation) return Math.min(this.spec.clipNorm ?? Infinity, dp.clipNorm);
    return this.spec.clipNorm;
  }

  /**
   * With differential privacy and secure aggregation the sites add the noise (distributed DP),
   * each a discrete Gaussian on the round's grid (Kairouz, Liu and Steinke 2021). The sum of at
   * least minSites of them must be as private as central DP with the ledger's z: sensitivity
   * C/step grows by sqrt(d) for the stochastic rounding, and sigma² is chosen so that KLS's
   * epsilon, Delta/(sqrt(minSites) sigma) + tau sqrt(d), is at most 1/z, whatever the number
   * of survivors between minSites and the participants; its RDP is then at most the
   * Gaussian's alpha/(2 z²) that `allows` plans with. The RDP is kept for spend().
   *
   * The quantization range covers the clipped update plus eight standard deviations of a
   * site's noise (in the continuous mechanism's terms, z C / sqrt(minSites)): the sum's range,
   * 2^31 steps either side of its centre, is then n times that, so the noisy sum of n sites
   * practically never wraps around mod 2^32.
   */
  distributedNoise(round: {
    readonly participants: number;
    readonly levels: number;
    readonly dimension: number;
  }): DistributedNoise | undefined {
    if (!this.dp || !this.secureAggregation) return undefined;
    const { participants, levels, dimension } = round;
    const clipNorm = this.dp.config.clipNorm;
    const z = this.dp.ledger.noiseMultiplier;
    const minSites = this.spec.minSites;
    const stddev = (z * clipNorm) / Math.sqrt(minSites);
    const clip = Math.max(this.spec.privacy.secureAggregation?.clip ?? 0, clipNorm + 8 * stddev);
    const sensitivity = roundedL2Sensitivity((clipNorm * levels) / (2 * clip), dimension);
    // Delta/(sqrt(minSites) sigma) = 1/z exactly, then widened by 1/(1 - share) to make room
    // for tau sqrt(d) = share/z (tau only falls as sigma grows).
    let base = (z * sensitivity) ** 2 / minSites;
    const share = () => z * ddgTau(base, participants) * Math.sqrt(dimension);
    while (share() > MAX_TAU_SHARE) base *= 4;
    // The last factor covers the doubles' rounding, so the ledger never records above 1/z.
    const sigma2 = (base / (1 - share()) ** 2) * (1 + 2 ** -40);
    const rdp = ddgRdp(
      { sensitivity, sigma2, minSummands: minSites, maxSummands: participants, dimension },
      DEFAULT_ORDERS,
    );
    this.roundRdp = this.roundRdp ? this.roundRdp.map((r, i) => Math.max(r, rdp[i]!)) : rdp;
    return { clip, sigma2 };
  }
}
