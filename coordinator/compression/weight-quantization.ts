import { z } from 'zod';
import {
  encodeTensor,
  fromFloat16Bits,
  ok,
  type NamedTensor,
  type Result,
} from '../../protocol/index.js';

/**
 * The formats a student is exported in. Each maps onto the TensorFlow.js weights manifest, so an
 * unmodified `tf.loadLayersModel` dequantizes it to float32 (inference stays float32 in tfjs;
 * quantization only shrinks the download).
 * - float32: as trained.
 * - float16: every weight as IEEE binary16 (`quantization: {dtype: 'float16'}`).
 * - int8: kernels as the codec's symmetric int8 with one scale per tensor, stored as uint8 q + 128
 *   with `{dtype: 'uint8', scale: s, min: -128 s}`; biases stay float32, since they are a few
 *   dozen values that add straight into an output, with no fan-in to average their error away.
 * The manifest has one (scale, min) per tensor, so per-output-channel int8 ('int8-channel') has
 * no tfjs form; it travels only in the project's own tensor blob (export-sizes.ts measures it).
 */
export const EXPORT_FORMATS = ['float32', 'float16', 'int8'] as const;
export const exportFormatSchema = z.enum(EXPORT_FORMATS);
export type ExportFormat = z.infer<typeof exportFormatSchema>;

/** Bytes a stored value takes (tfjs-core io/types.ts DTYPE_VALUE_SIZE_MAP). */
const VALUE_BYTES = { float32: 4, int32: 4, uint16: 2, float16: 2, uint8: 1 } as const;

const affineSchema = z.object({
  dtype: z.enum(['uint8', 'uint16']),
  scale: z.number().finite(),
  min: z.number().finite(),
});

/**
 * One weight of a tfjs weights manifest (tfjs-core io/types.ts WeightsManifestEntry), limited to
 * what the tfjs loader decodes into a layers model: float32 or int32 values, plain or quantized.
 * Keys tfjs ignores (`group`, the converter's `original_dtype`) are dropped.
 */
export const weightsManifestEntrySchema = z
  .object({
    name: z.string().min(1),
    shape: z.array(z.number().int().min(0)),
    dtype: z.enum(['float32', 'int32']),
    quantization: z
      .discriminatedUnion('dtype', [affineSchema, z.object({ dtype: z.literal('float16') })])
      .optional(),
  })
  .refine((entry) => entry.quantization?.dtype !== 'float16' || entry.dtype === 'float32', {
    message: 'float16 quantization applies to float32 weights only',
    path: ['quantization'],
  });
export type WeightsManifestEntry = z.infer<typeof weightsManifestEntrySchema>;

const elementCount = (shape: readonly number[]): number => shape.reduce((n, d) => n * d, 1);

/** Bytes the entry takes in the concatenated shards; entries follow each other unpadded. */
export function storedByteLength(entry: WeightsManifestEntry): number {
  return elementCount(entry.shape) * VALUE_BYTES[entry.quantization?.dtype ?? entry.dtype];
}

export interface StoredWeight {
  readonly entry: WeightsManifestEntry;
  readonly bytes: Uint8Array;
}

/**
 * A tensor as a manifest entry and its bytes. The int8 code q and the float32 scale s are the
 * codec's (tensor-codec.ts), so loading gives the codec's own dequantized values bit for bit:
 * tfjs computes (q + 128) s + (-128 s) in float64, where both terms are exact (an 8-bit integer
 * times a 24-bit mantissa fits in 53 bits) and so is their sum q s, then rounds once to float32
 * as the codec does. A pruned weight (q = 0) comes back exactly 0.
 */
export function storeWeight(tensor: NamedTensor, format: ExportFormat): Result<StoredWeight> {
  const encoding = format === 'int8' && tensor.shape.length < 2 ? 'float32' : format;
  const wire = encodeTensor(tensor, encoding);
  if (!wire.ok) return wire;
  const { data, scales } = wire.value;
  const base = { name: tensor.name, shape: [...tensor.shape], dtype: 'float32' as const };
  switch (encoding) {
    case 'float32':
      return ok({ entry: base, bytes: data });
    case 'float16':
      return ok({ entry: { ...base, quantization: { dtype: 'float16' } }, bytes: data });
    case 'int8': {
      const q = new Int8Array(data.buffer, data.byteOffset, data.byteLength);
      const scale = new DataView(scales!.buffer, scales!.byteOffset, 4).getFloat32(0, true);
      return ok({
        entry: { ...base, quantization: { dtype: 'uint8', scale, min: -128 * scale } },
        bytes: Uint8Array.from(q, (v) => v + 128),
      });
    }
    default: {
      const unreachable: never = encoding;
      return unreachable;
    }
  }
}

/**
 * The values tfjs's loader gives a stored weight (tfjs-core io_utils.ts decodeWeight): uint8 and
 * uint16 codes become q scale + min computed in float64, then float32 (int32: rounded); float16
 * widens exactly. `bytes` must hold storedByteLength(entry) bytes.
 */
export function loadedValues(
  entry: WeightsManifestEntry,
  bytes: Uint8Array,
): Float32Array | Int32Array {
  // A copy of just these bytes, so that the typed views below start aligned (a Buffer's slice
  // would be a view into its pool).
  const buffer = new Uint8Array(bytes).buffer;
  const quantization = entry.quantization;
  if (!quantization)
    return entry.dtype === 'float32' ? new Float32Array(buffer) : new Int32Array(buffer);
  if (quantization.dtype === 'float16')
    return Float32Array.from(new Uint16Array(buffer), fromFloat16Bits);
  const { scale, min } = quantization;
  const codes = quantization.dtype === 'uint8' ? new Uint8Array(buffer) : new Uint16Array(buffer);
  return entry.dtype === 'float32'
    ? Float32Array.from(codes, (q) => q * scale + min)
    : Int32Array.from(codes, (q) => Math.round(q * scale + min));
}
