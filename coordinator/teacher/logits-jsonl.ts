import { z } from 'zod';
import { allFinite, fail, ok, parseWith, type Result } from '../../protocol/index.js';
import { readOperatorFile, type OperatorFilesPolicy } from '../config/operator-files.js';
import { denseFromTopK } from './sparse-logits.js';
import type { LogitsShape } from './logits-shape.js';

const finite = z.number({ error: 'must be a finite number' });

/**
 * One JSONL line: the public split's row `id`, and either all its logits or its top k. Exported
 * for `fedistill teacher label`, which resumes a file by keeping the lines this reader accepts.
 */
export const logitsLineSchema = z
  .object({
    id: z.number().int().min(0),
    logits: z.array(finite).optional(),
    topk: z
      .array(z.tuple([z.number().int().min(0), finite]))
      .min(1)
      .optional(),
  })
  .strict()
  .refine((line) => (line.logits === undefined) !== (line.topk === undefined), {
    message: 'give exactly one of "logits" and "topk"',
  });

const MISSING_IDS_NAMED = 5;

/**
 * Reads a JSONL logits file under the operator files policy: every row of the public split
 * exactly once, in any order. An error names the file and the line, never the line's text.
 */
export async function readJsonlLogits(
  file: string,
  shape: LogitsShape,
  policy: OperatorFilesPolicy,
): Promise<Result<Float32Array>> {
  const bytes = await readOperatorFile(file, policy);
  if (!bytes.ok) return bytes;
  const { rows, classes } = shape;
  const values = new Float32Array(rows * classes);
  // The line that gave each id, 0 while none has.
  const lineOf = new Int32Array(rows);
  const at = (line: number): string => `${file} line ${line}`;
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let number = 0;
  for (const lineBytes of splitLines(bytes.value)) {
    number++;
    let raw: unknown;
    try {
      const text = decoder.decode(lineBytes);
      if (text.trim() === '') continue;
      raw = JSON.parse(text);
    } catch {
      // The parser's message quotes the text, which may be any file's content.
      return fail('data.invalid', `${at(number)} is not UTF-8 JSON`, [number]);
    }
    const parsed = parseWith(logitsLineSchema, raw, 'data.invalid', at(number));
    if (!parsed.ok) return parsed;
    const { id, logits, topk } = parsed.value;
    if (id >= rows) {
      return fail(
        'data.invalid',
        `${at(number)}: id ${id} is outside the public split's rows 0..${rows - 1}`,
        [number],
      );
    }
    if (lineOf[id]! > 0) {
      return fail(
        'data.invalid',
        `${at(number)}: id ${id} was already given on line ${lineOf[id]}`,
        [number],
      );
    }
    lineOf[id] = number;
    if (logits && logits.length !== classes) {
      return fail(
        'data.invalid',
        `${at(number)}: ${logits.length} logits, the run has ${classes} classes`,
        [number],
      );
    }
    const dense = logits ? ok(logits) : denseFromTopK(topk!, classes);
    if (!dense.ok) return fail('data.invalid', `${at(number)}: ${dense.error.message}`, [number]);
    values.set(dense.value, id * classes);
    if (!allFinite(values.subarray(id * classes, (id + 1) * classes))) {
      return fail('data.invalid', `${at(number)}: a logit is beyond float32's range`, [number]);
    }
  }
  const missing = [...lineOf.keys()].filter((id) => lineOf[id] === 0);
  if (missing.length > 0) {
    const named = missing.slice(0, MISSING_IDS_NAMED).join(', ');
    const more =
      missing.length > MISSING_IDS_NAMED ? ` and ${missing.length - MISSING_IDS_NAMED} more` : '';
    return fail(
      'data.invalid',
      `${file}: no line for id ${named}${more}; the public split has rows 0..${rows - 1}`,
    );
  }
  return ok(values);
}

/** The file's lines (LF or CRLF), as views of its bytes: no string of the whole file is built. */
function* splitLines(bytes: Buffer): Generator<Buffer> {
  let start = 0;
  while (start < bytes.length) {
    let end = bytes.indexOf(0x0a, start);
    if (end < 0) end = bytes.length;
    const stop = end > start && bytes[end - 1] === 0x0d ? end - 1 : end;
    yield bytes.subarray(start, stop);
    start = end + 1;
  }
}

/** One line per row, in row order, with every logit (float32 values round-trip exactly). */
export function formatJsonlLogits(values: Float32Array, shape: LogitsShape): string {
  const lines: string[] = [];
  for (let id = 0; id < shape.rows; id++) {
    const logits = Array.from(values.subarray(id * shape.classes, (id + 1) * shape.classes));
    lines.push(JSON.stringify({ id, logits }));
  }
  return lines.join('\n') + '\n';
}
