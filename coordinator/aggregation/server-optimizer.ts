import { fail, ok, type NamedTensor, type Result } from '../../protocol/index.js';
import { meanDelta } from './mean-delta.js';
import type { PartialSum, PartialTerms } from './fold-terms.js';
import type { AggregationStrategy, BoundedUpdate, SiteUpdate } from './strategy.js';
import { BoundedMean, type BoundedMeanAcc } from './update-bounds.js';
import { WeightedSumMemory } from './weighted-sum.js';

/**
 * The FedOpt family (Reddi et al. 2021, "Adaptive Federated Optimization", arXiv 2003.00295):
 * the example-weighted mean delta is a pseudo-gradient, and a server optimizer with its own
 * state decides the step. Folding is FedAvg's, bounds included (update-bounds.ts), so memory
 * stays O(model) after the first round; the state (momentum,
 * second moments) persists across rounds in the strategy instance, which lives for one run.
 */
export abstract class ServerOptimizer implements AggregationStrategy<BoundedMeanAcc> {
  abstract readonly name: string;
  readonly holdsAllUpdates = false;
  /** Per-tensor optimizer state, created on the first close. */
  protected state: Float32Array[][] | undefined;
  private readonly bounds: BoundedMean;

  constructor({ maxNormRatio }: { readonly maxNormRatio: number }) {
    this.bounds = new BoundedMean(
      { kind: 'median-ratio', ratio: maxNormRatio },
      new WeightedSumMemory(),
    );
  }

  begin(global: readonly NamedTensor[]): BoundedMeanAcc {
    return this.bounds.begin(global);
  }

  fold(acc: BoundedMeanAcc, update: SiteUpdate): Result<BoundedMeanAcc> {
    return this.bounds.fold(acc, update);
  }

  partialTerms(acc: BoundedMeanAcc): PartialTerms | undefined {
    return this.bounds.partialTerms(acc);
  }

  foldPartial(acc: BoundedMeanAcc, partial: PartialSum): Result<BoundedMeanAcc> {
    return this.bounds.foldPartial(acc, partial);
  }

  bounded(acc: BoundedMeanAcc): readonly BoundedUpdate[] {
    return acc.bounded;
  }

  /** How many state vectors per weight the optimizer keeps (momentum: 1; Adam, Yogi: 2). */
  protected abstract readonly slots: number;

  /** One element's step: returns the change to the weight and updates its state in place. */
  protected abstract step(delta: number, state: Float32Array[], index: number): number;

  close(acc: BoundedMeanAcc): NamedTensor[] | undefined {
    const sum = this.bounds.settle(acc);
    const mean = meanDelta(sum);
    if (!mean) return undefined;
    this.state ??= sum.global.map((tensor) =>
      Array.from({ length: this.slots }, () => new Float32Array(tensor.values.length)),
    );
    const state = this.state;
    return sum.global.map((tensor, t) => {
      const slots = state[t]!;
      const values = Float32Array.from(tensor.values);
      const d = mean[t]!.values;
      for (let i = 0; i < values.length; i++) values[i]! += this.step(d[i]!, slots, i);
      return { name: tensor.name, shape: tensor.shape, values };
    });
  }

  /** One tensor per weight tensor and slot, named `<weight>#<slot>`. */
  exportState(): NamedTensor[] | undefined {
    return this.state?.flatMap((slots, t) =>
      slots.map((values, k) => ({ name: `${t}#${k}`, shape: [values.length], values })),
    );
  }

  importState(state: readonly NamedTensor[]): Result<true> {
    if (state.length % this.slots !== 0) {
      return fail('update.shape_mismatch', `${this.name} state has ${state.length} tensors`);
    }
    const tensors: Float32Array[][] = [];
    for (let i = 0; i < state.length; i += this.slots) {
      tensors.push(state.slice(i, i + this.slots).map((s) => Float32Array.from(s.values)));
    }
    this.state = tensors;
    return ok(true);
  }
}
