/** Options shared by FedAdam and FedYogi (Reddi et al. 2021, Algorithm 2). */
export interface AdaptiveOptions {
  /** Server learning rate eta. */
  readonly eta: number;
  readonly beta1: number;
  readonly beta2: number;
  /** Adaptivity tau: keeps the step bounded where v is near zero. */
  readonly tau: number;
}

/** m <- beta1 m + (1 - beta1) delta; the step eta * m / (sqrt(v) + tau), v updated by the caller. */
export function adaptiveStep(
  options: AdaptiveOptions,
  delta: number,
  m: Float32Array,
  v: Float32Array,
  i: number,
): number {
  m[i] = options.beta1 * m[i]! + (1 - options.beta1) * delta;
  return (options.eta * m[i]!) / (Math.sqrt(v[i]!) + options.tau);
}
