import { z } from 'zod';
import { binarySchema } from './binary.js';
import { fail, ok, type Result } from './errors.js';
import { FLOAT16_MAX, FLOAT16_OVERFLOW, fromFloat16Bits, toFloat16Bits } from './float16.js';
import { allFinite } from './tensor-math.js';

/** A named float32 tensor as both sides hold it in memory. */
export interface NamedTensor {
  readonly name: string;
  readonly shape: readonly number[];
  readonly values: Float32Array;
}

export const MAX_TENSOR_RANK = 4;
export const MAX_TENSOR_ELEMENTS = 1 << 24;
export const MAX_TENSORS = 256;

/**
 * How a tensor's values travel (all little-endian):
 * - float32: 4 bytes a value.
 * - float16: IEEE binary16, 2 bytes a value; relative error at most 2^-11 in the normal range.
 * - int8: symmetric, one float32 scale for the tensor; q = round(x / scale) in [-127, 127],
 *   scale = max|x| / 127, so the error is at most scale / 2.
 * - int8-channel: as int8 with one scale per output channel (the last axis), so a channel of
 *   small weights keeps its precision next to a channel of large ones.
 * - topk: the k values of largest magnitude as uint32 indices (ascending) and float32 values;
 *   every other value decodes to 0.
 */
export const TENSOR_ENCODINGS = ['float32', 'float16', 'int8', 'int8-channel', 'topk'] as const;
export const tensorEncodingSchema = z.enum(TENSOR_ENCODINGS);
export type TensorEncoding = z.infer<typeof tensorEncodingSchema>;

const elementCount = (shape: readonly number[]): number => shape.reduce((n, d) => n * d, 1);

/** Byte lengths each encoding requires, or a reason the shape cannot carry it. */
function expectedLengths(
  encoding: TensorEncoding,
  shape: readonly number[],
  k: number,
): { data: number; scales: number; indices: number } | string {
  const n = elementCount(shape);
  switch (encoding) {
    case 'float32':
      return { data: 4 * n, scales: 0, indices: 0 };
    case 'float16':
      return { data: 2 * n, scales: 0, indices: 0 };
    case 'int8':
      return { data: n, scales: 4, indices: 0 };
    case 'int8-channel':
      if (shape.length === 0) return 'int8-channel needs a tensor of rank 1 or more';
      return { data: n, scales: 4 * shape[shape.length - 1]!, indices: 0 };
    case 'topk':
      if (k < 1 || k > n) return `topk needs 1..${n} values, got ${k}`;
      return { data: 4 * k, scales: 0, indices: 4 * k };
    default: {
      const unreachable: never = encoding;
      return unreachable;
    }
  }
}

/** The wire form. Lengths are checked against shape and encoding before any value is read. */
export const wireTensorSchema = z
  .object({
    name: z.string().min(1).max(200),
    shape: z.array(z.number().int().min(1).max(MAX_TENSOR_ELEMENTS)).max(MAX_TENSOR_RANK),
    encoding: tensorEncodingSchema,
    data: binarySchema,
    scales: binarySchema.optional(),
    indices: binarySchema.optional(),
  })
  .strict()
  .superRefine((tensor, ctx) => {
    const n = elementCount(tensor.shape);
    if (n > MAX_TENSOR_ELEMENTS) {
      ctx.addIssue({
        code: 'custom',
        message: `a tensor may have at most ${MAX_TENSOR_ELEMENTS} elements`,
        path: ['shape'],
      });
      return;
    }
    const k = (tensor.indices?.byteLength ?? 0) / 4;
    const expected = expectedLengths(tensor.encoding, tensor.shape, k);
    if (typeof expected === 'string') {
      ctx.addIssue({ code: 'custom', message: expected, path: ['encoding'] });
      return;
    }
    const check = (field: 'data' | 'scales' | 'indices', want: number): void => {
      const got = tensor[field]?.byteLength ?? 0;
      if (got !== want || (want === 0 && tensor[field] !== undefined)) {
        ctx.addIssue({
          code: 'custom',
          message: `${tensor.encoding} of shape [${tensor.shape.join(', ')}] needs ${want} bytes of ${field}, got ${got}`,
          path: [field],
        });
      }
    };
    check('data', expected.data);
    check('scales', expected.scales);
    check('indices', expected.indices);
  });

