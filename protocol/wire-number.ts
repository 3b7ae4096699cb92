import { Decoder, Encoder, type DecoderOptions } from '@msgpack/msgpack';
import { z } from 'zod';

/**
 * PROTOCOL.md section 5.1: an `int` field takes the MessagePack int family only, a `float` field
 * is written as float 64 and read from any number encoding. JavaScript has one number type, so
 * a value in a float encoding travels as a WireFloat between the MessagePack layer and the
 * message schemas: an int schema refuses it (1.0 for `round`), a float schema takes it.
 */
export class WireFloat {
  constructor(readonly value: number) {}
}

/**
 * A float field: reads a float or int encoding as its number, and on encode marks the number so
 * the encoder writes float 64 even when it is whole (temperature 5 leaves as 5.0).
 */
export function wireFloat(schema: z.ZodNumber) {
  return z.codec(z.union([z.number(), z.instanceof(WireFloat)]), schema, {
    decode: (value) => (value instanceof WireFloat ? value.value : value),
    encode: (value) => new WireFloat(value),
  });
}

// @msgpack/msgpack (pinned at 3.1.3) reads float 32 and 64 through these methods and writes
// through these; its public options cannot tell 1.0 from 1 in either direction.
type FloatReaders = { readF32(): number; readF64(): number };
type FloatWriter = {
  doEncode(value: unknown, depth: number): void;
  encodeNumberAsFloat(value: number): void;
};
/** A decoder that hands float-encoded numbers on as WireFloat. */
export function wireFloatDecoder(options: DecoderOptions): Decoder {
  const decoder = new Decoder(options);
  const readers = decoder as unknown as FloatReaders;
  const { readF32, readF64 } = readers;
  readers.readF32 = () => new WireFloat(readF32.call(decoder)) as unknown as number;
  readers.readF64 = () => new WireFloat(readF64.call(decoder)) as unknown as number;
  return decoder;
}

/** An encoder that writes a WireFloat as float 64 and every other number as the library does. */
export function wireFloatEncoder(): Encoder {
  const encoder = new Encoder();
  const writer = encoder as unknown as FloatWriter;
  const doEncode = writer.doEncode.bind(encoder);
  writer.doEncode = (value, depth) => {
    if (value instanceof WireFloat) writer.encodeNumberAsFloat(value.value);
    else doEncode(value, depth);
  };
  return encoder;
}
