import { z } from 'zod';
import {
  fail,
  fromFloat16Bits,
  ok,
  parseWith,
  toFloat16Bits,
  type Result,
} from '../../protocol/index.js';
import { readOperatorFile, type OperatorFilesPolicy } from '../config/operator-files.js';
import type { LogitsShape } from './logits-shape.js';

/** Spec: the file opens with the header's byte length (JSON plus padding), u32 LE. */
const HEADER_LENGTH_BYTES = 4;
/** Spec: the matrix starts at a multiple of 8 bytes, so that a reader can map it in place. */
export const MATRIX_ALIGNMENT_BYTES = 8;
/** Implementation limit: a longer header is no logits file of ours. */
const MAX_HEADER_BYTES = 64 * 1024;
/** A float16 whose exponent bits are all set is infinite or NaN. */
const FLOAT16_EXPONENT_MASK = 0x7c00;

export const LOGITS_DTYPES = ['float32', 'float16'] as const;
export type LogitsDtype = (typeof LOGITS_DTYPES)[number];
const BYTES_PER_VALUE: Readonly<Record<LogitsDtype, number>> = { float32: 4, float16: 2 };

const headerSchema = z
  .object({
    format: z.literal('fedistill-logits'),
    version: z.literal(1),
    rows: z.number().int().min(1),
    classes: z.number().int().min(1),
    dtype: z.enum(LOGITS_DTYPES),
  })
  .strict();

/**
 * Reads a binary logits file (LOGITS-FORMAT.md): the header length, the JSON header, then the
 * rows x classes matrix, row-major, little-endian. The header must match the public split and
 * the run, the file must end where the matrix does, and every value must be finite.
 */
export async function readBinaryLogits(
  file: string,
  shape: LogitsShape,
  policy: OperatorFilesPolicy,
): Promise<Result<Float32Array>> {
  const read = await readOperatorFile(file, policy);
  if (!read.ok) return read;
  const bytes = read.value;
  const bad = (message: string): Result<never> => fail('data.invalid', `${file}: ${message}`);
  if (bytes.length < HEADER_LENGTH_BYTES) {
    return bad(`truncated: ${bytes.length} bytes, too short for the header length`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerBytes = view.getUint32(0, true);
  if (headerBytes > MAX_HEADER_BYTES) {
    return bad(`the header length is ${headerBytes} bytes, over ${MAX_HEADER_BYTES}`);
  }
  const matrixStart = HEADER_LENGTH_BYTES + headerBytes;
  if (matrixStart > bytes.length) {
    return bad(
      `truncated: the header needs ${headerBytes} bytes, ${bytes.length - HEADER_LENGTH_BYTES} follow`,
    );
  }
  let raw: unknown;
  try {
    raw = JSON.parse(
      new TextDecoder('utf-8', { fatal: true }).decode(
        bytes.subarray(HEADER_LENGTH_BYTES, matrixStart),
      ),
    );
  } catch {
    // The parser's message quotes the text, which may be any file's content.
    return bad('the header is not UTF-8 JSON');
  }
  const parsed = parseWith(headerSchema, raw, 'data.invalid', `${file} header`);
  if (!parsed.ok) return parsed;
  const header = parsed.value;
  if (matrixStart % MATRIX_ALIGNMENT_BYTES !== 0) {
    return bad(
      `the matrix starts at byte ${matrixStart}; pad the header with spaces so that it starts at a multiple of ${MATRIX_ALIGNMENT_BYTES}`,
    );
  }
  if (header.rows !== shape.rows) {
    return bad(`the header says ${header.rows} rows, the public split has ${shape.rows}`);
  }
  if (header.classes !== shape.classes) {
    return bad(`the header says ${header.classes} classes, the run has ${shape.classes}`);
  }
  const width = BYTES_PER_VALUE[header.dtype];
  const matrixBytes = header.rows * header.classes * width;
  const found = bytes.length - matrixStart;
  if (found < matrixBytes) {
    return bad(
      `truncated: ${header.rows} x ${header.classes} ${header.dtype} need ${matrixBytes} bytes after the header, ${found} follow`,
    );
  }
  if (found > matrixBytes) return bad(`${found - matrixBytes} bytes follow the matrix`);
  const values = new Float32Array(header.rows * header.classes);
  for (let i = 0; i < values.length; i++) {
    const at = matrixStart + i * width;
    const value =
      header.dtype === 'float32'
        ? view.getFloat32(at, true)
        : fromFloat16Bits(view.getUint16(at, true));
    if (!Number.isFinite(value)) {
      return fail(
        'data.invalid',
        `${file}: row ${Math.floor(i / header.classes)}, class ${i % header.classes} is ${value}`,
        [Math.floor(i / header.classes), i % header.classes],
      );
    }
    values[i] = value;
  }
  return ok(values);
}

/** Encodes a logits matrix; refuses a value that float16 cannot hold. */
export function encodeBinaryLogits(
  values: Float32Array,
  shape: LogitsShape,
  dtype: LogitsDtype,
): Result<Uint8Array> {
  const json = JSON.stringify({ format: 'fedistill-logits', version: 1, ...shape, dtype });
  const unpadded = HEADER_LENGTH_BYTES + Buffer.byteLength(json);
  const padding =
    (MATRIX_ALIGNMENT_BYTES - (unpadded % MATRIX_ALIGNMENT_BYTES)) % MATRIX_ALIGNMENT_BYTES;
  const header = Buffer.from(json + ' '.repeat(padding));
  const width = BYTES_PER_VALUE[dtype];
  const out = new Uint8Array(HEADER_LENGTH_BYTES + header.length + values.length * width);
  const view = new DataView(out.buffer);
  view.setUint32(0, header.length, true);
  out.set(header, HEADER_LENGTH_BYTES);
  const matrixStart = HEADER_LENGTH_BYTES + header.length;
  for (let i = 0; i < values.length; i++) {
    const value = values[i]!;
    if (dtype === 'float32') {
      view.setFloat32(matrixStart + i * 4, value, true);
      continue;
    }
    const half = toFloat16Bits(value);
    if ((half & FLOAT16_EXPONENT_MASK) === FLOAT16_EXPONENT_MASK) {
      return fail(
        'data.invalid',
        `row ${Math.floor(i / shape.classes)}, class ${i % shape.classes}: ${value} is beyond float16's range`,
      );
    }
    view.setUint16(matrixStart + i * 2, half, true);
  }
  return ok(out);
}
