import { z } from 'zod';
import { HASH_BYTES } from './constants.js';

/** Binary fields arrive as Uint8Array views of the decoded frame. */
export const binarySchema = z.custom<Uint8Array>((v) => v instanceof Uint8Array, {
  message: 'must be binary',
});

export const hashSchema = binarySchema.refine((b) => b.length === HASH_BYTES, {
  message: `a hash is ${HASH_BYTES} bytes`,
});
