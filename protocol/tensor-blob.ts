import { Decoder } from '@msgpack/msgpack';
import { fail, ok, type Result } from './errors.js';
import { parseWith } from './parse.js';
import { writeTensorBlob } from './tensor-blob-writer.js';
import {
  decodeTensors,
  encodeTensors,
  MAX_TENSOR_ELEMENTS,
  MAX_TENSORS,
  wireTensorListSchema,
  type DecodeOptions,
  type EncodeOptions,
  type NamedTensor,
  type TensorEncoding,
} from './tensor-codec.js';

/** A model or an update as a blob: a MessagePack array of wire tensors, `data` 4-byte aligned. */
export function encodeTensorBlob(
  tensors: readonly NamedTensor[],
  encoding: TensorEncoding,
  options: EncodeOptions = {},
): Result<Uint8Array> {
  const wire = encodeTensors(tensors, encoding, options);
  return wire.ok ? ok(writeTensorBlob(wire.value)) : wire;
}

const decoder = new Decoder({
  maxStrLength: 256,
  maxBinLength: MAX_TENSOR_ELEMENTS * 4,
  maxArrayLength: MAX_TENSORS,
  maxMapLength: 8,
  maxExtLength: 0,
});

export function decodeTensorBlob(
  bytes: Uint8Array,
  options: DecodeOptions = {},
): Result<NamedTensor[]> {
  let raw: unknown;
  try {
    raw = decoder.decode(bytes);
  } catch (error) {
    return fail(
      'schema.malformed',
      `a tensor blob is not MessagePack: ${(error as Error).message}`,
    );
  }
  const wire = parseWith(wireTensorListSchema, raw, 'schema.invalid', 'tensor blob');
  return wire.ok ? decodeTensors(wire.value, options) : wire;
}
