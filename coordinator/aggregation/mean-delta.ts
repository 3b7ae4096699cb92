import { checkTensorsMatch, ok, type NamedTensor, type Result } from '../../protocol/index.js';
import type { SiteUpdate } from './strategy.js';
import { addScaledInto, zerosLike } from './weighted-sum.js';

/** The running state of the mean family: sum over sites of numExamples x delta. */
export interface MeanDeltaAcc {
  readonly global: readonly NamedTensor[];
  readonly weightedSum: NamedTensor[];
  readonly totalExamples: number;
}

export function beginMean(global: readonly NamedTensor[]): MeanDeltaAcc {
  return { global, weightedSum: zerosLike(global), totalExamples: 0 };
}

/** Folds one update in place (one pass over memory); refuses a mismatched update first. */
export function foldMean(acc: MeanDeltaAcc, update: SiteUpdate): Result<MeanDeltaAcc> {
  const matches = checkTensorsMatch(acc.global, update.delta);
  if (!matches.ok) return matches;
  addScaledInto(acc.weightedSum, update.delta, update.numExamples);
  return ok({ ...acc, totalExamples: acc.totalExamples + update.numExamples });
}

/** The example-weighted mean delta, or undefined when nothing was folded. */
export function meanDelta(acc: MeanDeltaAcc): NamedTensor[] | undefined {
  if (acc.totalExamples === 0) return undefined;
  const mean = zerosLike(acc.global);
  addScaledInto(mean, acc.weightedSum, 1 / acc.totalExamples);
  return mean;
}
