import type { NamedTensor } from '../../protocol/index.js';
import { fullMask, isKernel, prunedCount } from './pruning-mask.js';

/**
 * Structured pruning of whole output units (Li et al. 2017, arXiv 1608.08710): a dense kernel's
 * column or a conv kernel's output channel (the last axis of [in, out] and [k, k, in, out]) is
 * pruned as one, smallest L1 norm first. The ranking is per layer: the norms of layers with
 * other fan-ins are not comparable, and a global ranking could empty a layer. Each hidden layer
 * loses ceil(sparsity x units) units but keeps at least one; the logits layer is left whole, its
 * units being the classes. Its bias is not masked, so a pruned unit outputs a constant that the
 * next layer still uses. Ties go to the lower unit index.
 *
 * Units that `previous` pruned are ranked first in their layer, so they stay pruned: the mask
 * only grows.
 */
export function unitMask(
  model: readonly NamedTensor[],
  sparsity: number,
  previous?: readonly NamedTensor[],
): NamedTensor[] {
  const mask = fullMask(model);
  const kernels = model.flatMap((t, i) => (isKernel(t) ? [i] : []));
  // The last kernel of the layout is the logits layer's.
  for (const i of kernels.slice(0, -1)) {
    const values = model[i]!.values;
    const units = model[i]!.shape[model[i]!.shape.length - 1]!;
    const before = previous?.[i]!.values;
    const norms = new Float64Array(units);
    const pruned = new Array<boolean>(units).fill(before !== undefined);
    for (let j = 0; j < values.length; j++) {
      norms[j % units]! += Math.abs(values[j]!);
      if (before?.[j] !== 0) pruned[j % units] = false;
    }
    const keys = norms.map((norm, u) => (pruned[u] ? -1 : norm));
    const count = Math.min(
      units - 1,
      Math.max(prunedCount(sparsity, units), pruned.filter(Boolean).length),
    );
    const order = Array.from({ length: units }, (_, u) => u).sort(
      (a, b) => keys[a]! - keys[b]! || a - b,
    );
    const out = mask[i]!.values;
    for (const u of order.slice(0, count)) {
      for (let j = u; j < out.length; j += units) out[j] = 0;
    }
  }
  return mask;
}
