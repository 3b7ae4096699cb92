import type { z } from 'zod';
import { fail, ok, type ErrorCode, type Result } from './errors.js';

/** Parses `raw` with `schema`; every zod issue goes into one coded error, path first. */
export function parseWith<S extends z.ZodType>(
  schema: S,
  raw: unknown,
  code: ErrorCode,
  label?: string,
): Result<z.infer<S>> {
  const parsed = schema.safeParse(raw);
  if (parsed.success) return ok(parsed.data);
  const first = parsed.error.issues[0]?.path.filter(
    (p): p is string | number => typeof p !== 'symbol',
  );
  const text = parsed.error.issues
    .map((i) => `${i.path.map(String).join('.') || '(root)'}: ${i.message}`)
    .join('; ');
  return fail(code, label ? `${label}: ${text}` : text, first);
}
