import { checkTensorsMatch, ok, type NamedTensor, type Result } from '../../protocol/index.js';
import type { AggregationStrategy, SiteUpdate } from './strategy.js';
import { addScaledInto, cloneTensors, zerosLike } from './weighted-sum.js';

interface FedAvgAcc {
  readonly global: readonly NamedTensor[];
  /** Sum over sites of numExamples x delta. */
  readonly weightedSum: NamedTensor[];
  readonly totalExamples: number;
}

/**
 * FedAvg (McMahan et al. 2017, arXiv 1602.05629): the next model is the global model plus the
 * mean of the deltas weighted by each site's example count.
 */
export class FedAvg implements AggregationStrategy<FedAvgAcc> {
  readonly name = 'fedavg';

  begin(global: readonly NamedTensor[]): FedAvgAcc {
    return { global, weightedSum: zerosLike(global), totalExamples: 0 };
  }

  fold(acc: FedAvgAcc, update: SiteUpdate): Result<FedAvgAcc> {
    const matches = checkTensorsMatch(acc.global, update.delta);
    if (!matches.ok) return matches;
    addScaledInto(acc.weightedSum, update.delta, update.numExamples);
    return ok({ ...acc, totalExamples: acc.totalExamples + update.numExamples });
  }

  close(acc: FedAvgAcc): NamedTensor[] | undefined {
    if (acc.totalExamples === 0) return undefined;
    const next = cloneTensors(acc.global);
    addScaledInto(next, acc.weightedSum, 1 / acc.totalExamples);
    return next;
  }
}
