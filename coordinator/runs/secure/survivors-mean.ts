import type { NamedTensor } from '../../../protocol/index.js';

/**
 * The next model from a secure attempt's sum: the global model plus the unweighted mean of the
 * survivors' updates (`sum` flattened in layout order).
 */
export function survivorsMean(
  global: readonly NamedTensor[],
  sum: Float64Array,
  survivors: number,
): NamedTensor[] {
  let offset = 0;
  return global.map((tensor) => {
    const values = tensor.values.map((v, i) => v + sum[offset + i]! / survivors);
    offset += tensor.values.length;
    return { ...tensor, values };
  });
}
