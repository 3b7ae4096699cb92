import { appendFileSync, closeSync, fsyncSync, openSync } from 'node:fs';
import { mkdir, readFile, truncate } from 'node:fs/promises';
import path from 'node:path';
import { fail, ok, parseWith, type Result } from '../../protocol/index.js';
import { logitsLineSchema } from '../../coordinator/teacher/logits-jsonl.js';
import type { LogitsShape } from '../../coordinator/teacher/logits-shape.js';
import { denseFromTopK, type TopK } from '../../coordinator/teacher/sparse-logits.js';
import { PRIVATE_FILE_MODE } from '../../coordinator/store/private-files.js';

/** What an earlier run left in the output file. */
export interface ResumedLabels {
  /** The ids it holds, each on a valid line. */
  readonly done: ReadonlySet<number>;
  /** An unterminated last line (a write cut short) was cut off, to be labelled again. */
  readonly droppedTail: boolean;
}

/**
 * Reads the rows an earlier run wrote, so that they are not asked again. This command writes
 * whole lines only, so the one damage a crash leaves is an unterminated last line: it is cut off
 * and its id labelled again. Any other line the importer would refuse (not JSON, an id or class
 * out of range, a repeated id) means the file is not this command's output for this input and
 * these classes: it is refused, unchanged, naming the line.
 */
export async function resumeLabels(
  file: string,
  shape: LogitsShape,
): Promise<Result<ResumedLabels>> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      return ok({ done: new Set(), droppedTail: false });
    }
    return fail('file.unreadable', `--out: cannot read ${file}: ${(error as Error).message}`);
  }
  const complete = bytes.lastIndexOf(0x0a) + 1;
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(0, complete));
  } catch {
    return fail('data.invalid', `--out ${file} is not UTF-8 text; it is not a labels file`);
  }
  const done = new Map<number, number>();
  const lines = text.split('\n');
  for (const [index, line] of lines.entries()) {
    if (line.trim() === '') continue;
    const checked = checkLine(line, shape, done);
    if (!checked.ok) {
      return fail(
        'data.invalid',
        `--out ${file} line ${index + 1}: ${checked.error.message}; it is not a line this command writes for this input and these classes, so the file is left as it is (move it away, or mend the line)`,
      );
    }
    done.set(checked.value, index + 1);
  }
  if (complete < bytes.length) await truncate(file, complete);
  return ok({ done: new Set(done.keys()), droppedTail: complete < bytes.length });
}

/** The id of one line the importer would accept, not already given. */
function checkLine(
  line: string,
  shape: LogitsShape,
  done: ReadonlyMap<number, number>,
): Result<number> {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    return fail('data.invalid', 'not JSON');
  }
  const parsed = parseWith(logitsLineSchema, raw, 'data.invalid');
  if (!parsed.ok) return parsed;
  const { id, logits, topk } = parsed.value;
  if (id >= shape.rows) {
    return fail('data.invalid', `id ${id}, and the input has rows 0..${shape.rows - 1}`);
  }
  if (done.has(id)) return fail('data.invalid', `id ${id} was already on line ${done.get(id)}`);
  if (logits && logits.length !== shape.classes) {
    return fail('data.invalid', `${logits.length} logits for ${shape.classes} classes`);
  }
  if (topk) {
    const dense = denseFromTopK(topk, shape.classes);
    if (!dense.ok) return dense;
  }
  return ok(id);
}

/** One row of the output: its id and its top-k log-probabilities. */
export interface LabelRow {
  readonly id: number;
  readonly topk: TopK;
}

/**
 * Appends rows as they finish, each as one whole line in one synchronous write: rows from
 * concurrent requests never interleave, and a crash can cut only the last line short.
 */
export class LabelsWriter {
  private constructor(private readonly fd: number) {}

  /** Opens the file for appending, making its folder if need be. */
  static async open(file: string): Promise<Result<LabelsWriter>> {
    try {
      await mkdir(path.dirname(file), { recursive: true });
      return ok(new LabelsWriter(openSync(file, 'a', PRIVATE_FILE_MODE)));
    } catch (error) {
      return fail('config.invalid', `--out: cannot write ${file}: ${(error as Error).message}`);
    }
  }

  write(row: LabelRow): void {
    appendFileSync(this.fd, `${JSON.stringify({ id: row.id, topk: row.topk })}\n`);
  }

  close(): void {
    fsyncSync(this.fd);
    closeSync(this.fd);
  }
}
