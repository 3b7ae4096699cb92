import type { NamedTensor } from './tensor-codec.js';

/** The L2 norm of all tensors taken as one vector (clipping at sites, bounding at the coordinator). */
export function l2Norm(tensors: readonly NamedTensor[]): number {
  let sum = 0;
  for (const t of tensors) for (const v of t.values) sum += v * v;
  return Math.sqrt(sum);
}
