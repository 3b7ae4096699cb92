import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import {
  fail,
  ok,
  parseCsvTable,
  readTextTable,
  type LabelledTable,
  type Result,
} from '../../protocol/index.js';
import type { LabelledTexts } from './private-texts.js';
import { loadMnistDigits } from './mnist.js';

/** Where a site's private rows come from. They are read here and never leave the site. */
const textWithoutFeatures = {
  check: (source: { text?: string | undefined; features?: string[] | undefined }) =>
    !(source.text && source.features),
  message: {
    message: 'a text source has no feature columns: give text or features',
    path: ['features'],
  },
};

export const dataSourceSchema = z.discriminatedUnion('kind', [
  z
    .object({
      kind: z.literal('csv'),
      path: z.string().min(1),
      /** The label column. */
      label: z.string().min(1).default('label'),
      /** Feature columns in order; every other column when absent. */
      features: z.array(z.string().min(1)).min(1).optional(),
      /**
       * For a run over text: the column of texts (RFC 4180 quoting: cells may hold commas and
       * line breaks); the run's tokenizer turns them into token ids at this site.
       */
      text: z.string().min(1).optional(),
    })
    .strict()
    .refine(textWithoutFeatures.check, textWithoutFeatures.message),
  z
    .object({
      kind: z.literal('jsonl'),
      path: z.string().min(1),
      label: z.string().min(1).default('label'),
      /** Feature keys in order; the first row's other keys when absent. */
      features: z.array(z.string().min(1)).min(1).optional(),
      /** For a run over text: the field holding each row's text. */
      text: z.string().min(1).optional(),
    })
    .strict()
    .refine(textWithoutFeatures.check, textWithoutFeatures.message),
  z
    .object({
      /** Texts as files, one subfolder per class named by its number (`0/`, `1/`). */
      kind: z.literal('folder'),
      path: z.string().min(1),
    })
    .strict(),
  z
    .object({
      kind: z.literal('mnist'),
      /** Images of each digit, from `offset` on, as the `mnist` package orders them. */
      perDigit: z.number().int().min(1).max(1200),
      offset: z.number().int().min(0).default(0),
    })
    .strict(),
]);
export type DataSource = z.infer<typeof dataSourceSchema>;

/** Relative paths in a source resolve against `dir` (the config file's folder). */
export function resolveSource(source: DataSource, dir: string): DataSource {
  return source.kind === 'mnist' ? source : { ...source, path: path.resolve(dir, source.path) };
}

function parseJsonl(
  text: string,
  options: { label: string; features?: readonly string[] | undefined; source: string },
): Result<LabelledTable> {
  const lines = text
    .split(/\r?\n/)
    .map((line, i) => ({ line, number: i + 1 }))
    .filter((l) => l.line.trim() !== '');
  if (lines.length === 0) return fail('data.invalid', `${options.source}: no rows`);
  let featureNames = options.features ? [...options.features] : undefined;
  const inputs: number[] = [];
  const labels: number[] = [];
  for (const { line, number } of lines) {
    let row: unknown;
    try {
      row = JSON.parse(line);
    } catch (error) {
      return fail(
        'data.invalid',
        `${options.source}: line ${number} is not JSON: ${(error as Error).message}`,
        [number],
      );
    }
    if (typeof row !== 'object' || row === null || Array.isArray(row)) {
      return fail('data.invalid', `${options.source}: line ${number} is not a JSON object`, [
        number,
      ]);
    }
    const record = row as Record<string, unknown>;
    featureNames ??= Object.keys(record).filter((key) => key !== options.label);
    for (const name of featureNames) {
      const value = record[name];
      if (typeof value !== 'number' || !Number.isFinite(value)) {
        return fail(
          'data.invalid',
          `${options.source}: line ${number}, field ${name}: ${JSON.stringify(value)} is not a finite number`,
          [number, name],
        );
      }
      inputs.push(value);
    }
    const label = record[options.label];
    if (typeof label !== 'number' || !Number.isInteger(label) || label < 0) {
      return fail(
        'data.invalid',
        `${options.source}: line ${number}, field ${options.label}: ${JSON.stringify(label)} is not a class number`,
        [number, options.label],
      );
    }
    labels.push(label);
  }
  const names = featureNames ?? [];
  if (names.length === 0) return fail('data.invalid', `${options.source}: no feature fields`);
  return ok({
    featureNames: names,
    rows: labels.length,
    features: names.length,
    inputs: Float32Array.from(inputs),
    labels: Int32Array.from(labels),
  });
}

/** Whether the source holds texts (for a run over text) rather than numeric rows. */
export function isTextSource(source: DataSource): boolean {
  return (
    source.kind === 'folder' ||
    ((source.kind === 'csv' || source.kind === 'jsonl') && !!source.text)
  );
}

/** A text source's texts and labels; they stay at the site, only token ids reach the student. */
export async function loadPrivateTexts(source: DataSource): Promise<Result<LabelledTexts>> {
  if (source.kind === 'mnist' || !isTextSource(source)) {
    return fail('data.invalid', `the ${source.kind} source names no texts (give it text)`);
  }
  const columns = {
    text: source.kind === 'folder' ? '' : source.text!,
    label: source.kind === 'folder' ? 'label' : source.label,
    source: source.path,
  };
  const table = await readTextTable(source.kind, source.path, columns);
  if (!table.ok) return table;
  return ok({ texts: table.value.texts, labels: table.value.labels! });
}

export async function loadPrivateData(source: DataSource): Promise<Result<LabelledTable>> {
  if (isTextSource(source)) {
    return fail('data.invalid', 'this source holds texts: only a run over text reads it');
  }
  switch (source.kind) {
    case 'csv':
    case 'jsonl': {
      let text: string;
      try {
        text = await readFile(source.path, 'utf8');
      } catch (error) {
        return fail('data.invalid', `cannot read ${source.path}: ${(error as Error).message}`);
      }
      const columns = { label: source.label, features: source.features, source: source.path };
      return source.kind === 'csv'
        ? parseCsvTable(
            text,
            source.features
              ? { ...columns, features: source.features }
              : { label: source.label, source: source.path },
          )
        : parseJsonl(text, columns);
    }
    case 'mnist':
      return ok(loadMnistDigits({ perDigit: source.perDigit, offset: source.offset }));
    case 'folder':
      return fail('data.invalid', `${source.path} is a folder of texts`);
    default: {
      const unreachable: never = source;
      return unreachable;
    }
  }
}

/** Rows per class, for `fedistill site check`'s summary (printed locally, never sent). */
export function labelBalance(table: { readonly labels: Int32Array }): Map<number, number> {
  const counts = new Map<number, number>();
  for (const label of table.labels) counts.set(label, (counts.get(label) ?? 0) + 1);
  return new Map([...counts.entries()].sort((a, b) => a[0] - b[0]));
}
