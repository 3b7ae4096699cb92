import type { NamedTensor } from '../../protocol/index.js';
import { fullMask, isKernel, prunedCount } from './pruning-mask.js';

/**
 * Global magnitude (L1) pruning (Han et al. 2015, arXiv 1506.02626; Zhu and Gupta 2017): the
 * kernel weights of all layers are ranked together by |w| and the smallest are pruned, exactly
 * ceil(sparsity x n) of the n kernel weights. Ties go in layout order (layer by layer, then
 * row-major): among equal magnitudes the earlier weight is pruned first, so the count is exact
 * even when many weights are equal (zeros, say), and the mask is reproducible.
 *
 * Weights that `previous` pruned are ranked first whatever their value, so they stay pruned: the
 * mask only grows, and when `previous` already prunes more than the sparsity asks it is kept.
 */
export function weightMask(
  model: readonly NamedTensor[],
  sparsity: number,
  previous?: readonly NamedTensor[],
): NamedTensor[] {
  const mask = fullMask(model);
  const kernels = model.flatMap((t, i) => (isKernel(t) ? [i] : []));
  const offsets: number[] = [];
  let n = 0;
  for (const i of kernels) {
    offsets.push(n);
    n += model[i]!.values.length;
  }
  // One rank key per kernel weight: -1 for those already pruned, |w| for the rest.
  const keys = new Float64Array(n);
  let alreadyPruned = 0;
  kernels.forEach((i, k) => {
    const values = model[i]!.values;
    const before = previous?.[i]!.values;
    for (let j = 0; j < values.length; j++) {
      const pruned = before?.[j] === 0;
      if (pruned) alreadyPruned++;
      keys[offsets[k]! + j] = pruned ? -1 : Math.abs(values[j]!);
    }
  });
  const count = Math.max(prunedCount(sparsity, n), alreadyPruned);
  const order = Uint32Array.from({ length: n }, (_, g) => g).sort(
    (a, b) => keys[a]! - keys[b]! || a - b,
  );
  // Kernel k owns the global positions offsets[k] .. offsets[k + 1] - 1.
  for (const g of order.subarray(0, count)) {
    let k = kernels.length - 1;
    while (offsets[k]! > g) k--;
    mask[kernels[k]!]!.values[g - offsets[k]!] = 0;
  }
  return mask;
}
