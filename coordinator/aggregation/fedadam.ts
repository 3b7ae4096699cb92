import { adaptiveStep, type AdaptiveOptions } from './adaptive-step.js';
import { ServerOptimizer } from './server-optimizer.js';

/** FedAdam (Reddi et al. 2021): v <- beta2 v + (1 - beta2) delta^2, then the adaptive step. */
export class FedAdam extends ServerOptimizer {
  readonly name = 'fedadam';
  protected readonly slots = 2;

  constructor(private readonly options: AdaptiveOptions & { readonly maxNormRatio: number }) {
    super(options);
  }

  protected step(delta: number, [m, v]: Float32Array[], i: number): number {
    v![i] = this.options.beta2 * v![i]! + (1 - this.options.beta2) * delta * delta;
    return adaptiveStep(this.options, delta, m!, v!, i);
  }
}
