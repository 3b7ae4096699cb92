import { fail, ok, type Result } from '../../protocol/index.js';
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

/**
 * A run's privacy, built once from its spec: the DP ledger, the strategy plain rounds fold with
 * (DP-FedAvg under DP, else the configured one), and what sites are told to do themselves (clip,
 * and with secure aggregation add their share of the noise). The runs service checks a spec
 * with it when the run is created; the conductor runs with it.
 */
export class PrivacyPlan {
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
    return {
      epsilon: ledger.record(rate),
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
   * With differential privacy and secure aggregation the sites add the noise (distributed DP):
   * each N(0, (z C)^2 / minSites), so a sum of at least minSites updates carries at least the
   * noise z C of central DP, whoever drops, and the ledger's z holds. The quantization range
   * covers the clipped update plus eight standard deviations of the site's noise, so clipping
   * a noisy coordinate (which would cut the noise) practically never happens.
   */
  distributedNoise(): { stddev: number; clip: number } | undefined {
    if (!this.dp || !this.secureAggregation) return undefined;
    const clipNorm = this.dp.config.clipNorm;
    const stddev = (this.dp.ledger.noiseMultiplier * clipNorm) / Math.sqrt(this.spec.minSites);
    const range = this.spec.privacy.secureAggregation?.clip ?? 0;
    return { stddev, clip: Math.max(range, clipNorm + 8 * stddev) };
  }
}
