import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { z } from 'zod';
import { denseSlots, type WeightSlot } from './dense-slots.js';
import type { NamedTensor } from './tensor-codec.js';
import {
  bagSpecSchema,
  buildTextModel,
  encoderSpecSchema,
  textWeightLayout,
} from './text/text-students.js';

/**
 * Models both sides build from data alone, so that a spec in a message gives identical layers
 * and weight names at the coordinator and at every site. Every model takes flat input rows (of
 * token ids for the text students of protocol/text/text-students.ts) and outputs logits (no
 * softmax), so the temperature can be applied at the site.
 */
const classes = z.number().int().min(2).max(1000);
const width = z.number().int().min(1).max(4096);

/** A multilayer perceptron: ReLU hidden layers, then the logits layer. */
export const mlpSpecSchema = z
  .object({
    kind: z.literal('mlp'),
    inputs: z.number().int().min(1).max(100_000),
    hidden: z.array(width).max(8),
    classes,
  })
  .strict();
export type MlpSpec = z.infer<typeof mlpSpecSchema>;

/**
 * A small CNN's layers: the flat row is reshaped to `image` (height, width, channels); each conv
 * layer (ReLU, 'same' padding) is followed by 2x2 max pooling; then ReLU dense layers and logits.
 * A run spec names these; the inputs and classes come from the data.
 */
export const cnnArchitectureSchema = z
  .object({
    image: z.tuple([
      z.number().int().min(1).max(1024),
      z.number().int().min(1).max(1024),
      z.number().int().min(1).max(16),
    ]),
    conv: z
      .array(
        z
          .object({
            filters: z.number().int().min(1).max(512),
            kernel: z.number().int().min(1).max(11),
          })
          .strict(),
      )
      .min(1)
      .max(4),
    dense: z.array(width).max(4),
  })
  .strict();
export type CnnArchitecture = z.infer<typeof cnnArchitectureSchema>;

/** The CNN of `architecture` on rows of `inputs` values, or why that cannot be built. */
export function cnnProblems(spec: CnnArchitecture & { inputs: number }): Array<{
  message: string;
  path: string[];
}> {
  const [h, w, c] = spec.image;
  const problems: Array<{ message: string; path: string[] }> = [];
  if (spec.inputs !== h * w * c) {
    problems.push({
      message: `the image ${h} x ${w} x ${c} holds ${h * w * c} values, the rows have ${spec.inputs}`,
      path: ['image'],
    });
  }
  if (h >> spec.conv.length < 1 || w >> spec.conv.length < 1) {
    problems.push({
      message: `${spec.conv.length} poolings leave no pixels of a ${h}x${w} image`,
      path: ['conv'],
    });
  }
  return problems;
}

/** A small CNN (cnnArchitectureSchema) with its input width and classes. */
export const cnnSpecSchema = cnnArchitectureSchema
  .extend({
    kind: z.literal('cnn'),
    inputs: z.number().int().min(1).max(1_000_000),
    classes,
  })
  .strict()
  .superRefine((spec, ctx) => {
    for (const problem of cnnProblems(spec)) ctx.addIssue({ code: 'custom', ...problem });
  });
export type CnnSpec = z.infer<typeof cnnSpecSchema>;

export const studentSpecSchema = z.discriminatedUnion('kind', [
  mlpSpecSchema,
  cnnSpecSchema,
  bagSpecSchema,
  encoderSpecSchema,
]);
export type StudentSpec = z.infer<typeof studentSpecSchema>;

