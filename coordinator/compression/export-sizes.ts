import { gzipSync } from 'node:zlib';
import {
  decodeTensorBlob,
  encodeTensorBlob,
  ok,
  type NamedTensor,
  type Result,
  type StudentSpec,
} from '../../protocol/index.js';
import { tfjsModelFiles } from './tfjs-export.js';
import {
  EXPORT_FORMATS,
  loadedValues,
  storeWeight,
  type ExportFormat,
} from './weight-quantization.js';

export interface ExportSize {
  readonly model_json_bytes: number;
  /** The .bin shards together. */
  readonly weights_bytes: number;
  /** The shards gzipped (node:zlib, default level), as a server with gzip encoding sends them. */
  readonly weights_gzip_bytes: number;
  /** Largest |loaded - given| over all weights, dequantized as tfjs does. */
  readonly max_weight_error: number;
}

/** What each export of one student weighs; the report's `compression` section. */
export interface ExportSizes {
  readonly parameters: number;
  /** Exact zeros among the given weights (pruned ones), and their share. */
  readonly zeros: number;
  readonly sparsity: number;
  readonly tfjs: Readonly<Record<ExportFormat, ExportSize>>;
  /**
   * Per-output-channel int8 (one scale per last-axis channel) in the project's tensor blob: the
   * tfjs manifest has no per-channel form, so this is what it would weigh where fedistill reads it.
   */
  readonly int8_channel_blob: {
    readonly bytes: number;
    readonly gzip_bytes: number;
    readonly max_weight_error: number;
  };
}

function maxError(given: readonly NamedTensor[], loaded: readonly ArrayLike<number>[]): number {
  let max = 0;
  given.forEach((tensor, t) => {
    tensor.values.forEach((v, i) => (max = Math.max(max, Math.abs(loaded[t]![i]! - v))));
  });
  return max;
}

async function tfjsSize(
  spec: StudentSpec,
  weights: readonly NamedTensor[],
  format: ExportFormat,
): Promise<Result<ExportSize>> {
  const files = await tfjsModelFiles(spec, weights, format);
  if (!files.ok) return files;
  const loaded: ArrayLike<number>[] = [];
  for (const tensor of weights) {
    const stored = storeWeight(tensor, format);
    if (!stored.ok) return stored;
    loaded.push(loadedValues(stored.value.entry, stored.value.bytes));
  }
  // model.json comes first, then the shards.
  const [modelJson, ...shards] = files.value;
  return ok({
    model_json_bytes: modelJson!.bytes.byteLength,
    weights_bytes: shards.reduce((n, f) => n + f.bytes.byteLength, 0),
    weights_gzip_bytes: shards.reduce((n, f) => n + gzipSync(f.bytes).byteLength, 0),
    max_weight_error: maxError(weights, loaded),
  });
}

/** Measures every export of the student in memory; nothing is written. */
export async function exportSizes(
  spec: StudentSpec,
  weights: readonly NamedTensor[],
): Promise<Result<ExportSizes>> {
  const tfjs: Partial<Record<ExportFormat, ExportSize>> = {};
  for (const format of EXPORT_FORMATS) {
    const size = await tfjsSize(spec, weights, format);
    if (!size.ok) return size;
    tfjs[format] = size.value;
  }
  const blob = encodeTensorBlob(weights, 'int8-channel');
  if (!blob.ok) return blob;
  const decoded = decodeTensorBlob(blob.value);
  if (!decoded.ok) return decoded;
  const parameters = weights.reduce((n, t) => n + t.values.length, 0);
  const zeros = weights.reduce((n, t) => n + t.values.filter((v) => v === 0).length, 0);
  return ok({
    parameters,
    zeros,
    sparsity: parameters === 0 ? 0 : zeros / parameters,
    tfjs: tfjs as Record<ExportFormat, ExportSize>,
    int8_channel_blob: {
      bytes: blob.value.byteLength,
      gzip_bytes: gzipSync(blob.value).byteLength,
      max_weight_error: maxError(
        weights,
        decoded.value.map((t) => t.values),
      ),
    },
  });
}
