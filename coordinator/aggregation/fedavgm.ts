import { ServerOptimizer } from './server-optimizer.js';

/**
 * FedAvgM (Hsu, Qi & Brown 2019, arXiv 1909.06335): server momentum on the mean delta,
 * m <- momentum * m + delta;  w <- w + serverLearningRate * m.
 */
export class FedAvgM extends ServerOptimizer {
  readonly name = 'fedavgm';
  protected readonly slots = 1;

  constructor(
    private readonly options: {
      readonly serverLearningRate: number;
      readonly momentum: number;
      readonly maxNormRatio: number;
    },
  ) {
    super(options);
  }

  protected step(delta: number, [m]: Float32Array[], i: number): number {
    m![i] = this.options.momentum * m![i]! + delta;
    return this.options.serverLearningRate * m![i]!;
  }
}