/** Names and shapes of the weights in model order; the names are the wire names. */
export function weightLayout(spec: StudentSpec): WeightSlot[] {
  switch (spec.kind) {
    case 'mlp':
      return denseSlots(spec.inputs, spec.hidden, spec.classes);
    case 'cnn': {
      let [h, w, channels] = spec.image;
      const slots: WeightSlot[] = [];
      spec.conv.forEach((conv, i) => {
        slots.push({
          name: `conv_${i + 1}/kernel`,
          shape: [conv.kernel, conv.kernel, channels, conv.filters],
        });
        slots.push({ name: `conv_${i + 1}/bias`, shape: [conv.filters] });
        channels = conv.filters;
        h = Math.floor(h / 2);
        w = Math.floor(w / 2);
      });
      return [...slots, ...denseSlots(h * w * channels, spec.dense, spec.classes)];
    }
    case 'bag':
    case 'encoder':
      return textWeightLayout(spec);
    default: {
      const unreachable: never = spec;
      return unreachable;
    }
  }
}

export function parameterCount(spec: StudentSpec): number {
  return weightLayout(spec).reduce((n, slot) => n + slot.shape.reduce((a, b) => a * b, 1), 0);
}

/**
 * The largest update blob a site may send for this student: float32 top-k at full density
 * (a value and an index per weight), plus framing. The coordinator and its edge nodes refuse
 * more before pulling it.
 */
export function maxUpdateBytes(spec: StudentSpec): number {
  return 8 * parameterCount(spec) + 1024 * weightLayout(spec).length + 4096;
}

function addDense(
  model: tfl.Sequential,
  hidden: readonly number[],
  classes: number,
  seed: number,
  inputShape?: number[],
): void {
  [...hidden, classes].forEach((units, i) => {
    const last = i === hidden.length;
    model.add(
      tfl.layers.dense({
        units,
        activation: last ? 'linear' : 'relu',
        name: last ? 'logits' : `hidden_${i + 1}`,
        kernelInitializer: tfl.initializers.glorotUniform({ seed: seed + i }),
        ...(i === 0 && inputShape ? { inputShape } : {}),
      }),
    );
  });
}

/** Builds the model with Glorot-uniform kernels drawn from `seed`, so a run is reproducible. */
export function buildModel(spec: StudentSpec, seed: number): tfl.LayersModel {
  if (spec.kind === 'bag' || spec.kind === 'encoder') return buildTextModel(spec, seed);
  const model = tfl.sequential();
  switch (spec.kind) {
    case 'mlp':
      addDense(model, spec.hidden, spec.classes, seed, [spec.inputs]);
      return model;
    case 'cnn':
      model.add(tfl.layers.reshape({ targetShape: [...spec.image], inputShape: [spec.inputs] }));
      spec.conv.forEach((conv, i) => {
        model.add(
          tfl.layers.conv2d({
            filters: conv.filters,
            kernelSize: conv.kernel,
            padding: 'same',
            activation: 'relu',
            name: `conv_${i + 1}`,
            kernelInitializer: tfl.initializers.glorotUniform({ seed: seed + 100 + i }),
          }),
        );
        model.add(tfl.layers.maxPooling2d({ poolSize: 2, strides: 2 }));
      });
      model.add(tfl.layers.flatten());
      addDense(model, spec.dense, spec.classes, seed);
      return model;
    default: {
      const unreachable: never = spec;
      return unreachable;
    }
  }
}

/** Reads the weights asynchronously: GPU backends (webgpu) cannot read synchronously in Node. */
export async function readWeights(
  model: tfl.LayersModel,
  spec: StudentSpec,
): Promise<NamedTensor[]> {
  const layout = weightLayout(spec);
  const weights = model.getWeights();
  if (weights.length !== layout.length) {
    throw new Error(`model has ${weights.length} weights, spec says ${layout.length}`);
  }
  const values = await Promise.all(weights.map((w) => w.data()));
  return layout.map((slot, i) => ({
    name: slot.name,
    shape: slot.shape,
    values: new Float32Array(values[i] as Float32Array),
  }));
}

export function writeWeights(model: tfl.LayersModel, tensors: readonly NamedTensor[]): void {
  const created = tensors.map((t) => tf.tensor(t.values, [...t.shape], 'float32'));
  model.setWeights(created);
  tf.dispose(created);
}
