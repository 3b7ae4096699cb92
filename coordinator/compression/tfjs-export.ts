import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {
  buildModel,
  checkTensorsMatch,
  ok,
  range,
  weightLayout,
  type NamedTensor,
  type Result,
  type StudentSpec,
} from '../../protocol/index.js';
import { storeWeight, type ExportFormat, type StoredWeight } from './weight-quantization.js';
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from '../store/private-files.js';

export const MODEL_JSON_FILE = 'model.json';
/** The tfjs converter's default shard size (tfjs-converter write_weights.py): 4 MiB. */
export const SHARD_BYTES = 4 * 1024 * 1024;

export interface ModelFile {
  readonly name: string;
  readonly bytes: Uint8Array;
}

/**
 * A TensorFlow.js layers model (tfjs-core io/types.ts ModelJSON) as files: model.json first,
 * then the weight shards in manifest order. tfjs's own `model.save` never writes quantized
 * entries, so the manifest and shards are written here.
 */
export async function tfjsModelFiles(
  spec: StudentSpec,
  weights: readonly NamedTensor[],
  format: ExportFormat,
  metadata?: Record<string, unknown>,
): Promise<Result<ModelFile[]>> {
  const matches = checkTensorsMatch(weightLayout(spec), weights);
  if (!matches.ok) return matches;
  const stored: StoredWeight[] = [];
  for (const tensor of weights) {
    const weight = storeWeight(tensor, format);
    if (!weight.ok) return weight;
    stored.push(weight.value);
  }
  // As the converter does: the weights back to back, cut every SHARD_BYTES even inside a tensor.
  const all = new Uint8Array(stored.reduce((n, w) => n + w.bytes.byteLength, 0));
  let offset = 0;
  for (const weight of stored) {
    all.set(weight.bytes, offset);
    offset += weight.bytes.byteLength;
  }
  const count = Math.max(1, Math.ceil(all.byteLength / SHARD_BYTES));
  const shards = range(count).map((i) => ({
    name: `group1-shard${i + 1}of${count}.bin`,
    bytes: all.subarray(i * SHARD_BYTES, (i + 1) * SHARD_BYTES),
  }));
  const modelJson = {
    format: 'layers-model',
    generatedBy: `fedistill (${format}); topology by TensorFlow.js tfjs-layers v${tfl.version_layers}`,
    modelTopology: await layersTopology(spec),
    weightsManifest: [{ paths: shards.map((s) => s.name), weights: stored.map((w) => w.entry) }],
    // ModelJSON's own field for what a user of the model needs besides its weights.
    ...(metadata ? { userDefinedMetadata: metadata } : {}),
  };
  const json = new TextEncoder().encode(JSON.stringify(modelJson));
  return ok([{ name: MODEL_JSON_FILE, bytes: json }, ...shards]);
}

/**
 * The topology exactly as tfjs-layers' own `model.save` writes it. Building the model creates
 * its (discarded) initial weights, which needs a backend: the selected one, else tfjs's default.
 */
async function layersTopology(spec: StudentSpec): Promise<unknown> {
  await tf.ready();
  const model = buildModel(spec, 0);
  try {
    return model.toJSON(null, false);
  } finally {
    model.dispose();
  }
}

export interface ExportedModel {
  readonly dir: string;
  readonly format: ExportFormat;
  readonly files: readonly { readonly name: string; readonly bytes: number }[];
  /** model.json and the shards together. */
  readonly bytes: number;
}

/** Writes the student to `dir` as model.json plus .bin shards that `tf.loadLayersModel` reads. */
export async function exportTfjsModel(
  dir: string,
  spec: StudentSpec,
  weights: readonly NamedTensor[],
  format: ExportFormat,
  metadata?: Record<string, unknown>,
): Promise<Result<ExportedModel>> {
  const files = await tfjsModelFiles(spec, weights, format, metadata);
  if (!files.ok) return files;
  await mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  for (const file of files.value) {
    await writeFile(path.join(dir, file.name), file.bytes, { mode: PRIVATE_FILE_MODE });
  }
  const sizes = files.value.map((f) => ({ name: f.name, bytes: f.bytes.byteLength }));
  return ok({ dir, format, files: sizes, bytes: sizes.reduce((n, f) => n + f.bytes, 0) });
}
