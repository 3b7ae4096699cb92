import type { NamedTensor } from '../protocol/index.js';

/** The update a site returns: trained weights minus the global weights it started from. */
export function weightDelta(
  trained: readonly NamedTensor[],
  global: readonly NamedTensor[],
): NamedTensor[] {
  return trained.map((t, i) => {
    const base = global[i]!;
    const values = new Float32Array(t.values.length);
    for (let j = 0; j < values.length; j++) values[j] = t.values[j]! - base.values[j]!;
    return { name: t.name, shape: t.shape, values };
  });
}