export const wireTensorListSchema = z.array(wireTensorSchema).min(1).max(MAX_TENSORS);
export type WireTensor = z.infer<typeof wireTensorSchema>;

const littleEndianHost = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
if (!littleEndianHost) {
  // Typed-array views use host byte order; the wire format is little-endian.
  throw new Error('fedistill supports little-endian hosts only');
}

const asBytes = (view: Float32Array | Uint32Array | Uint16Array | Int8Array): Uint8Array =>
  new Uint8Array(view.buffer, view.byteOffset, view.byteLength);

/**
 * A typed view of received bytes: over the same memory when the offset allows (the decoded
 * frame is not reused), else over a copy (a typed array needs an aligned offset).
 */
function aligned<T>(
  bytes: Uint8Array,
  make: (buffer: ArrayBuffer, offset: number, length: number) => T,
  width: number,
): T {
  if (bytes.byteOffset % width === 0 && bytes.buffer instanceof ArrayBuffer) {
    return make(bytes.buffer, bytes.byteOffset, bytes.byteLength / width);
  }
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return make(copy.buffer, 0, bytes.byteLength / width);
}

export interface EncodeOptions {
  /** For topk: the share of values kept (k = ceil(fraction x n), at least 1). */
  readonly topkFraction?: number;
}

function symmetricScale(values: Float32Array, from: number, to: number, stride: number): number {
  let max = 0;
  for (let i = from; i < to; i += stride) max = Math.max(max, Math.abs(values[i]!));
  return max / 127;
}

export function encodeTensor(
  tensor: NamedTensor,
  encoding: TensorEncoding,
  options: EncodeOptions = {},
): Result<WireTensor> {
  const { values, name } = tensor;
  if (!allFinite(values)) {
    return fail('update.non_finite', `tensor ${name} holds NaN or infinite values`);
  }
  const shape = [...tensor.shape];
  const base = { name, shape, encoding };
  switch (encoding) {
    case 'float32':
      return ok({ ...base, data: asBytes(values) });
    case 'float16': {
      const halves = new Uint16Array(values.length);
      for (let i = 0; i < values.length; i++) halves[i] = toFloat16Bits(values[i]!);
      if (!halves.every((h) => (h & 0x7c00) !== 0x7c00)) {
        return fail(
          'codec.out_of_range',
          `tensor ${name} exceeds float16's range (|x| >= ${FLOAT16_OVERFLOW} rounds past the largest half, ${FLOAT16_MAX})`,
        );
      }
      return ok({ ...base, data: asBytes(halves) });
    }
    case 'int8':
    case 'int8-channel': {
      const channels = encoding === 'int8' ? 1 : (shape[shape.length - 1] ?? 0);
      if (channels === 0)
        return fail('codec.out_of_range', 'int8-channel needs a tensor of rank 1 or more');
      const scales = new Float32Array(channels);
      for (let c = 0; c < channels; c++)
        scales[c] = symmetricScale(values, c, values.length, channels);
      const q = new Int8Array(values.length);
      for (let i = 0; i < values.length; i++) {
        const scale = scales[i % channels]!;
        q[i] = scale === 0 ? 0 : Math.max(-127, Math.min(127, Math.round(values[i]! / scale)));
      }
      return ok({ ...base, data: asBytes(q), scales: asBytes(scales) });
    }
    case 'topk': {
      const fraction = options.topkFraction ?? 0.1;
      if (!(fraction > 0 && fraction <= 1))
        return fail('codec.out_of_range', 'topkFraction must lie in (0, 1]');
      const k = Math.max(1, Math.ceil(fraction * values.length));
      const order = Array.from(values.keys()).sort(
        (a, b) => Math.abs(values[b]!) - Math.abs(values[a]!) || a - b,
      );
      const kept = Uint32Array.from(order.slice(0, k)).sort();
      const keptValues = Float32Array.from(kept, (i) => values[i]!);
      return ok({ ...base, data: asBytes(keptValues), indices: asBytes(kept) });
    }
    default: {
      const unreachable: never = encoding;
      return unreachable;
    }
  }
}

export interface DecodeOptions {
  /**
   * Who refuses NaN and infinities: the decoder (the default), or the caller, which must then
   * check every value itself. The coordinator's folds check in the same pass as their sum, so a
   * check here too would read every byte of every update once more.
   */
  readonly finiteCheck?: 'decoder' | 'caller';
}

