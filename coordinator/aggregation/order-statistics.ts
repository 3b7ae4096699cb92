import { checkTensorsMatch, ok, type NamedTensor, type Result } from '../../protocol/index.js';
import type { AggregationStrategy, SiteUpdate } from './strategy.js';

/** Every delta of the round, kept: an order statistic needs them all at once. */
export interface HeldUpdates {
  readonly global: readonly NamedTensor[];
  readonly deltas: (readonly NamedTensor[])[];
}

/**
 * The base of the coordinate-wise robust rules (Yin et al. 2018, arXiv 1803.01498): for each
 * weight, the values the sites propose are sorted and reduced by `reduce`. Unweighted by
 * example count, by design: a weight would let one site claim to be many. Memory is
 * O(sites x model) (holdsAllUpdates).
 */
export abstract class OrderStatistic implements AggregationStrategy<HeldUpdates> {
  abstract readonly name: string;
  readonly holdsAllUpdates = true;

  /** Reduces one coordinate's values, sorted ascending. */
  protected abstract reduce(sorted: Float64Array): number;

  begin(global: readonly NamedTensor[]): HeldUpdates {
    return { global, deltas: [] };
  }

  fold(acc: HeldUpdates, update: SiteUpdate): Result<HeldUpdates> {
    const matches = checkTensorsMatch(acc.global, update.delta);
    if (!matches.ok) return matches;
    acc.deltas.push(update.delta);
    return ok(acc);
  }

  close(acc: HeldUpdates): NamedTensor[] | undefined {
    const n = acc.deltas.length;
    if (n === 0) return undefined;
    const column = new Float64Array(n);
    return acc.global.map((tensor, t) => {
      const values = Float32Array.from(tensor.values);
      for (let i = 0; i < values.length; i++) {
        for (let k = 0; k < n; k++) column[k] = acc.deltas[k]![t]!.values[i]!;
        column.sort();
        values[i]! += this.reduce(column);
      }
      return { name: tensor.name, shape: tensor.shape, values };
    });
  }
}
