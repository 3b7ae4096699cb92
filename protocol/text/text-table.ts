import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { fail, ok, type Result } from '../errors.js';

/**
 * Texts and, where the source has them, their class labels: a site's private mail, the
 * coordinator's public or held-out split. The texts stay where they are read; only token ids of
 * the public split ever travel (as the transfer set).
 */
export interface TextTable {
  readonly texts: readonly string[];
  /** null for an unlabelled source (a transfer set whose soft labels come from a teacher). */
  readonly labels: Int32Array | null;
}

export const TEXT_FORMATS = ['csv', 'jsonl', 'folder'] as const;
export type TextFormat = (typeof TEXT_FORMATS)[number];

export interface TextColumns {
  /** The text column (CSV) or field (JSONL); a folder's texts are its files. */
  readonly text: string;
  /** The label column or field; null reads no labels (and refuses a source that has them). */
  readonly label: string | null;
  /** Names the source in error messages (a file path). */
  readonly source: string;
}

const invalid = (message: string, at: Array<string | number> = []) =>
  fail('data.invalid', message, at);

function classNumber(value: unknown): number | undefined {
  const n = typeof value === 'string' && /^\d+$/.test(value.trim()) ? Number(value) : value;
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

/** Checks one row's text and label; the error names the line and the field. */
function takeRow(
  row: Record<string, unknown>,
  line: number,
  columns: TextColumns,
  into: { texts: string[]; labels: number[] },
): Result<true> {
  const text = row[columns.text];
  if (typeof text !== 'string' || text.trim() === '') {
    return invalid(
      `${columns.source}: line ${line}, field ${columns.text}: ${text === undefined ? 'missing' : `${JSON.stringify(text)} is not a non-empty text`}`,
      [line, columns.text],
    );
  }
  into.texts.push(text);
  if (columns.label === null) {
    if (row.label !== undefined) {
      return invalid(
        `${columns.source}: line ${line} has a label field, and this source is declared unlabelled`,
        [line, 'label'],
      );
    }
    return ok(true);
  }
  const label = classNumber(row[columns.label]);
  if (label === undefined) {
    return invalid(
      `${columns.source}: line ${line}, field ${columns.label}: ${JSON.stringify(row[columns.label])} is not a class number`,
      [line, columns.label],
    );
  }
  into.labels.push(label);
  return ok(true);
}

function table(into: { texts: string[]; labels: number[] }, columns: TextColumns): TextTable {
  return {
    texts: into.texts,
    labels: columns.label === null ? null : Int32Array.from(into.labels),
  };
}

/** A CSV with a header row; quoted cells may hold commas and line breaks (RFC 4180). */
export function parseTextCsv(content: string, columns: TextColumns): Result<TextTable> {
  let records: Array<{ record: Record<string, string>; info: { lines: number } }>;
  try {
    records = parse(content, { columns: true, bom: true, skip_empty_lines: true, info: true });
  } catch (error) {
    const lines = (error as { lines?: number }).lines;
    return invalid(
      `${columns.source}: ${lines ? `line ${lines}: ` : ''}${(error as Error).message}`,
      lines ? [lines] : [],
    );
  }
  if (records.length === 0) return invalid(`${columns.source}: no rows`);
  const into = { texts: [] as string[], labels: [] as number[] };
  for (const { record, info } of records) {
    const taken = takeRow(record, info.lines, columns, into);
    if (!taken.ok) return taken;
  }
  return ok(table(into, columns));
}

/** Texts as JSONL, `{"text": ...}` a line, with `"label"` where labels are given. */
export function formatTextJsonl(texts: readonly string[], labels?: ArrayLike<number>): string {
  return texts
    .map((text, i) => JSON.stringify(labels ? { text, label: labels[i] } : { text }) + '\n')
    .join('');
}

/** One JSON object per line; blank lines are skipped. */
export function parseTextJsonl(content: string, columns: TextColumns): Result<TextTable> {
  const into = { texts: [] as string[], labels: [] as number[] };
  const lines = content.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === '') continue;
    let row: unknown;
    try {
      row = JSON.parse(line);
    } catch (error) {
      return invalid(`${columns.source}: line ${i + 1} is not JSON: ${(error as Error).message}`, [
        i + 1,
      ]);
    }
    if (typeof row !== 'object' || row === null || Array.isArray(row)) {
      return invalid(`${columns.source}: line ${i + 1} is not a JSON object`, [i + 1]);
    }
    const taken = takeRow(row as Record<string, unknown>, i + 1, columns, into);
    if (!taken.ok) return taken;
  }
  if (into.texts.length === 0) return invalid(`${columns.source}: no rows`);
  return ok(table(into, columns));
}

/**
 * A folder of UTF-8 text files, one text each, in name order. Labelled: one subfolder per class,
 * named by its number (`0/`, `1/`); unlabelled: the files themselves. Hidden files are skipped.
 */
export async function readTextFolder(dir: string, labelled: boolean): Promise<Result<TextTable>> {
  const visible = async (folder: string) =>
    (await readdir(folder)).filter((name) => !name.startsWith('.')).sort();
  const readTexts = async (folder: string): Promise<Result<string[]>> => {
    const texts: string[] = [];
    for (const name of await visible(folder)) {
      const file = path.join(folder, name);
      if (!(await stat(file)).isFile()) {
        return invalid(
          `${file}: expected a text file${labelled ? '' : ' (an unlabelled folder holds no subfolders)'}`,
        );
      }
      const text = await readFile(file, 'utf8');
      if (text.trim() === '') return invalid(`${file}: empty text`);
      texts.push(text);
    }
    return ok(texts);
  };
  try {
    if (!labelled) {
      const texts = await readTexts(dir);
      if (!texts.ok) return texts;
      if (texts.value.length === 0) return invalid(`${dir}: no text files`);
      return ok({ texts: texts.value, labels: null });
    }
    const into = { texts: [] as string[], labels: [] as number[] };
    for (const name of await visible(dir)) {
      const label = classNumber(name);
      if (label === undefined || !(await stat(path.join(dir, name))).isDirectory()) {
        return invalid(
          `${path.join(dir, name)}: a labelled folder holds one subfolder per class, named by its number (0, 1, ...)`,
        );
      }
      const texts = await readTexts(path.join(dir, name));
      if (!texts.ok) return texts;
      for (const text of texts.value) {
        into.texts.push(text);
        into.labels.push(label);
      }
    }
    if (into.texts.length === 0) return invalid(`${dir}: no text files`);
    return ok({ texts: into.texts, labels: Int32Array.from(into.labels) });
  } catch (error) {
    return invalid(`cannot read ${dir}: ${(error as Error).message}`);
  }
}

/** A text file's format by its extension (.csv; .jsonl or .ndjson), or undefined. */
export function textFormatByExtension(file: string): 'csv' | 'jsonl' | undefined {
  const extension = path.extname(file).toLowerCase();
  if (extension === '.csv') return 'csv';
  return extension === '.jsonl' || extension === '.ndjson' ? 'jsonl' : undefined;
}

/** Reads a CSV, JSONL file or folder of texts; the format comes from the source kind. */
export async function readTextTable(
  format: TextFormat,
  file: string,
  columns: TextColumns,
): Promise<Result<TextTable>> {
  if (format === 'folder') return readTextFolder(file, columns.label !== null);
  let content: string;
  try {
    content = await readFile(file, 'utf8');
  } catch (error) {
    return invalid(`cannot read ${file}: ${(error as Error).message}`);
  }
  return format === 'csv' ? parseTextCsv(content, columns) : parseTextJsonl(content, columns);
}
