import type { NamedTensor } from '../../protocol/index.js';

/** target += scale * source, element-wise over matching tensor lists. */
export function addScaledInto(
  target: readonly NamedTensor[],
  source: readonly NamedTensor[],
  scale: number,
): void {
  for (let i = 0; i < target.length; i++) {
    const v = target[i]!.values;
    const s = source[i]!.values;
    for (let j = 0; j < v.length; j++) v[j]! += scale * s[j]!;
  }
}

export function zerosLike(tensors: readonly NamedTensor[]): NamedTensor[] {
  return tensors.map((t) => ({
    name: t.name,
    shape: t.shape,
    values: new Float32Array(t.values.length),
  }));
}

export function cloneTensors(tensors: readonly NamedTensor[]): NamedTensor[] {
  return tensors.map((t) => ({
    name: t.name,
    shape: t.shape,
    values: Float32Array.from(t.values),
  }));
}
