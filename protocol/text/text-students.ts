import * as tfl from '@tensorflow/tfjs-layers';
import { z } from 'zod';
import { denseLayerName, denseSlots, type WeightSlot } from '../dense-slots.js';
import { MAX_VOCABULARY } from './token-ids.js';

/**
 * Students over rows of token ids (protocol/text/tokenizer.ts), built only from layers that
 * tfjs-layers exports, so that stock `tf.loadLayersModel` loads an exported student with no
 * custom class. The token length and vocabulary come from the run's tokenizer, the classes from
 * the data; a run spec names the rest (textArchitectureSchema).
 *
 * Padding (id 0) is not masked: tfjs-layers' pooling ignores masks, so the pad embedding is a
 * learned row like any other, and how much of a row is padding becomes a length feature.
 */
const width = z.number().int().min(1).max(4096);
const classes = z.number().int().min(2).max(1000);
const sized = {
  /** Token ids per row (the tokenizer's length). */
  inputs: z.number().int().min(1).max(4096),
  vocabulary: z.number().int().min(3).max(MAX_VOCABULARY),
  classes,
};

/**
 * An embedding bag (fastText, Joulin et al. 2017): the mean of the row's token embeddings, then
 * ReLU layers and the logits.
 */
export const bagArchitectureSchema = z
  .object({
    kind: z.literal('bag'),
    embedding: z.number().int().min(1).max(1024),
    hidden: z.array(width).max(4),
  })
  .strict();

/**
 * A small transformer encoder (Vaswani et al. 2017): token embeddings plus a convolutional
 * position term (a 'same' Conv1D over the embeddings, as conditional position encodings do:
 * Chu et al. 2021, since tfjs-layers exports no position embedding), then `layers` blocks of
 * self-attention (one Dense query/key/value path per head, tfjs-layers' Dot being rank-3 only)
 * and a ReLU feed-forward, each with a residual and post-layer normalisation; the mean over
 * positions; the logits.
 */
export const encoderArchitectureSchema = z
  .object({
    kind: z.literal('encoder'),
    dimension: z.number().int().min(2).max(512),
    heads: z.number().int().min(1).max(8),
    layers: z.number().int().min(1).max(2),
    feedForward: width,
  })
  .strict()
  .refine((a) => a.dimension % a.heads === 0, {
    message: 'dimension must be a multiple of heads',
    path: ['heads'],
  });

export const textArchitectureSchema = z.discriminatedUnion('kind', [
  bagArchitectureSchema,
  encoderArchitectureSchema,
]);
export type TextArchitecture = z.infer<typeof textArchitectureSchema>;

export const bagSpecSchema = bagArchitectureSchema.extend(sized).strict();
export type BagSpec = z.infer<typeof bagSpecSchema>;
export const encoderSpecSchema = encoderArchitectureSchema
  .extend(sized)
  .strict()
  .refine((a) => a.dimension % a.heads === 0, {
    message: 'dimension must be a multiple of heads',
    path: ['heads'],
  });
export type EncoderSpec = z.infer<typeof encoderSpecSchema>;
export type TextSpec = BagSpec | EncoderSpec;

/** Width of the encoder's position convolution: a token sees its two neighbours. */
const POSITION_KERNEL = 3;

const slot = (name: string, ...shape: number[]): WeightSlot => ({ name, shape });
const dense = (name: string, inputs: number, units: number): WeightSlot[] => [
  slot(`${name}/kernel`, inputs, units),
  slot(`${name}/bias`, units),
];

export function textWeightLayout(spec: TextSpec): WeightSlot[] {
  if (spec.kind === 'bag') {
    return [
      slot('embedding/embeddings', spec.vocabulary, spec.embedding),
      ...denseSlots(spec.embedding, spec.hidden, spec.classes),
    ];
  }
  const d = spec.dimension;
  const head = d / spec.heads;
  const slots = [
    slot('embedding/embeddings', spec.vocabulary, d),
    slot('position/kernel', POSITION_KERNEL, d, d),
    slot('position/bias', d),
  ];
  for (let b = 1; b <= spec.layers; b++) {
    // tfjs orders weights by the graph's depth: every head's query and key feed the scores,
    // one step before the values are used.
    for (let h = 1; h <= spec.heads; h++) {
      slots.push(...dense(`block${b}_query${h}`, d, head), ...dense(`block${b}_key${h}`, d, head));
    }
    for (let h = 1; h <= spec.heads; h++) slots.push(...dense(`block${b}_value${h}`, d, head));
    slots.push(...dense(`block${b}_attention`, d, d));
    slots.push(slot(`block${b}_norm1/gamma`, d), slot(`block${b}_norm1/beta`, d));
    slots.push(...dense(`block${b}_ffn1`, d, spec.feedForward));
    slots.push(...dense(`block${b}_ffn2`, spec.feedForward, d));
    slots.push(slot(`block${b}_norm2/gamma`, d), slot(`block${b}_norm2/beta`, d));
  }
  return [...slots, ...dense('logits', d, spec.classes)];
}

