import { adaptiveStep, type AdaptiveOptions } from './adaptive-step.js';
import { ServerOptimizer } from './server-optimizer.js';

/**
 * FedYogi (Reddi et al. 2021; Zaheer et al. 2018): v <- v - (1 - beta2) delta^2 sign(v - delta^2),
 * which grows v more gently than Adam when updates are sparse or noisy; then the adaptive step.
 */
export class FedYogi extends ServerOptimizer {
  readonly name = 'fedyogi';
  protected readonly slots = 2;

  constructor(private readonly options: AdaptiveOptions & { readonly maxNormRatio: number }) {
    super(options);
  }

  protected step(delta: number, [m, v]: Float32Array[], i: number): number {
    const square = delta * delta;
    v![i] = v![i]! - (1 - this.options.beta2) * square * Math.sign(v![i]! - square);
    return adaptiveStep(this.options, delta, m!, v!, i);
  }
}
