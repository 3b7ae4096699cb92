import type { z } from 'zod';
import { MAX_FRAME_BYTES } from './constants.js';
import { fail, type Result } from './errors.js';
import {
  COORDINATOR_MESSAGE_TYPES,
  coordinatorMessageSchema,
  MESSAGE_LIMITS,
  SITE_MESSAGE_TYPES,
  siteMessageSchema,
  type CoordinatorMessage,
  type SiteMessage,
} from './messages.js';
import { parseWith } from './parse.js';
import { wireFloatDecoder, wireFloatEncoder } from './wire-number.js';

const encoder = wireFloatEncoder();

/**
 * Messages are MessagePack maps; binary fields (chunks, hashes) travel as bin, not base64, and
 * float fields as float 64 (PROTOCOL.md section 5.1). A message its schema refuses (only a test's
 * hostile peer builds one) is encoded as it stands, for the receiver's checks to meet.
 */
export function encodeMessage(message: CoordinatorMessage | SiteMessage): Uint8Array {
  const schema = COORDINATOR_MESSAGE_TYPES.includes(message.type)
    ? coordinatorMessageSchema
    : siteMessageSchema;
  const wire = schema.safeEncode(message as never);
  return encoder.encode(wire.success ? wire.data : message);
}

// Bounds keep a hostile frame from making the decoder allocate far beyond the frame itself.
const decoder = wireFloatDecoder({
  maxStrLength: 64 * 1024,
  maxBinLength: MAX_FRAME_BYTES,
  maxArrayLength: 100_000,
  maxMapLength: 64,
  maxExtLength: 0,
});

/**
 * Decodes one message for this side: not MessagePack (schema.malformed), a type this side
 * does not receive (schema.unknown_type), larger than its type allows (schema.too_large),
 * or failing its schema (schema.invalid).
 */
function decodeWith<S extends z.ZodType>(
  schema: S,
  accepted: readonly string[],
  bytes: Uint8Array,
): Result<z.infer<S>> {
  let raw: unknown;
  try {
    raw = decoder.decode(bytes);
  } catch (error) {
    return fail('schema.malformed', `not a MessagePack message: ${(error as Error).message}`);
  }
  const type =
    typeof raw === 'object' && raw !== null && 'type' in raw
      ? (raw as { type: unknown }).type
      : undefined;
  if (typeof type !== 'string' || !accepted.includes(type)) {
    return fail(
      'schema.unknown_type',
      `unknown message type ${JSON.stringify(type)?.slice(0, 64)}`,
      ['type'],
    );
  }
  const limit = MESSAGE_LIMITS[type as keyof typeof MESSAGE_LIMITS];
  if (bytes.length > limit) {
    return fail(
      'schema.too_large',
      `a ${type} message may be at most ${limit} bytes, got ${bytes.length}`,
    );
  }
  return parseWith(schema, raw, 'schema.invalid', type);
}

export function decodeSiteMessage(bytes: Uint8Array): Result<SiteMessage> {
  return decodeWith(siteMessageSchema, SITE_MESSAGE_TYPES, bytes);
}

export function decodeCoordinatorMessage(bytes: Uint8Array): Result<CoordinatorMessage> {
  return decodeWith(coordinatorMessageSchema, COORDINATOR_MESSAGE_TYPES, bytes);
}
