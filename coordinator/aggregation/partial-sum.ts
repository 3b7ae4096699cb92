import {
  checkTensorShapes,
  fail,
  l2Norm,
  ok,
  type NamedTensor,
  type Result,
} from '../../protocol/index.js';
import type { PartialEntry, PartialSum, PartialTerms } from './fold-terms.js';
import { weighUpdate } from './update-bounds.js';
import type { WeightedSum, WeightedSumMemory } from './weighted-sum.js';

/** Whether `entries` are one update of each of `sites` and nothing else. */
export function holdsExactly(entries: readonly PartialEntry[], sites: readonly string[]): boolean {
  const held = entries.map((e) => e.site).sort();
  const wanted = [...sites].sort();
  return held.length === wanted.length && held.every((site, i) => site === wanted[i]);
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
    if (!holdsExactly(this.entries, sites)) return undefined;
    return { sum: this.sum.tensors(), entries: [...this.entries] };
  }
}
