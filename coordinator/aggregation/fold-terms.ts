import type { NamedTensor } from '../../protocol/index.js';

// The types the folds and their partial sums share, with no code: the strategies, the bounds
// and the partial sums all import them, so they sit apart from all three.

/** What a round's updates are measured against: the medians of a round that closed. */
export interface BoundReference {
  readonly medianNorm: number;
  readonly medianExamples: number;
}

/** How large a delta may be: relative to the reference's median norm, or a fixed L2 norm. */
export type NormLimit =
  | { readonly kind: 'median-ratio'; readonly ratio: number }
  | { readonly kind: 'fixed'; readonly maxNorm: number };

/**
 * What an attempt's updates fold under, fixed before the first arrives, so that an edge node
 * can fold its sites' updates into a partial sum that the leader adds to its own (hierarchical
 * aggregation): the mean family's bounds, taken from the last closed round's medians, or
 * DP-FedAvg's clip norm with equal weights. The fold is linear once these are fixed, so the sum
 * of partial sums is the sum a single node makes, up to float32 rounding. Order statistics
 * (median, trimmed mean) have no such terms: they need every update at one place.
 */
export type PartialTerms =
  | { readonly kind: 'bounded'; readonly reference: BoundReference; readonly limit: NormLimit }
  | { readonly kind: 'clipped'; readonly clipNorm: number };

/** One update inside a partial sum: what the leader's bookkeeping needs of it. */
export interface PartialEntry {
  readonly site: string;
  /** The delta's L2 norm before any bound or clip. */
  readonly norm: number;
  /** What the site claimed. */
  readonly numExamples: number;
}

/** Sum over `entries` of weight x scale x delta, each weighed by `weighPartial`. */
export interface PartialSum {
  readonly sum: readonly NamedTensor[];
  readonly entries: readonly PartialEntry[];
}
