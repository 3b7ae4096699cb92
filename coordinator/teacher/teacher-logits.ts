import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fail, ok, type Result } from '../../protocol/index.js';
import { encodeBinaryLogits, readBinaryLogits, type LogitsDtype } from './logits-binary.js';
import { formatJsonlLogits, readJsonlLogits } from './logits-jsonl.js';
import type { OperatorFilesPolicy } from '../config/operator-files.js';
import type { LogitsShape } from './logits-shape.js';
import type { LogitsFormat } from './teacher-config.js';
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from '../store/private-files.js';

export type { LogitsShape } from './logits-shape.js';

/** Where logits are written: JSONL, or the binary matrix in float32 or float16. */
export type LogitsTarget =
  | { readonly file: string; readonly format: 'jsonl' }
  | { readonly file: string; readonly format: 'binary'; readonly dtype: LogitsDtype };

/** Reads imported teacher logits (LOGITS-FORMAT.md), rows x classes row-major. */
export async function readTeacherLogits(
  source: { readonly file: string; readonly format: LogitsFormat },
  shape: LogitsShape,
  policy: OperatorFilesPolicy,
): Promise<Result<Float32Array>> {
  switch (source.format) {
    case 'jsonl':
      return readJsonlLogits(source.file, shape, policy);
    case 'binary':
      return readBinaryLogits(source.file, shape, policy);
    default: {
      const unknown: never = source.format;
      throw new Error(`unknown logits format ${String(unknown)}`);
    }
  }
}

/** Writes a logits matrix in the format LOGITS-FORMAT.md describes. */
export async function writeTeacherLogits(
  target: LogitsTarget,
  values: Float32Array,
  shape: LogitsShape,
): Promise<Result<true>> {
  const encoded =
    target.format === 'jsonl'
      ? ok(formatJsonlLogits(values, shape))
      : encodeBinaryLogits(values, shape, target.dtype);
  if (!encoded.ok) return fail('data.invalid', `${target.file}: ${encoded.error.message}`);
  try {
    // The operator's imports folder is usually the target, and absent until the first export.
    await mkdir(path.dirname(target.file), { recursive: true, mode: PRIVATE_DIR_MODE });
    await writeFile(target.file, encoded.value, { mode: PRIVATE_FILE_MODE });
  } catch (error) {
    return fail('config.invalid', `cannot write ${target.file}: ${(error as Error).message}`);
  }
  return ok(true);
}
