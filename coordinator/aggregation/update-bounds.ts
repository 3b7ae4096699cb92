import {
  checkTensorShapes,
  fail,
  l2Norm,
  ok,
  type NamedTensor,
  type Result,
} from '../../protocol/index.js';
import { beginMean, foldMean, type MeanDeltaAcc } from './mean-delta.js';
import type { BoundReference, NormLimit, PartialSum, PartialTerms } from './fold-terms.js';
import type { BoundedUpdate, SiteUpdate } from './strategy.js';
import type { WeightedSumMemory } from './weighted-sum.js';

/**
 * A site weighs at most this many times the reference round's median example count: the count
 * is the site's own claim, so without a bound one claim of 1e9 outweighs every other site.
 */
export const MAX_EXAMPLES_RATIO = 2;

/**
 * The mean family's default norm bound, in medians: 2 keeps a clean run's accuracy, and a run
 * with one Byzantine site in five within 2 points of it (tests/hostile/byzantine-run.test.ts).
 */
export const DEFAULT_MAX_NORM_RATIO = 2;

/** One update's weight and delta scale under the bounds; `bounded` when either was cut. */
export interface UpdateWeight {
  readonly weight: number;
  readonly deltaScale: number;
  readonly maxNorm: number;
  readonly maxWeight: number;
  readonly bounded: boolean;
}

/** The median; of an even count, the mean of the middle two. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** The reference a round's folded updates set for the rounds after it. */
export function referenceOf(
  measured: readonly { readonly norm: number; readonly numExamples: number }[],
): BoundReference {
  return {
    medianNorm: median(measured.map((m) => m.norm)),
    medianExamples: median(measured.map((m) => m.numExamples)),
  };
}

/**
 * An update's weight min(claimed, MAX_EXAMPLES_RATIO x median count) and delta scale
 * min(1, maxNorm / norm): the norm bound of Sun et al. 2019 ("Can You Really Backdoor
 * Federated Learning?"), made relative to the federation's own typical update.
 */
export function weighUpdate(
  norm: number,
  numExamples: number,
  reference: BoundReference,
  limit: NormLimit,
): UpdateWeight {
  const maxNorm = limit.kind === 'fixed' ? limit.maxNorm : limit.ratio * reference.medianNorm;
  const maxWeight = MAX_EXAMPLES_RATIO * reference.medianExamples;
  const weight = Math.min(numExamples, maxWeight);
  const deltaScale = norm > maxNorm ? maxNorm / norm : 1;
  return {
    weight,
    deltaScale,
    maxNorm,
    maxWeight,
    bounded: deltaScale < 1 || weight < numExamples,
  };
}

interface Measured {
  readonly update: SiteUpdate;
  readonly norm: number;
}

/** The mean family's round state: the running sum, and what the bounds need of it. */
export interface BoundedMeanAcc {
  mean: MeanDeltaAcc;
  /** The bounds of this round: the last closed round's medians; none yet in the first. */
  readonly reference: BoundReference | undefined;
  /** Without a reference, every update waits here for the round's own medians at close. */
  readonly held: Measured[];
  /** Norm and count of each folded update: the next round's reference. */
  readonly measured: { readonly norm: number; readonly numExamples: number }[];
  readonly bounded: BoundedUpdate[];
}

/**
 * The mean family's fold under bounds on each site's norm and weight. The bounds come from the
 * medians of the last closed round, so an update is bounded as it arrives and memory stays
 * O(model); a round with no round before it (the run's first, or the first after a restart)
 * holds its updates, O(sites x model), and bounds them by its own medians when it closes.
 */
export class BoundedMean {
  private reference: BoundReference | undefined;

  constructor(
    private readonly limit: NormLimit,
    private readonly memory: WeightedSumMemory,
  ) {}

  begin(global: readonly NamedTensor[]): BoundedMeanAcc {
    return {
      mean: beginMean(global, this.memory),
      reference: this.reference,
      held: [],
      measured: [],
      bounded: [],
    };
  }

  fold(acc: BoundedMeanAcc, update: SiteUpdate): Result<BoundedMeanAcc> {
    const norm = l2Norm(update.delta);
    if (!acc.reference) {
      // Held updates are summed only at close, too late to refuse: check them now.
      const matches = checkTensorShapes(acc.mean.global, update.delta);
      if (!matches.ok) return matches;
      if (!Number.isFinite(norm)) {
        return fail('update.non_finite', 'the delta holds NaN or infinite values');
      }
      acc.held.push({ update, norm });
      return ok(acc);
    }
    const folded = this.foldWeighed(acc, { update, norm }, acc.reference);
    return folded.ok ? ok(acc) : folded;
  }

  /** The round's sum with every update in; sets the reference for the next round. */
  settle(acc: BoundedMeanAcc): MeanDeltaAcc {
    if (acc.held.length > 0) {
      const reference = referenceOf(
        acc.held.map((h) => ({ norm: h.norm, numExamples: h.update.numExamples })),
      );
      // A held update can still overflow the sum, bounded as it is: it is left out.
      for (const held of acc.held.splice(0)) this.foldWeighed(acc, held, reference);
    }
    if (acc.measured.length > 0) this.reference = referenceOf(acc.measured);
    return acc.mean;
  }

  /** Folding is linear once this round has a reference: edges may fold partial sums. */
  partialTerms(acc: BoundedMeanAcc): PartialTerms | undefined {
    return acc.reference && { kind: 'bounded', reference: acc.reference, limit: this.limit };
  }

  foldPartial(acc: BoundedMeanAcc, partial: PartialSum): Result<BoundedMeanAcc> {
    const { reference } = acc;
    if (!reference) {
      return fail('protocol.unexpected_message', 'a partial sum in a round without bounds yet');
    }
    const matches = checkTensorShapes(acc.mean.global, partial.sum);
    if (!matches.ok) return matches;
    const added = acc.mean.weightedSum.add(partial.sum, 1);
    if (!added.ok) return added;
    let weights = 0;
    for (const entry of partial.entries) {
      const weighed = weighUpdate(entry.norm, entry.numExamples, reference, this.limit);
      weights += weighed.weight;
      this.record(acc, entry.site, entry.norm, entry.numExamples, weighed);
    }
    acc.mean = { ...acc.mean, totalExamples: acc.mean.totalExamples + weights };
    return ok(acc);
  }

  private foldWeighed(
    acc: BoundedMeanAcc,
    { update, norm }: Measured,
    reference: BoundReference,
  ): Result<true> {
    const weighed = weighUpdate(norm, update.numExamples, reference, this.limit);
    const folded = foldMean(
      acc.mean,
      { ...update, numExamples: weighed.weight },
      { deltaScale: weighed.deltaScale },
    );
    if (!folded.ok) return folded;
    acc.mean = folded.value;
    this.record(acc, update.site, norm, update.numExamples, weighed);
    return ok(true);
  }

  /** What the bounds keep of a folded update: its measures, and whether it was cut. */
  private record(
    acc: BoundedMeanAcc,
    site: string,
    norm: number,
    numExamples: number,
    weighed: UpdateWeight,
  ): void {
    acc.measured.push({ norm, numExamples });
    if (weighed.bounded) {
      acc.bounded.push({
        site,
        norm,
        maxNorm: weighed.maxNorm,
        numExamples,
        weight: weighed.weight,
      });
    }
  }
}
