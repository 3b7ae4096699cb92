import {
  checkTensorShapes,
  fail,
  l2Norm,
  ok,
  type NamedTensor,
  type Result,
} from '../../protocol/index.js';
import { weighUpdate, type BoundReference, type NormLimit } from './update-bounds.js';
import type { WeightedSum, WeightedSumMemory } from './weighted-sum.js';

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

/** The scale that clips a delta of `norm` to `clipNorm` in L2. */
export function clipScale(norm: number, clipNorm: number): number {
  return norm > clipNorm ? clipNorm / norm : 1;
}

/** An update's weight and delta scale under `terms`: the same at the edge and at the leader. */
export function weighPartial(
  terms: PartialTerms,
  norm: number,
  numExamples: number,
): { readonly weight: number; readonly deltaScale: number } {
  if (terms.kind === 'clipped') return { weight: 1, deltaScale: clipScale(norm, terms.clipNorm) };
  return weighUpdate(norm, numExamples, terms.reference, terms.limit);
}

/**
 * An edge node's partial sum of one attempt: each update checked as the leader's fold checks it
 * (shapes, finite values) and folded in as it arrives, so memory stays O(model).
 */
export class PartialFold {
  private readonly sum: WeightedSum;
  private readonly entries: PartialEntry[] = [];

  constructor(
    private readonly global: readonly NamedTensor[],
    readonly terms: PartialTerms,
    memory: WeightedSumMemory,
  ) {
    this.sum = memory.start(global);
  }

  add(site: string, delta: readonly NamedTensor[], numExamples: number): Result<true> {
    const matches = checkTensorShapes(this.global, delta);
    if (!matches.ok) return matches;
    const norm = l2Norm(delta);
    if (!Number.isFinite(norm)) {
      return fail('update.non_finite', 'the delta holds NaN or infinite values');
    }
    const { weight, deltaScale } = weighPartial(this.terms, norm, numExamples);
    const added = this.sum.add(delta, weight * deltaScale);
    if (!added.ok) return added;
    this.entries.push({ site, norm, numExamples });
    return ok(true);
  }

  /** Whether an update of `site` is in the sum. */
  holds(site: string): boolean {
    return this.entries.some((e) => e.site === site);
  }

  /**
   * The sum, if it holds exactly one update of each of `sites` and nothing else; undefined when
   * it holds another (an update the leader did not keep), and the leader refolds them itself.
   */
  of(sites: readonly string[]): PartialSum | undefined {
    const held = this.entries.map((e) => e.site).sort();
    const wanted = [...sites].sort();
    if (held.length !== wanted.length || held.some((site, i) => site !== wanted[i])) {
      return undefined;
    }
    return { sum: this.sum.tensors(), entries: [...this.entries] };
  }
}
