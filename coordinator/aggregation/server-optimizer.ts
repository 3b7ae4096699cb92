import { fail, ok, type NamedTensor, type Result } from '../../protocol/index.js';
import { beginMean, foldMean, meanDelta, type MeanDeltaAcc } from './mean-delta.js';
import type { AggregationStrategy, SiteUpdate } from './strategy.js';
import { WeightedSumMemory } from './weighted-sum.js';

/**
 * The FedOpt family (Reddi et al. 2021, "Adaptive Federated Optimization", arXiv 2003.00295):
 * the example-weighted mean delta is a pseudo-gradient, and a server optimizer with its own
 * state decides the step. Folding is FedAvg's, so memory stays O(model); the state (momentum,
 * second moments) persists across rounds in the strategy instance, which lives for one run.
 */
export abstract class ServerOptimizer implements AggregationStrategy<MeanDeltaAcc> {
  abstract readonly name: string;
  readonly holdsAllUpdates = false;
  /** Per-tensor optimizer state, created on the first close. */
  protected state: Float32Array[][] | undefined;
  private readonly sums = new WeightedSumMemory();

  begin(global: readonly NamedTensor[]): MeanDeltaAcc {
    return beginMean(global, this.sums);
  }

  fold(acc: MeanDeltaAcc, update: SiteUpdate): Result<MeanDeltaAcc> {
    return foldMean(acc, update);
  }

  /** How many state vectors per weight the optimizer keeps (momentum: 1; Adam, Yogi: 2). */
  protected abstract readonly slots: number;

  /** One element's step: returns the change to the weight and updates its state in place. */
  protected abstract step(delta: number, state: Float32Array[], index: number): number;

  close(acc: MeanDeltaAcc): NamedTensor[] | undefined {
    const mean = meanDelta(acc);
    if (!mean) return undefined;
    this.state ??= acc.global.map((tensor) =>
      Array.from({ length: this.slots }, () => new Float32Array(tensor.values.length)),
    );
    const state = this.state;
    return acc.global.map((tensor, t) => {
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
