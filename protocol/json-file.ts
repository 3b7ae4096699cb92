import { readFile } from 'node:fs/promises';
import type { z } from 'zod';
import { fail, type ErrorCode, type Result } from './errors.js';
import { parseWith } from './parse.js';

/** Reads a JSON file and parses it with `schema`; every problem comes back as one coded error. */
export async function readJsonFile<S extends z.ZodType>(
  path: string,
  schema: S,
  code: ErrorCode = 'config.invalid',
): Promise<Result<z.infer<S>>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    return fail(code, `cannot read ${path}: ${(error as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    return fail(code, `${path} is not JSON: ${(error as Error).message}`);
  }
  return parseWith(schema, raw, code, path);
}
