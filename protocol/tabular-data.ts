import { z } from 'zod';
import { fail, ok, type Result } from './errors.js';
import { wireFloat } from './wire-number.js';

/** Rows of finite numbers, without labels: an unlabelled transfer set. */
export interface FeatureTable {
  readonly featureNames: readonly string[];
  readonly rows: number;
  readonly features: number;
  /** rows x features, row-major. */
  readonly inputs: Float32Array;
}

/**
 * Labelled tabular data as both sides hold it: rows of finite numbers and an integer class
 * label per row.
 */
export interface LabelledTable extends FeatureTable {
  readonly labels: Int32Array;
}

export interface CsvColumns {
  /** The label column's name. */
  readonly label: string;
  /** The feature columns, in this order; all other columns when absent. */
  readonly features?: readonly string[];
  /** Names the source in error messages (a file path). */
  readonly source: string;
}

const unquote = (cell: string): string => cell.trim().replace(/^"(.*)"$/, '$1');

/**
 * Parses a CSV with a header row. Numbers in any JavaScript notation parse (`5e+05`); an
 * empty or non-numeric cell, or a label that is not a non-negative integer, is an error that
 * names the source, the line and the column.
 */
export function parseCsvTable(text: string, columns: CsvColumns): Result<LabelledTable> {
  const parsed = parseCsvRows(text, columns, columns.label);
  if (!parsed.ok) return parsed;
  const { table, labels } = parsed.value;
  // parseCsvRows fills labels whenever it is given a label column.
  return ok({ ...table, labels: labels! });
}

/**
 * Parses a CSV of features only, as parseCsvTable does. A column named `label` is refused: a
 * table declared unlabelled that has one would either hide its labels as a feature or hold
 * labels nobody may use.
 */
export function parseUnlabelledCsv(
  text: string,
  columns: Omit<CsvColumns, 'features'> & { readonly reason: string },
): Result<FeatureTable> {
  const header = text
    .slice(0, text.search(/\r?\n|$/))
    .split(',')
    .map(unquote);
  if (header.includes(columns.label)) {
    return fail(
      'data.invalid',
      `${columns.source}: line 1 has a column "${columns.label}", but ${columns.reason}`,
      [1, columns.label],
    );
  }
  const parsed = parseCsvRows(text, { source: columns.source }, undefined);
  return parsed.ok ? ok(parsed.value.table) : parsed;
}

/** The rows of a CSV; with `label`, that column parsed as class numbers. */
function parseCsvRows(
  text: string,
  columns: Pick<CsvColumns, 'features' | 'source'>,
  label: string | undefined,
): Result<{ readonly table: FeatureTable; readonly labels: Int32Array | undefined }> {
  const lines = text.split(/\r?\n/);
  const header = lines[0]?.split(',').map(unquote) ?? [];
  const labelIndex = label === undefined ? -1 : header.indexOf(label);
  if (label !== undefined && labelIndex < 0) {
    return fail('data.invalid', `${columns.source}: line 1 has no column "${label}"`, [1]);
  }
  const featureNames = columns.features
    ? [...columns.features]
    : header.filter((_, i) => i !== labelIndex);
  const featureIndex = featureNames.map((name) => header.indexOf(name));
  const missing = featureNames.find((_, i) => featureIndex[i]! < 0);
  if (missing !== undefined)
    return fail('data.invalid', `${columns.source}: line 1 has no column "${missing}"`, [1]);
  if (featureNames.length === 0)
    return fail('data.invalid', `${columns.source}: no feature columns`, [1]);
  const body = lines
    .slice(1)
    .map((line, i) => ({ line, number: i + 2 }))
    .filter((l) => l.line.trim() !== '');
  if (body.length === 0) return fail('data.invalid', `${columns.source}: the table has no rows`);
  const features = featureNames.length;
  const inputs = new Float32Array(body.length * features);
  const labels = label === undefined ? undefined : new Int32Array(body.length);
  for (const [r, { line, number }] of body.entries()) {
    const cells = line.split(',').map(unquote);
    if (cells.length !== header.length) {
      return fail(
        'data.invalid',
        `${columns.source}: line ${number} has ${cells.length} fields, the header ${header.length}`,
        [number],
      );
    }
    for (let c = 0; c < features; c++) {
      const cell = cells[featureIndex[c]!]!;
      const value = Number(cell);
      if (cell === '' || !Number.isFinite(value)) {
        return fail(
          'data.invalid',
          `${columns.source}: line ${number}, column ${featureNames[c]}: "${cell}" is not a finite number`,
          [number, featureNames[c]!],
        );
      }
      inputs[r * features + c] = value;
    }
    if (labels === undefined || label === undefined) continue;
    const value = Number(cells[labelIndex]);
    if (!Number.isInteger(value) || value < 0) {
      return fail(
        'data.invalid',
        `${columns.source}: line ${number}, column ${label}: "${cells[labelIndex]}" is not a class number`,
        [number, label],
      );
    }
    labels[r] = value;
  }
  return ok({ table: { featureNames, rows: body.length, features, inputs }, labels });
}

/** Every label must name one of the run's classes. */
export function checkLabels(table: LabelledTable, classes: number, source: string): Result<true> {
  const bad = table.labels.findIndex((label) => label >= classes);
  return bad < 0
    ? ok(true)
    : fail(
        'data.invalid',
        `${source}: row ${bad + 1} has label ${table.labels[bad]}, the run has classes 0..${classes - 1}`,
        [bad + 1],
      );
}

/** A table of features only, as parseUnlabelledCsv reads it. */
export function formatUnlabelledCsv(table: FeatureTable): string {
  const lines = [table.featureNames.join(',')];
  for (let r = 0; r < table.rows; r++) {
    lines.push(
      Array.from(table.inputs.subarray(r * table.features, (r + 1) * table.features)).join(','),
    );
  }
  return lines.join('\n') + '\n';
}

export function formatLabelledCsv(table: LabelledTable): string {
  const lines = [[...table.featureNames, 'label'].join(',')];
  for (let r = 0; r < table.rows; r++) {
    const row = Array.from(table.inputs.subarray(r * table.features, (r + 1) * table.features));
    lines.push([...row, table.labels[r]].join(','));
  }
  return lines.join('\n') + '\n';
}

/** Per-feature standardisation, fitted on the coordinator's public split and sent to every site. */
export const normalizerSchema = z
  .object({
    mean: z.array(wireFloat(z.number().finite())).min(1),
    std: z.array(wireFloat(z.number().finite().positive())).min(1),
  })
  .strict()
  .refine((n) => n.mean.length === n.std.length, { message: 'mean and std differ in length' });
export type Normalizer = z.infer<typeof normalizerSchema>;

export function fitNormalizer(table: FeatureTable): Normalizer {
  const { rows, features, inputs } = table;
  const mean = new Array<number>(features).fill(0);
  const std = new Array<number>(features).fill(0);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < features; c++) mean[c]! += inputs[r * features + c]! / rows;
  }
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < features; c++)
      std[c]! += (inputs[r * features + c]! - mean[c]!) ** 2 / rows;
  }
  // A constant column keeps unit scale instead of dividing by zero.
  return { mean, std: std.map((v) => (v > 0 ? Math.sqrt(v) : 1)) };
}

export function applyNormalizer(inputs: Float32Array, normalizer: Normalizer): Float32Array {
  const features = normalizer.mean.length;
  const out = new Float32Array(inputs.length);
  for (let i = 0; i < inputs.length; i++) {
    const c = i % features;
    out[i] = (inputs[i]! - normalizer.mean[c]!) / normalizer.std[c]!;
  }
  return out;
}
