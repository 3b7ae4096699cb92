import { OrderStatistic } from './order-statistics.js';

/** Coordinate-wise median of the deltas (Yin et al. 2018); with an even count, the mean of the middle two. */
export class CoordinateMedian extends OrderStatistic {
  readonly name = 'median';

  protected reduce(sorted: Float64Array): number {
    const mid = sorted.length >> 1;
    return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  }
}
