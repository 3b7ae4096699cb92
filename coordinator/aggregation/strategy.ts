import type { NamedTensor, Result } from '../../protocol/index.js';
import type { PartialSum, PartialTerms } from './fold-terms.js';

/** One site's contribution to a round. */
export interface SiteUpdate {
  readonly site: string;
  readonly delta: readonly NamedTensor[];
  readonly numExamples: number;
}

/** An update the mean family's bounds cut: its delta scaled down, its weight lowered, or both. */
export interface BoundedUpdate {
  readonly site: string;
  readonly norm: number;
  readonly maxNorm: number;
  /** What the site claimed, and the weight it was given. */
  readonly numExamples: number;
  readonly weight: number;
}

/**
 * How a round's updates become the next global model, as a fold:
 *
 *   begin(global) -> acc;  fold(acc, update) -> acc;  close(acc) -> next global | undefined
 *
 * `fold` refuses an update whose tensors do not match the global model or hold NaN or
 * infinities (coded error; the accumulator is unchanged): the coordinator decodes updates
 * without checking values and relies on this. `close` returns undefined when nothing was folded:
 * no new model. The mean family folds each update into a running sum, so memory stays O(model)
 * however many sites report; order statistics (median, trimmed mean) cannot, and say so with
 * `holdsAllUpdates`: their memory is O(sites x model). A strategy instance lives for one run,
 * so server optimizers keep their moments across rounds in it, and the mean family its sum's
 * memory: an instance folds one round at a time, and `begin` voids the accumulator before.
 */
export interface AggregationStrategy<Acc> {
  readonly name: string;
  readonly holdsAllUpdates: boolean;
  begin(global: readonly NamedTensor[]): Acc;
  fold(acc: Acc, update: SiteUpdate): Result<Acc>;
  close(acc: Acc): NamedTensor[] | undefined;
  /**
   * The terms this round's updates fold under, when they are fixed before any arrives, so edge
   * nodes may fold partial sums (partial-sum.ts); undefined when every update must come here:
   * order statistics, and the mean family's round whose bounds await its own medians.
   */
  partialTerms?(acc: Acc): PartialTerms | undefined;
  /** Adds a partial sum made under `partialTerms(acc)`, as if its updates were folded here. */
  foldPartial?(acc: Acc, partial: PartialSum): Result<Acc>;
  /**
   * After `close`: the round's updates that were bounded (update-bounds.ts), for the audit log.
   * Absent for strategies that bound nothing this way.
   */
  bounded?(acc: Acc): readonly BoundedUpdate[];
  /**
   * State kept across rounds (a server optimizer's moments), so that a restarted coordinator
   * continues exactly where it stopped. Absent for strategies that keep none.
   */
  exportState?(): NamedTensor[] | undefined;
  importState?(state: readonly NamedTensor[]): Result<true>;
}
