import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { z } from 'zod';
import type { NamedTensor } from './tensor-codec.js';

/**
 * The model both sides build from data alone: a multilayer perceptron that outputs logits
 * (no softmax), so that the temperature can be applied at the site. The coordinator uses the
 * same spec, larger, for the teacher.
 */
export const mlpSpecSchema = z
  .object({
    kind: z.literal('mlp'),
    inputs: z.number().int().min(1).max(100_000),
    hidden: z.array(z.number().int().min(1).max(4096)).max(8),
    classes: z.number().int().min(2).max(1000),
  })
  .strict();
export type MlpSpec = z.infer<typeof mlpSpecSchema>;

interface WeightSlot {
  readonly name: string;
  readonly shape: readonly number[];
}

/** Names and shapes of the weights in model order; the names are the wire names. */
export function weightLayout(spec: MlpSpec): WeightSlot[] {
  const widths = [spec.inputs, ...spec.hidden, spec.classes];
  const slots: WeightSlot[] = [];
  for (let i = 1; i < widths.length; i++) {
    const layer = layerName(spec, i - 1);
    slots.push({ name: `${layer}/kernel`, shape: [widths[i - 1]!, widths[i]!] });
    slots.push({ name: `${layer}/bias`, shape: [widths[i]!] });
  }
  return slots;
}

function layerName(spec: MlpSpec, index: number): string {
  return index === spec.hidden.length ? 'logits' : `hidden_${index + 1}`;
}

export function parameterCount(spec: MlpSpec): number {
  return weightLayout(spec).reduce((n, slot) => n + slot.shape.reduce((a, b) => a * b, 1), 0);
}

/** Builds the model with Glorot-uniform kernels drawn from `seed`, so a run is reproducible. */
export function buildModel(spec: MlpSpec, seed: number): tfl.Sequential {
  const model = tfl.sequential();
  spec.hidden.forEach((units, i) => {
    model.add(
      tfl.layers.dense({
        units,
        activation: 'relu',
        name: layerName(spec, i),
        kernelInitializer: tfl.initializers.glorotUniform({ seed: seed + i }),
        ...(i === 0 ? { inputShape: [spec.inputs] } : {}),
      }),
    );
  });
  model.add(
    tfl.layers.dense({
      units: spec.classes,
      name: layerName(spec, spec.hidden.length),
      kernelInitializer: tfl.initializers.glorotUniform({ seed: seed + spec.hidden.length }),
      ...(spec.hidden.length === 0 ? { inputShape: [spec.inputs] } : {}),
    }),
  );
  return model;
}

export function readWeights(model: tfl.LayersModel, spec: MlpSpec): NamedTensor[] {
  const layout = weightLayout(spec);
  const weights = model.getWeights();
  if (weights.length !== layout.length) {
    throw new Error(`model has ${weights.length} weights, spec says ${layout.length}`);
  }
  return layout.map((slot, i) => ({
    name: slot.name,
    shape: slot.shape,
    values: new Float32Array(weights[i]!.dataSync()),
  }));
}

export function writeWeights(model: tfl.LayersModel, tensors: readonly NamedTensor[]): void {
  const created = tensors.map((t) => tf.tensor(t.values, [...t.shape], 'float32'));
  model.setWeights(created);
  tf.dispose(created);
}