type Tensor = tfl.SymbolicTensor;
const apply = (layer: tfl.layers.Layer, input: Tensor | Tensor[]): Tensor =>
  layer.apply(input) as Tensor;

/**
 * Builds the student with every initial weight drawn from `seed`. Every layer is named, so two
 * builds give the same topology JSON and weight names.
 */
export function buildTextModel(spec: TextSpec, seed: number): tfl.LayersModel {
  // Each initializer draws from a seed of its own, in the order the layers are made.
  let draws = 0;
  const kernel = () => tfl.initializers.glorotUniform({ seed: seed + draws++ });
  const denseLayer = (name: string, units: number, activation: 'relu' | 'linear' = 'linear') =>
    tfl.layers.dense({ units, activation, name, kernelInitializer: kernel() });
  const input = tfl.input({ shape: [spec.inputs], name: 'tokens' });
  const embeddingSize = spec.kind === 'bag' ? spec.embedding : spec.dimension;
  const embedded = apply(
    tfl.layers.embedding({
      inputDim: spec.vocabulary,
      outputDim: embeddingSize,
      name: 'embedding',
      embeddingsInitializer: tfl.initializers.randomUniform({
        minval: -0.05,
        maxval: 0.05,
        seed: seed + draws++,
      }),
    }),
    input,
  );
  if (spec.kind === 'bag') {
    let x = apply(tfl.layers.globalAveragePooling1d({ name: 'pool' }), embedded);
    [...spec.hidden, spec.classes].forEach((units, i) => {
      const last = i === spec.hidden.length;
      x = apply(denseLayer(denseLayerName(i, spec.hidden), units, last ? 'linear' : 'relu'), x);
    });
    return tfl.model({ inputs: input, outputs: x, name: 'bag' });
  }
  const d = spec.dimension;
  const position = apply(
    tfl.layers.conv1d({
      filters: d,
      kernelSize: POSITION_KERNEL,
      padding: 'same',
      name: 'position',
      kernelInitializer: kernel(),
    }),
    embedded,
  );
  let x = apply(tfl.layers.add({ name: 'embedded' }), [embedded, position]);
  for (let b = 1; b <= spec.layers; b++) {
    const name = (part: string) => `block${b}_${part}`;
    const heads = Array.from({ length: spec.heads }, (_, h) => {
      const at = (part: string) => name(`${part}${h + 1}`);
      const [query, key, value] = ['query', 'key', 'value'].map((part) =>
        apply(denseLayer(at(part), d / spec.heads), x),
      );
      const scores = apply(tfl.layers.dot({ axes: [2, 2], name: at('scores') }), [query!, key!]);
      const scaled = apply(
        tfl.layers.rescaling({ scale: 1 / Math.sqrt(d / spec.heads), name: at('scaled') }),
        scores,
      );
      const weights = apply(tfl.layers.softmax({ axis: -1, name: at('weights') }), scaled);
      return apply(tfl.layers.dot({ axes: [2, 1], name: at('mixed') }), [weights, value!]);
    });
    const mixed =
      heads.length === 1
        ? heads[0]!
        : apply(tfl.layers.concatenate({ axis: -1, name: name('heads') }), heads);
    const attended = apply(denseLayer(name('attention'), d), mixed);
    x = apply(tfl.layers.add({ name: name('residual1') }), [x, attended]);
    x = apply(tfl.layers.layerNormalization({ name: name('norm1') }), x);
    const expanded = apply(denseLayer(name('ffn1'), spec.feedForward, 'relu'), x);
    const projected = apply(denseLayer(name('ffn2'), d), expanded);
    x = apply(tfl.layers.add({ name: name('residual2') }), [x, projected]);
    x = apply(tfl.layers.layerNormalization({ name: name('norm2') }), x);
  }
  const pooled = apply(tfl.layers.globalAveragePooling1d({ name: 'pool' }), x);
  return tfl.model({
    inputs: input,
    outputs: apply(denseLayer('logits', spec.classes), pooled),
    name: 'encoder',
  });
}
