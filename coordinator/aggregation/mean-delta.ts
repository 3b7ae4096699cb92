import { checkTensorShapes, ok, type NamedTensor, type Result } from '../../protocol/index.js';
import type { SiteUpdate } from './strategy.js';
import { addScaledInto, zerosLike } from './tensor-arithmetic.js';
import type { WeightedSum, WeightedSumMemory } from './weighted-sum.js';

/** The running state of the mean family: sum over sites of numExamples x delta. */
export interface MeanDeltaAcc {
  readonly global: readonly NamedTensor[];
  readonly weightedSum: WeightedSum;
  readonly totalExamples: number;
}

export function beginMean(global: readonly NamedTensor[], memory: WeightedSumMemory): MeanDeltaAcc {
  return { global, weightedSum: memory.start(global), totalExamples: 0 };
}

/**
 * Folds one update in, in one pass over memory: refuses a mismatched update first, and NaN or
 * infinities in the same pass as the sum, leaving the accumulator unchanged. `deltaScale`
 * multiplies the delta as it is folded (norm bounding), so no scaled copy is made.
 */
export function foldMean(
  acc: MeanDeltaAcc,
  update: SiteUpdate,
  { deltaScale = 1 }: { readonly deltaScale?: number } = {},
): Result<MeanDeltaAcc> {
  const matches = checkTensorShapes(acc.global, update.delta);
  if (!matches.ok) return matches;
  const added = acc.weightedSum.add(update.delta, update.numExamples * deltaScale);
  if (!added.ok) return added;
  return ok({ ...acc, totalExamples: acc.totalExamples + update.numExamples });
}

/** The example-weighted mean delta, or undefined when nothing was folded. */
export function meanDelta(acc: MeanDeltaAcc): NamedTensor[] | undefined {
  if (acc.totalExamples === 0) return undefined;
  const mean = zerosLike(acc.global);
  addScaledInto(mean, acc.weightedSum.tensors(), 1 / acc.totalExamples);
  return mean;
}
