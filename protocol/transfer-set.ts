import { z } from 'zod';
import { hashSchema } from './binary.js';
import { contentHash } from './content-hash.js';
import { fail, ok, type Result } from './errors.js';
import type { Sodium } from './sodium.js';

/**
 * The transfer set: public inputs and the teacher's logits on them, shipped once per run and
 * addressed by content hash. Layout: inputs (rows x features float32 LE), then logits
 * (rows x classes float32 LE). It is fetched in chunks, each with its own hash, so a site can
 * verify every chunk as it lands and resume from the first one it lacks.
 */
export interface TransferSet {
  readonly rows: number;
  readonly features: number;
  readonly classes: number;
  readonly inputs: Float32Array;
  readonly logits: Float32Array;
}

export const MIN_CHUNK_BYTES = 1024;
export const MAX_CHUNK_BYTES = 4 * 1024 * 1024;

export const transferManifestSchema = z
  .object({
    hash: hashSchema,
    bytes: z
      .number()
      .int()
      .min(1)
      .max(2 ** 31),
    chunkBytes: z.number().int().min(MIN_CHUNK_BYTES).max(MAX_CHUNK_BYTES),
    chunkHashes: z.array(hashSchema).min(1).max(100_000),
    rows: z.number().int().min(1),
    features: z.number().int().min(1),
    classes: z.number().int().min(2),
  })
  .strict()
  .superRefine((m, ctx) => {
    const expected = m.rows * (m.features + m.classes) * 4;
    if (m.bytes !== expected) {
      ctx.addIssue({
        code: 'custom',
        message: `rows x (features + classes) x 4 = ${expected}, not ${m.bytes}`,
        path: ['bytes'],
      });
    }
    if (m.chunkHashes.length !== Math.ceil(m.bytes / m.chunkBytes)) {
      ctx.addIssue({
        code: 'custom',
        message: `${m.bytes} bytes in chunks of ${m.chunkBytes} need ${Math.ceil(m.bytes / m.chunkBytes)} hashes`,
        path: ['chunkHashes'],
      });
    }
  });
export type TransferManifest = z.infer<typeof transferManifestSchema>;

export function encodeTransferSet(set: TransferSet): Uint8Array {
  const out = new Float32Array(set.inputs.length + set.logits.length);
  out.set(set.inputs, 0);
  out.set(set.logits, set.inputs.length);
  return new Uint8Array(out.buffer);
}

export function buildManifest(
  sodium: Sodium,
  set: TransferSet,
  encoded: Uint8Array,
  chunkBytes: number,
): TransferManifest {
  const chunkHashes: Uint8Array[] = [];
  for (let start = 0; start < encoded.length; start += chunkBytes) {
    chunkHashes.push(contentHash(sodium, encoded.subarray(start, start + chunkBytes)));
  }
  return {
    hash: contentHash(sodium, encoded),
    bytes: encoded.length,
    chunkBytes,
    chunkHashes,
    rows: set.rows,
    features: set.features,
    classes: set.classes,
  };
}

export function chunkRange(manifest: TransferManifest, index: number): [number, number] {
  const start = index * manifest.chunkBytes;
  return [start, Math.min(start + manifest.chunkBytes, manifest.bytes)];
}

/** Verifies the whole payload against the manifest and splits it into inputs and logits. */
export function decodeTransferSet(
  sodium: Sodium,
  encoded: Uint8Array,
  manifest: TransferManifest,
): Result<TransferSet> {
  if (encoded.length !== manifest.bytes) {
    return fail(
      'transfer.hash_mismatch',
      `expected ${manifest.bytes} bytes, got ${encoded.length}`,
    );
  }
  if (!sodium.memcmp(contentHash(sodium, encoded), manifest.hash)) {
    return fail('transfer.hash_mismatch', 'the transfer set does not match its announced hash');
  }
  const copy = new Uint8Array(encoded);
  const all = new Float32Array(copy.buffer);
  const split = manifest.rows * manifest.features;
  const set: TransferSet = {
    rows: manifest.rows,
    features: manifest.features,
    classes: manifest.classes,
    inputs: all.subarray(0, split),
    logits: all.subarray(split),
  };
  if (!all.every(Number.isFinite)) {
    return fail('data.invalid', 'the transfer set holds NaN or infinite values');
  }
  return ok(set);
}
