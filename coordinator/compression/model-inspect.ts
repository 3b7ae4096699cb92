import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { fail, ok, parseWith, type Result } from '../../protocol/index.js';
import { MODEL_JSON_FILE } from './tfjs-export.js';
import {
  loadedValues,
  storedByteLength,
  weightsManifestEntrySchema,
  type WeightsManifestEntry,
} from './weight-quantization.js';

const layerSchema = z.object({
  class_name: z.string(),
  config: z.object({ name: z.string().min(1) }),
});
const modelConfigSchema = z.object({
  class_name: z.string(),
  config: z.object({ layers: z.array(layerSchema) }),
});

/**
 * What inspection reads of a layers model's model.json (tfjs-core io/types.ts ModelJSON). The
 * tfjs converter wraps a Keras topology in `model_config`; tfjs-layers' own save does not.
 */
const modelJsonSchema = z.object({
  format: z.literal('layers-model').optional(),
  generatedBy: z.string().optional(),
  modelTopology: z.union([z.object({ model_config: modelConfigSchema }), modelConfigSchema]),
  weightsManifest: z.array(
    z.object({
      paths: z.array(z.string().min(1)).min(1),
      weights: z.array(weightsManifestEntrySchema),
    }),
  ),
});

export interface WeightInspection {
  readonly name: string;
  readonly shape: readonly number[];
  readonly parameters: number;
  /** The dtype tfjs loads it as. */
  readonly dtype: WeightsManifestEntry['dtype'];
  /** How it is stored; null when stored as `dtype`. */
  readonly quantization: WeightsManifestEntry['quantization'] | null;
  /** Bytes it takes in the shards. */
  readonly bytes: number;
  /** Values that are exactly zero once dequantized as tfjs does. */
  readonly zeros: number;
  readonly sparsity: number;
}

export interface LayerInspection {
  readonly name: string;
  readonly className: string;
  readonly parameters: number;
  readonly zeros: number;
  readonly sparsity: number;
  readonly bytes: number;
  readonly weights: readonly WeightInspection[];
}

export interface ModelInspection {
  readonly generatedBy: string | null;
  readonly layers: readonly LayerInspection[];
  readonly parameters: number;
  readonly zeros: number;
  readonly sparsity: number;
  /** model.json, then the shards, with their sizes on disk. */
  readonly files: readonly { readonly name: string; readonly bytes: number }[];
  readonly fileBytes: number;
}

const share = (part: number, whole: number): number => (whole === 0 ? 0 : part / whole);

async function readBytes(file: string): Promise<Result<Buffer>> {
  try {
    return ok(await readFile(file));
  } catch (error) {
    return fail('data.invalid', `cannot read ${file}: ${(error as Error).message}`);
  }
}

/**
 * Reads a TensorFlow.js layers model from `dir` (model.json and its shards) without tfjs, and
 * dequantizes every weight as the tfjs loader does to count its exact zeros.
 */
