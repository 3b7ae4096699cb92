import type { NamedTensor, Result } from '../../protocol/index.js';
import { beginMean, foldMean, meanDelta, type MeanDeltaAcc } from './mean-delta.js';
import type { AggregationStrategy, SiteUpdate } from './strategy.js';
import { addScaledInto, cloneTensors } from './weighted-sum.js';

/**
 * FedAvg (McMahan et al. 2017, arXiv 1602.05629): the next model is the global model plus the
 * mean of the deltas weighted by each site's example count.
 */
export class FedAvg implements AggregationStrategy<MeanDeltaAcc> {
  readonly name: string = 'fedavg';
  readonly holdsAllUpdates = false;

  begin(global: readonly NamedTensor[]): MeanDeltaAcc {
    return beginMean(global);
  }

  fold(acc: MeanDeltaAcc, update: SiteUpdate): Result<MeanDeltaAcc> {
    return foldMean(acc, update);
  }

  close(acc: MeanDeltaAcc): NamedTensor[] | undefined {
    const mean = meanDelta(acc);
    if (!mean) return undefined;
    const next = cloneTensors(acc.global);
    addScaledInto(next, mean, 1);
    return next;
  }
}
