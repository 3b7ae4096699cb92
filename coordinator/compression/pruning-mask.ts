import type { NamedTensor } from '../../protocol/index.js';

/**
 * What the pruning methods share. A mask is a tensor list in the model's layout holding 0 (the
 * weight is pruned: exactly zero, at the coordinator and through every site's training) or 1.
 * Only kernels are pruned; biases (and any normalisation parameters) keep a mask of ones, as in
 * TF Model Optimization, because they are few and each one shifts a whole unit.
 */

/**
 * Kernels are the `<layer>/kernel` slots of protocol/student-spec.ts's weight layout, and a text
 * student's token embeddings, its largest matrix.
 */
export function isKernel(tensor: NamedTensor): boolean {
  return tensor.name.endsWith('/kernel') || tensor.name.endsWith('/embeddings');
}

/**
 * How many of `n` items to prune for `sparsity`: the fewest whose share is at least `sparsity`,
 * ceil(sparsity x n), with the float error of the product ignored (0.07 x 100 is 7, not 8).
 */
export function prunedCount(sparsity: number, n: number): number {
  return Math.min(n, Math.ceil(sparsity * n - 1e-9));
}

/** A mask that prunes nothing. */
export function fullMask(model: readonly NamedTensor[]): NamedTensor[] {
  return model.map((t) => ({
    name: t.name,
    shape: t.shape,
    values: new Float32Array(t.values.length).fill(1),
  }));
}

/** The model with every masked weight set to +0 (not w x 0, which is -0 for negative w). */
export function applyMask(
  model: readonly NamedTensor[],
  mask: readonly NamedTensor[],
): NamedTensor[] {
  return model.map((t, i) => {
    const keep = mask[i]!.values;
    return {
      name: t.name,
      shape: t.shape,
      values: t.values.map((v, j) => (keep[j] === 0 ? 0 : v)),
    };
  });
}

/** The share of kernel weights that are exactly zero, as measured on the model. */
export function kernelSparsity(model: readonly NamedTensor[]): number {
  let zeros = 0;
  let total = 0;
  for (const t of model.filter(isKernel)) {
    total += t.values.length;
    for (const v of t.values) if (v === 0) zeros++;
  }
  return total === 0 ? 0 : zeros / total;
}

/** True when the mask prunes at least one weight. */
export function prunesAny(mask: readonly NamedTensor[]): boolean {
  return mask.some((t) => t.values.includes(0));
}
