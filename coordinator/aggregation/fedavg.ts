import type { NamedTensor, Result } from '../../protocol/index.js';
import type { NormLimit, PartialSum, PartialTerms } from './fold-terms.js';
import type { AggregationStrategy, BoundedUpdate, SiteUpdate } from './strategy.js';
import { addScaledInto, cloneTensors } from './tensor-arithmetic.js';
import { BoundedMean, DEFAULT_MAX_NORM_RATIO, type BoundedMeanAcc } from './update-bounds.js';
import { WeightedSumMemory } from './weighted-sum.js';

/**
 * FedAvg (McMahan et al. 2017, arXiv 1602.05629): the next model is the global model plus the
 * mean of the deltas weighted by each site's example count, each delta's norm and each site's
 * weight bounded (update-bounds.ts).
 */
export class FedAvg implements AggregationStrategy<BoundedMeanAcc> {
  readonly name: string = 'fedavg';
  readonly holdsAllUpdates = false;
  private readonly bounds: BoundedMean;

  constructor(limit: NormLimit = { kind: 'median-ratio', ratio: DEFAULT_MAX_NORM_RATIO }) {
    this.bounds = new BoundedMean(limit, new WeightedSumMemory());
  }

  begin(global: readonly NamedTensor[]): BoundedMeanAcc {
    return this.bounds.begin(global);
  }

  fold(acc: BoundedMeanAcc, update: SiteUpdate): Result<BoundedMeanAcc> {
    return this.bounds.fold(acc, update);
  }

  partialTerms(acc: BoundedMeanAcc): PartialTerms | undefined {
    return this.bounds.partialTerms(acc);
  }

  foldPartial(acc: BoundedMeanAcc, partial: PartialSum): Result<BoundedMeanAcc> {
    return this.bounds.foldPartial(acc, partial);
  }

  close(acc: BoundedMeanAcc): NamedTensor[] | undefined {
    const mean = this.bounds.settle(acc);
    if (mean.totalExamples === 0) return undefined;
    // global + sum / totalExamples, without the mean as a tensor of its own.
    const next = cloneTensors(mean.global);
    addScaledInto(next, mean.weightedSum.tensors(), 1 / mean.totalExamples);
    return next;
  }

  bounded(acc: BoundedMeanAcc): readonly BoundedUpdate[] {
    return acc.bounded;
  }
}