/** Decodes one validated wire tensor to float32; refuses NaN, Inf and out-of-range codes. */
export function decodeTensor(wire: WireTensor, options: DecodeOptions = {}): Result<NamedTensor> {
  const n = elementCount(wire.shape);
  const named = (values: Float32Array): Result<NamedTensor> =>
    options.finiteCheck === 'caller' || allFinite(values)
      ? ok({ name: wire.name, shape: [...wire.shape], values })
      : fail('update.non_finite', `tensor ${wire.name} holds NaN or infinite values`);
  switch (wire.encoding) {
    case 'float32':
      return named(aligned(wire.data, (b, o, n) => new Float32Array(b, o, n), 4));
    case 'float16': {
      const halves = aligned(wire.data, (b, o, n) => new Uint16Array(b, o, n), 2);
      return named(Float32Array.from(halves, fromFloat16Bits));
    }
    case 'int8':
    case 'int8-channel': {
      const scales = aligned(wire.scales!, (b, o, n) => new Float32Array(b, o, n), 4);
      if (!scales.every((s) => Number.isFinite(s) && s >= 0)) {
        return fail(
          'update.non_finite',
          `tensor ${wire.name} has a scale that is not a finite non-negative number`,
        );
      }
      const q = new Int8Array(wire.data.buffer, wire.data.byteOffset, wire.data.byteLength);
      const values = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        if (q[i] === -128)
          return fail('codec.out_of_range', `tensor ${wire.name} holds -128, outside [-127, 127]`);
        values[i] = q[i]! * scales[i % scales.length]!;
      }
      return named(values);
    }
    case 'topk': {
      const indices = aligned(wire.indices!, (b, o, n) => new Uint32Array(b, o, n), 4);
      const kept = aligned(wire.data, (b, o, n) => new Float32Array(b, o, n), 4);
      const values = new Float32Array(n);
      for (let j = 0; j < indices.length; j++) {
        const index = indices[j]!;
        if (index >= n || (j > 0 && index <= indices[j - 1]!)) {
          return fail(
            'codec.out_of_range',
            `tensor ${wire.name}: topk indices must be ascending and below ${n}`,
          );
        }
        values[index] = kept[j]!;
      }
      return named(values);
    }
    default: {
      const unreachable: never = wire.encoding;
      return unreachable;
    }
  }
}

function collect<A, B>(items: readonly A[], each: (item: A) => Result<B>): Result<B[]> {
  const out: B[] = [];
  for (const item of items) {
    const result = each(item);
    if (!result.ok) return result;
    out.push(result.value);
  }
  return ok(out);
}

export function encodeTensors(
  tensors: readonly NamedTensor[],
  encoding: TensorEncoding = 'float32',
  options: EncodeOptions = {},
): Result<WireTensor[]> {
  return collect(tensors, (t) => encodeTensor(t, encoding, options));
}

export function decodeTensors(
  wire: readonly WireTensor[],
  options: DecodeOptions = {},
): Result<NamedTensor[]> {
  return collect(wire, (w) => decodeTensor(w, options));
}

/** Checks that `found` has the same tensor names, order and shapes as `expected`. */
export function checkTensorShapes(
  expected: readonly { readonly name: string; readonly shape: readonly number[] }[],
  found: readonly NamedTensor[],
): Result<true> {
  if (expected.length !== found.length) {
    return fail(
      'update.shape_mismatch',
      `expected ${expected.length} tensors, found ${found.length}`,
    );
  }
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i]!;
    const f = found[i]!;
    if (e.name !== f.name || e.shape.join('x') !== f.shape.join('x')) {
      return fail(
        'update.shape_mismatch',
        `tensor ${i}: expected ${e.name} [${e.shape.join(', ')}], found ${f.name} [${f.shape.join(', ')}]`,
        [i],
      );
    }
  }
  return ok(true);
}

/** Checks that `found` has the same tensor names, order and shapes as `expected`, and no NaN/Inf. */
export function checkTensorsMatch(
  expected: readonly { readonly name: string; readonly shape: readonly number[] }[],
  found: readonly NamedTensor[],
): Result<true> {
  const shapes = checkTensorShapes(expected, found);
  if (!shapes.ok) return shapes;
  for (let i = 0; i < found.length; i++) {
    const f = found[i]!;
    if (!allFinite(f.values)) {
      return fail('update.non_finite', `tensor ${f.name} holds NaN or infinite values`, [i]);
    }
  }
  return ok(true);
}