export async function inspectTfjsModel(dir: string): Promise<Result<ModelInspection>> {
  const modelFile = path.join(dir, MODEL_JSON_FILE);
  const text = await readBytes(modelFile);
  if (!text.ok) return text;
  let raw: unknown;
  try {
    raw = JSON.parse(text.value.toString('utf8'));
  } catch (error) {
    return fail('data.invalid', `${modelFile} is not JSON: ${(error as Error).message}`);
  }
  const model = parseWith(modelJsonSchema, raw, 'data.invalid', modelFile);
  if (!model.ok) return model;
  const files = [{ name: MODEL_JSON_FILE, bytes: text.value.byteLength }];
  const weights: WeightInspection[] = [];
  for (const group of model.value.weightsManifest) {
    const shards: Buffer[] = [];
    for (const shard of group.paths) {
      const file = path.resolve(dir, shard);
      const relative = path.relative(dir, file);
      if (relative.startsWith('..') || path.isAbsolute(relative))
        return fail('data.invalid', `${modelFile}: shard ${shard} lies outside ${dir}`);
      const bytes = await readBytes(file);
      if (!bytes.ok) return bytes;
      files.push({ name: shard, bytes: bytes.value.byteLength });
      shards.push(bytes.value);
    }
    const data = Buffer.concat(shards);
    const described = group.weights.reduce((n, entry) => n + storedByteLength(entry), 0);
    if (described !== data.byteLength) {
      return fail(
        'data.invalid',
        `${group.paths.join(', ')} hold ${data.byteLength} bytes; the manifest describes ${described}`,
      );
    }
    let offset = 0;
    for (const entry of group.weights) {
      const bytes = storedByteLength(entry);
      const values = loadedValues(entry, data.subarray(offset, offset + bytes));
      offset += bytes;
      let zeros = 0;
      for (const v of values) if (v === 0) zeros++;
      weights.push({
        name: entry.name,
        shape: entry.shape,
        parameters: values.length,
        dtype: entry.dtype,
        quantization: entry.quantization ?? null,
        bytes,
        zeros,
        sparsity: share(zeros, values.length),
      });
    }
  }
  const topology = model.value.modelTopology;
  const config = 'model_config' in topology ? topology.model_config : topology;
  const layers = config.config.layers.map((layer) => ({
    name: layer.config.name,
    className: layer.class_name,
    weights: [] as WeightInspection[],
  }));
  for (const weight of weights) {
    // A weight is `<layer>/<variable>`; with nested names the longest matching layer owns it.
    const owner = layers
      .filter((layer) => weight.name.startsWith(`${layer.name}/`))
      .sort((a, b) => b.name.length - a.name.length)[0];
    if (!owner)
      return fail('data.invalid', `${modelFile}: weight ${weight.name} belongs to no layer`);
    owner.weights.push(weight);
  }
  const sum = (items: readonly { parameters: number; zeros: number; bytes: number }[]) => ({
    parameters: items.reduce((n, i) => n + i.parameters, 0),
    zeros: items.reduce((n, i) => n + i.zeros, 0),
    bytes: items.reduce((n, i) => n + i.bytes, 0),
  });
  const totals = sum(weights);
  return ok({
    generatedBy: model.value.generatedBy ?? null,
    layers: layers.map((layer) => {
      const own = sum(layer.weights);
      return { ...layer, ...own, sparsity: share(own.zeros, own.parameters) };
    }),
    parameters: totals.parameters,
    zeros: totals.zeros,
    sparsity: share(totals.zeros, totals.parameters),
    files,
    fileBytes: files.reduce((n, f) => n + f.bytes, 0),
  });
}

const percent = (x: number): string => `${(100 * x).toFixed(1)}%`;

function storage(weight: WeightInspection): string {
  const q = weight.quantization;
  if (!q) return weight.dtype;
  if (q.dtype === 'float16') return `float16 -> ${weight.dtype}`;
  return `${q.dtype} (scale ${q.scale.toPrecision(6)}, min ${q.min.toPrecision(6)}) -> ${weight.dtype}`;
}

/** The inspection as lines for a terminal: a line per layer, an indented line per weight. */
export function formatInspection(inspection: ModelInspection): string[] {
  const lines = [`generated by: ${inspection.generatedBy ?? '(not given)'}`];
  for (const layer of inspection.layers) {
    lines.push(
      `${layer.name} (${layer.className}): ${layer.parameters} parameters, ${percent(layer.sparsity)} zeros, ${layer.bytes} bytes`,
    );
    for (const w of layer.weights) {
      lines.push(
        `  ${w.name} [${w.shape.join(', ')}]: ${w.parameters} parameters, ${storage(w)}, ${percent(w.sparsity)} zeros (${w.zeros}), ${w.bytes} bytes`,
      );
    }
  }
  lines.push(
    `total: ${inspection.parameters} parameters, ${inspection.zeros} exact zeros (${percent(inspection.sparsity)} sparsity)`,
    `files: ${inspection.files.map((f) => `${f.name} ${f.bytes}`).join(', ')}; ${inspection.fileBytes} bytes in all`,
  );
  return lines;
}
