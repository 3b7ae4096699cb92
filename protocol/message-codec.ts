import { Decoder, encode } from '@msgpack/msgpack';
import type { z } from 'zod';
import { MAX_FRAME_BYTES } from './constants.js';
import { fail, type Result } from './errors.js';
import { parseWith } from './parse.js';
import {
  coordinatorMessageSchema,
  siteMessageSchema,
  type CoordinatorMessage,
  type SiteMessage,
} from './messages.js';

/** Messages are MessagePack maps; binary fields (tensors, hashes) travel as bin, not base64. */
export function encodeMessage(message: CoordinatorMessage | SiteMessage): Uint8Array {
  return encode(message);
}

// Bounds keep a hostile frame from making the decoder allocate far beyond the frame itself.
const decoder = new Decoder({
  maxStrLength: 64 * 1024,
  maxBinLength: MAX_FRAME_BYTES,
  maxArrayLength: 1_000_000,
  maxMapLength: 64,
  maxExtLength: 0,
});

function decodeWith<S extends z.ZodType>(schema: S, bytes: Uint8Array): Result<z.infer<S>> {
  let raw: unknown;
  try {
    raw = decoder.decode(bytes);
  } catch (error) {
    return fail('schema.invalid', `not a MessagePack message: ${(error as Error).message}`);
  }
  return parseWith(schema, raw, 'schema.invalid');
}

export function decodeSiteMessage(bytes: Uint8Array): Result<SiteMessage> {
  return decodeWith(siteMessageSchema, bytes);
}

export function decodeCoordinatorMessage(bytes: Uint8Array): Result<CoordinatorMessage> {
  return decodeWith(coordinatorMessageSchema, bytes);
}
