import { z } from 'zod';
import { blobManifestSchema } from './blob-transfer.js';
import { fail, ok, type Result } from './errors.js';

/**
 * The transfer set: public inputs and the teacher's logits on them, sent once per run as a
 * blob and cached by the site under its content hash. Layout: inputs (rows x features float32
 * LE), then logits (rows x classes float32 LE).
 */
export interface TransferSet {
  readonly rows: number;
  readonly features: number;
  readonly classes: number;
  readonly inputs: Float32Array;
  readonly logits: Float32Array;
}

export const transferSetDescriptorSchema = z
  .object({
    blob: blobManifestSchema,
    rows: z.number().int().min(1).max(10_000_000),
    features: z.number().int().min(1).max(100_000),
    classes: z.number().int().min(2).max(1000),
  })
  .strict()
  .superRefine((d, ctx) => {
    const expected = d.rows * (d.features + d.classes) * 4;
    if (d.blob.bytes !== expected) {
      ctx.addIssue({
        code: 'custom',
        message: `rows x (features + classes) x 4 = ${expected} bytes, the blob has ${d.blob.bytes}`,
        path: ['blob', 'bytes'],
      });
    }
  });
export type TransferSetDescriptor = z.infer<typeof transferSetDescriptorSchema>;

export function encodeTransferSet(set: TransferSet): Uint8Array {
  const out = new Float32Array(set.inputs.length + set.logits.length);
  out.set(set.inputs, 0);
  out.set(set.logits, set.inputs.length);
  return new Uint8Array(out.buffer);
}

/** Splits a verified blob into inputs and logits; refuses NaN and Inf. */
export function decodeTransferSet(
  bytes: Uint8Array,
  descriptor: Omit<TransferSetDescriptor, 'blob'>,
): Result<TransferSet> {
  const expected = descriptor.rows * (descriptor.features + descriptor.classes) * 4;
  if (bytes.length !== expected) {
    return fail(
      'blob.hash_mismatch',
      `the transfer set should be ${expected} bytes, got ${bytes.length}`,
    );
  }
  const all = new Float32Array(Uint8Array.from(bytes).buffer);
  if (!all.every(Number.isFinite)) {
    return fail('data.invalid', 'the transfer set holds NaN or infinite values');
  }
  const split = descriptor.rows * descriptor.features;
  return ok({
    rows: descriptor.rows,
    features: descriptor.features,
    classes: descriptor.classes,
    inputs: all.subarray(0, split),
    logits: all.subarray(split),
  });
}
