import {
  addGaussianNoise,
  checkTensorShapes,
  cryptoUniform,
  gaussianNoise,
  l2Norm,
  noiseStddev,
  ok,
  type NamedTensor,
  type Result,
  type UniformSource,
} from '../../protocol/index.js';
import { beginMean, foldMean, type MeanDeltaAcc } from '../aggregation/mean-delta.js';
import type { PartialSum, PartialTerms } from '../aggregation/fold-terms.js';
import { clipScale } from '../aggregation/partial-sum.js';
import type { AggregationStrategy, SiteUpdate } from '../aggregation/strategy.js';
import { addScaledInto, cloneTensors } from '../aggregation/tensor-arithmetic.js';
import { WeightedSumMemory } from '../aggregation/weighted-sum.js';
import {
  countNoiseStddev,
  nextClipNorm,
  updateNoiseMultiplier,
  type AdaptiveClippingConfig,
} from './adaptive-clipping.js';
import type { DpConfig } from './privacy-config.js';

interface DpAcc {
  readonly mean: MeanDeltaAcc;
  /** The L2 norm of each folded update, before clipping. */
  readonly norms: readonly number[];
}

/** Adaptive clipping's share of the noise: the count's stddev and the update's multiplier. */
interface AdaptiveNoise {
  readonly config: AdaptiveClippingConfig;
  readonly countStddev: number;
  readonly updateNoiseMultiplier: number;
}

/**
 * DP-FedAvg with central noise (McMahan et al. 2018, arXiv 1710.06963): each update is clipped
 * to C in L2 as it is folded, the clipped updates are averaged with equal weight (the privacy
 * unit is a site, so example counts must not weigh in), and N(0, (z C / m)^2) is added to every
 * coordinate of the mean. With adaptive clipping (Andrew et al. 2021) part of the noise budget
 * goes to a noisy count of the updates under C, and C moves toward the target quantile after
 * each round; the update noise shrinks to z_D so that the whole still has multiplier z.
 */
export class DpFedAvg implements AggregationStrategy<DpAcc> {
  readonly name = 'dp-fedavg';
  readonly holdsAllUpdates = false;
  private readonly sums = new WeightedSumMemory();
  private readonly adaptive: AdaptiveNoise | undefined;
  private clipNorm: number;
  /** The clip norm the last closed round used. */
  lastClipNorm: number;

  /** `expectedSites`: how many updates a round brings (adaptive clipping's count noise). */
  static create(
    config: DpConfig,
    noiseMultiplier: number,
    expectedSites: number,
    uniform: UniformSource = cryptoUniform(),
  ): Result<DpFedAvg> {
    if (!config.adaptiveClipping) {
      return ok(new DpFedAvg(config, noiseMultiplier, undefined, uniform));
    }
    const countStddev = countNoiseStddev(expectedSites);
    const z = updateNoiseMultiplier(noiseMultiplier, countStddev);
    if (!z.ok) return z;
    return ok(
      new DpFedAvg(
        config,
        noiseMultiplier,
        { config: config.adaptiveClipping, countStddev, updateNoiseMultiplier: z.value },
        uniform,
      ),
    );
  }

  private constructor(
    config: DpConfig,
    private readonly noiseMultiplier: number,
    adaptive: AdaptiveNoise | undefined,
    private readonly uniform: UniformSource,
  ) {
    this.clipNorm = this.lastClipNorm = config.clipNorm;
    this.adaptive = adaptive;
  }

  begin(global: readonly NamedTensor[]): DpAcc {
    return { mean: beginMean(global, this.sums), norms: [] };
  }

  fold(acc: DpAcc, update: SiteUpdate): Result<DpAcc> {
    const norm = l2Norm(update.delta);
    // numExamples 1: an unweighted sum of clipped deltas.
    const folded = foldMean(
      acc.mean,
      { ...update, numExamples: 1 },
      { deltaScale: clipScale(norm, this.clipNorm) },
    );
    if (!folded.ok) return folded;
    return ok({ mean: folded.value, norms: [...acc.norms, norm] });
  }

  /** Clipping is per update and the noise is added at close: edges may sum clipped deltas. */
  partialTerms(): PartialTerms {
    return { kind: 'clipped', clipNorm: this.clipNorm };
  }

  foldPartial(acc: DpAcc, partial: PartialSum): Result<DpAcc> {
    const matches = checkTensorShapes(acc.mean.global, partial.sum);
    if (!matches.ok) return matches;
    const added = acc.mean.weightedSum.add(partial.sum, 1);
    if (!added.ok) return added;
    const m = partial.entries.length;
    return ok({
      mean: { ...acc.mean, totalExamples: acc.mean.totalExamples + m },
      norms: [...acc.norms, ...partial.entries.map((e) => e.norm)],
    });
  }

  close(acc: DpAcc): NamedTensor[] | undefined {
    const m = acc.norms.length;
    if (m === 0) return undefined;
    const sum = cloneTensors(acc.mean.global);
    addScaledInto(sum, acc.mean.weightedSum.tensors(), 1 / m);
    // global + mean + noise: the noise on the mean is the noise on the released model.
    const z = this.adaptive?.updateNoiseMultiplier ?? this.noiseMultiplier;
    const next = addGaussianNoise(sum, noiseStddev(z, this.clipNorm, m), this.uniform);
    this.lastClipNorm = this.clipNorm;
    if (this.adaptive) {
      const countNoise = gaussianNoise(1, this.adaptive.countStddev, this.uniform)[0]!;
      this.clipNorm = nextClipNorm(this.clipNorm, acc.norms, countNoise, this.adaptive.config);
    }
    return next;
  }

  /** The clip norm, which adaptive clipping moves between rounds, survives a restart. */
  exportState(): NamedTensor[] {
    return [{ name: 'dp/clip_norm', shape: [1], values: Float32Array.of(this.clipNorm) }];
  }

  importState(state: readonly NamedTensor[]): Result<true> {
    const value = state.find((t) => t.name === 'dp/clip_norm')?.values[0];
    if (value !== undefined && value > 0) this.clipNorm = value;
    return ok(true);
  }
}
