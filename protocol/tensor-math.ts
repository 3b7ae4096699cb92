import type { NamedTensor } from './tensor-codec.js';

/** The L2 norm of all tensors taken as one vector (clipping at sites, bounding at the coordinator). */
export function l2Norm(tensors: readonly NamedTensor[]): number {
  let sum = 0;
  for (const t of tensors) for (const v of t.values) sum += v * v;
  return Math.sqrt(sum);
}

/**
 * Scales the whole update by min(1, maxNorm / ||delta||), as DP-FedAvg clips each client's
 * update (McMahan et al. 2018, arXiv 1710.06963): the direction stays, the norm is bounded.
 */
export function clipByL2(
  delta: readonly NamedTensor[],
  maxNorm: number,
): { delta: NamedTensor[]; norm: number } {
  const norm = l2Norm(delta);
  const scale = norm > maxNorm ? maxNorm / norm : 1;
  return { delta: delta.map((t) => ({ ...t, values: t.values.map((v) => v * scale) })), norm };
}

/**
 * True when no value is NaN or infinite. A plain loop: `every(Number.isFinite)` costs a call per
 * value, and this check runs over every byte of every update.
 */
export function allFinite(values: Float32Array): boolean {
  for (let i = 0; i < values.length; i++) {
    const x = values[i]!;
    // x - x is 0 for every finite x, and NaN for NaN and both infinities.
    if (x - x !== 0) return false;
  }
  return true;
}
