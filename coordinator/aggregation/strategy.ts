import type { NamedTensor, Result } from '../../protocol/index.js';

/** One site's contribution to a round. */
export interface SiteUpdate {
  readonly site: string;
  readonly delta: readonly NamedTensor[];
  readonly numExamples: number;
}

/**
 * How a round's updates become the next global model, as a fold so that memory stays
 * O(model) however many sites report:
 *
 *   begin(global) -> acc;  fold(acc, update) -> acc;  close(acc) -> next global | undefined
 *
 * `fold` refuses an update whose tensors do not match the global model (coded error; the
 * accumulator is unchanged). `close` returns undefined when nothing was folded: no new model.
 */
export interface AggregationStrategy<Acc> {
  readonly name: string;
  begin(global: readonly NamedTensor[]): Acc;
  fold(acc: Acc, update: SiteUpdate): Result<Acc>;
  close(acc: Acc): NamedTensor[] | undefined;
}

export const AGGREGATION_STRATEGY = Symbol('AGGREGATION_STRATEGY');
