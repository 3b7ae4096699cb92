import { z } from 'zod';
import { binarySchema } from './binary.js';
import { fail, ok, type Result } from './errors.js';

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
 * The wire form: float32 little-endian bytes. The byte length must equal 4 x the shape's
 * product, checked here so that a decoder never reads past what the shape promises.
 */
export const wireTensorSchema = z
  .object({
    name: z.string().min(1).max(200),
    shape: z.array(z.number().int().min(1).max(MAX_TENSOR_ELEMENTS)).max(MAX_TENSOR_RANK),
    data: binarySchema,
  })
  .strict()
  .superRefine((tensor, ctx) => {
    const elements = tensor.shape.reduce((n, d) => n * d, 1);
    if (elements > MAX_TENSOR_ELEMENTS) {
      ctx.addIssue({
        code: 'custom',
        message: `a tensor may have at most ${MAX_TENSOR_ELEMENTS} elements`,
        path: ['shape'],
      });
    } else if (tensor.data.byteLength !== elements * 4) {
      ctx.addIssue({
        code: 'custom',
        message: `shape ${JSON.stringify(tensor.shape)} needs ${elements * 4} bytes, got ${tensor.data.byteLength}`,
        path: ['data'],
      });
    }
  });

export const wireTensorListSchema = z.array(wireTensorSchema).min(1).max(MAX_TENSORS);

export type WireTensor = z.infer<typeof wireTensorSchema>;

const littleEndianHost = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
if (!littleEndianHost) {
  // Float32Array views use host byte order; the wire format is little-endian.
  throw new Error('fedistill supports little-endian hosts only');
}

export function encodeTensors(tensors: readonly NamedTensor[]): WireTensor[] {
  return tensors.map((t) => ({
    name: t.name,
    shape: [...t.shape],
    data: new Uint8Array(t.values.buffer, t.values.byteOffset, t.values.byteLength),
  }));
}

/** Copies each tensor out of the received buffer (which need not be 4-byte aligned). */
export function decodeTensors(wire: readonly WireTensor[]): NamedTensor[] {
  return wire.map((t) => {
    const copy = new Uint8Array(t.data.byteLength);
    copy.set(t.data);
    return { name: t.name, shape: [...t.shape], values: new Float32Array(copy.buffer) };
  });
}

/** Checks that `found` has the same tensor names, order and shapes as `expected`, and no NaN/Inf. */
export function checkTensorsMatch(
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
    if (!f.values.every(Number.isFinite)) {
      return fail('update.non_finite', `tensor ${f.name} holds NaN or infinite values`, [i]);
    }
  }
  return ok(true);
}
