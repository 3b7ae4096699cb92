import {
  computeRdp,
  DEFAULT_ORDERS,
  epsilonFromRdp,
  noiseMultiplierFor,
  ok,
  type Result,
} from '../../protocol/index.js';
import type { DpConfig } from './privacy-config.js';

/**
 * A run's privacy ledger: the RDP of the sampled Gaussian mechanism, one step per closed round
 * at that round's sampling rate q (sites selected / sites enrolled), composed by adding RDP per
 * order. The accountant assumes Poisson sampling; rounds select a fixed number of sites, for
 * which this is the usual approximation (TF Privacy and Opacus make the same one).
 */
export class RunPrivacy {
  readonly noiseMultiplier: number;
  private readonly rdp: number[] = DEFAULT_ORDERS.map(() => 0);
  private spentEpsilon = 0;

  /**
   * `plannedRate` and `rounds`: the sampling rate and round count the run expects, from which
   * the noise multiplier is chosen when the config leaves it open.
   */
  static create(config: DpConfig, plannedRate: number, rounds: number): Result<RunPrivacy> {
    if (config.noiseMultiplier !== undefined) {
      return ok(new RunPrivacy(config, config.noiseMultiplier));
    }
    const z = noiseMultiplierFor(config.epsilon, config.delta, plannedRate, rounds);
    return z.ok ? ok(new RunPrivacy(config, z.value)) : z;
  }

  private constructor(
    readonly config: DpConfig,
    noiseMultiplier: number,
  ) {
    this.noiseMultiplier = noiseMultiplier;
  }

  get epsilon(): number {
    return this.spentEpsilon;
  }

  private epsilonWith(rdp: readonly number[]): number {
    return epsilonFromRdp(rdp, DEFAULT_ORDERS, this.config.delta).epsilon;
  }

  private withStep(rate: number): number[] {
    const step = computeRdp(rate, this.noiseMultiplier, 1, DEFAULT_ORDERS);
    return this.rdp.map((total, i) => total + step[i]!);
  }

  /** Whether one more round at this sampling rate stays within the budget. */
  allows(rate: number): boolean {
    return this.epsilonWith(this.withStep(rate)) <= this.config.epsilon;
  }

  /** Spends one round of the Gaussian mechanism at this sampling rate; returns epsilon so far. */
  record(rate: number): number {
    return this.recordRdp(computeRdp(rate, this.noiseMultiplier, 1, DEFAULT_ORDERS));
  }

  /**
   * Spends one round whose RDP at each of DEFAULT_ORDERS is `step` (the distributed discrete
   * Gaussian's, which sites' noise keeps at or under the Gaussian's at q = 1, so `allows`
   * holds for it); returns epsilon so far.
   */
  recordRdp(step: readonly number[]): number {
    step.forEach((r, i) => (this.rdp[i]! += r));
    this.spentEpsilon = this.epsilonWith(this.rdp);
    return this.spentEpsilon;
  }
}

/** How many sites a round of this run selects when `enrolled` are enrolled and all ready. */
export function plannedParticipants(
  spec: { minSites: number; participationFraction: number },
  enrolled: number,
): number {
  return Math.min(
    enrolled,
    Math.max(spec.minSites, Math.ceil(spec.participationFraction * enrolled)),
  );
}
