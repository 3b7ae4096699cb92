import { z } from 'zod';
import { blobManifestSchema } from './blob-transfer.js';
import { fail, ok, type Result } from './errors.js';
import { allFinite } from './tensor-math.js';

/**
 * What a site receives of the teacher, in one of the two distillation modes of a run:
 *
 * - `transfer-set` (FedMD / DS-FL style): public inputs and the teacher's logits on them, and,
 *   when the run distils hidden states, the teacher's features at its last hidden layer. Blob
 *   layout, all float32 LE: inputs (rows x features), logits (rows x classes), then features
 *   (rows x hiddenWidth).
 * - `class-logits` (FD, Jeong et al. 2018): no inputs at all; the teacher's mean logits for each
 *   true class, a classes x classes matrix (row c: mean logits over public rows of class c).
 *
 * Either is a blob, sent once per run and cached by the site under its content hash.
 */
export const teacherDescriptorSchema = z.discriminatedUnion('mode', [
  z
    .object({
      mode: z.literal('transfer-set'),
      blob: blobManifestSchema,
      rows: z.number().int().min(1).max(10_000_000),
      features: z.number().int().min(1).max(1_000_000),
      classes: z.number().int().min(2).max(1000),
      /** Width of the teacher's hidden features in the blob; 0 when the run does not send them. */
      hiddenWidth: z.number().int().min(0).max(4096),
    })
    .strict()
    .superRefine((d, ctx) => {
      const expected = d.rows * (d.features + d.classes + d.hiddenWidth) * 4;
      if (d.blob.bytes !== expected) {
        ctx.addIssue({
          code: 'custom',
          message: `rows x (features + classes + hiddenWidth) x 4 = ${expected} bytes, the blob has ${d.blob.bytes}`,
          path: ['blob', 'bytes'],
        });
      }
    }),
  z
    .object({
      mode: z.literal('class-logits'),
      blob: blobManifestSchema,
      classes: z.number().int().min(2).max(1000),
    })
    .strict()
    .superRefine((d, ctx) => {
      if (d.blob.bytes !== d.classes * d.classes * 4) {
        ctx.addIssue({
          code: 'custom',
          message: `classes x classes x 4 = ${d.classes * d.classes * 4} bytes, the blob has ${d.blob.bytes}`,
          path: ['blob', 'bytes'],
        });
      }
    }),
]);
export type TeacherDescriptor = z.infer<typeof teacherDescriptorSchema>;

export interface TransferSet {
  readonly mode: 'transfer-set';
  readonly rows: number;
  readonly features: number;
  readonly classes: number;
  readonly inputs: Float32Array;
  readonly logits: Float32Array;
  readonly hiddenWidth: number;
  /** rows x hiddenWidth; empty when hiddenWidth is 0. */
  readonly hidden: Float32Array;
}

export interface ClassLogits {
  readonly mode: 'class-logits';
  readonly classes: number;
  /** classes x classes, row-major. */
  readonly matrix: Float32Array;
}

export type TeacherKnowledge = TransferSet | ClassLogits;

export function encodeTeacherKnowledge(knowledge: TeacherKnowledge): Uint8Array {
  const parts =
    knowledge.mode === 'transfer-set'
      ? [knowledge.inputs, knowledge.logits, knowledge.hidden]
      : [knowledge.matrix];
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return new Uint8Array(out.buffer);
}

/** Splits a verified blob as its descriptor says; refuses a wrong size, NaN and Inf. */
export function decodeTeacherKnowledge(
  bytes: Uint8Array,
  descriptor: TeacherDescriptor,
): Result<TeacherKnowledge> {
  const all = new Float32Array(Uint8Array.from(bytes).buffer);
  if (bytes.length !== descriptor.blob.bytes) {
    return fail(
      'blob.hash_mismatch',
      `the teacher blob should be ${descriptor.blob.bytes} bytes, got ${bytes.length}`,
    );
  }
  if (!allFinite(all)) return fail('data.invalid', 'the teacher blob holds NaN or infinite values');
  if (descriptor.mode === 'class-logits')
    return ok({ mode: 'class-logits', classes: descriptor.classes, matrix: all });
  const { rows, features, classes, hiddenWidth } = descriptor;
  const logitsStart = rows * features;
  const hiddenStart = logitsStart + rows * classes;
  return ok({
    mode: 'transfer-set',
    rows,
    features,
    classes,
    hiddenWidth,
    inputs: all.subarray(0, logitsStart),
    logits: all.subarray(logitsStart, hiddenStart),
    hidden: all.subarray(hiddenStart),
  });
}
