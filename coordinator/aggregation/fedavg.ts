import type { NamedTensor, Result } from '../../protocol/index.js';
import { beginMean, foldMean, type MeanDeltaAcc } from './mean-delta.js';
import type { AggregationStrategy, SiteUpdate } from './strategy.js';
import { addScaledInto, cloneTensors } from './tensor-arithmetic.js';
import { WeightedSumMemory } from './weighted-sum.js';

/**
 * FedAvg (McMahan et al. 2017, arXiv 1602.05629): the next model is the global model plus the
 * mean of the deltas weighted by each site's example count.
 */
export class FedAvg implements AggregationStrategy<MeanDeltaAcc> {
  readonly name: string = 'fedavg';
  readonly holdsAllUpdates = false;
  private readonly sums = new WeightedSumMemory();

  begin(global: readonly NamedTensor[]): MeanDeltaAcc {
    return beginMean(global, this.sums);
  }

  fold(acc: MeanDeltaAcc, update: SiteUpdate): Result<MeanDeltaAcc> {
    return foldMean(acc, update);
  }

  close(acc: MeanDeltaAcc): NamedTensor[] | undefined {
    if (acc.totalExamples === 0) return undefined;
    // global + sum / totalExamples, without the mean as a tensor of its own.
    const next = cloneTensors(acc.global);
    addScaledInto(next, acc.weightedSum.tensors(), 1 / acc.totalExamples);
    return next;
  }
}
