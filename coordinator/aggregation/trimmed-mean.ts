import { OrderStatistic } from './order-statistics.js';

/**
 * Coordinate-wise trimmed mean (Yin et al. 2018): drop the floor(beta * n) smallest and largest
 * values of each coordinate, average the rest. beta in [0, 0.5).
 */
export class TrimmedMean extends OrderStatistic {
  readonly name = 'trimmed-mean';

  constructor(private readonly beta: number) {
    super();
  }

  protected reduce(sorted: Float64Array): number {
    const cut = Math.floor(this.beta * sorted.length);
    let sum = 0;
    for (let k = cut; k < sorted.length - cut; k++) sum += sorted[k]!;
    return sum / (sorted.length - 2 * cut);
  }
}
