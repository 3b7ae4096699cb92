import { z } from 'zod';
import { fail, ok, type Result } from './errors.js';

/**
 * Labelled tabular data as both sides read it: a CSV whose header names the feature columns and
 * ends with `label`; every row holds finite numbers and an integer class in [0, classes).
 */
export interface LabelledTable {
  readonly featureNames: readonly string[];
  readonly rows: number;
  readonly features: number;
  /** rows x features, row-major. */
  readonly inputs: Float32Array;
  readonly labels: Int32Array;
}

export function parseLabelledCsv(text: string, classes: number): Result<LabelledTable> {
  const lines = text.split('\n').filter((line) => line.trim() !== '');
  const header = lines[0]?.split(',').map((s) => s.trim());
  if (!header || header.length < 2 || header[header.length - 1] !== 'label') {
    return fail(
      'data.invalid',
      'the first line must name the feature columns and end with "label"',
      [0],
    );
  }
  const features = header.length - 1;
  const rows = lines.length - 1;
  if (rows < 1) return fail('data.invalid', 'the table has no rows');
  const inputs = new Float32Array(rows * features);
  const labels = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    const cells = lines[r + 1]!.split(',');
    if (cells.length !== features + 1) {
      return fail(
        'data.invalid',
        `line ${r + 2} has ${cells.length} fields, expected ${features + 1}`,
        [r + 1],
      );
    }
    for (let c = 0; c < features; c++) {
      const value = Number(cells[c]);
      if (cells[c]!.trim() === '' || !Number.isFinite(value)) {
        return fail('data.invalid', `line ${r + 2}, column ${header[c]} is not a finite number`, [
          r + 1,
          c,
        ]);
      }
      inputs[r * features + c] = value;
    }
    const label = Number(cells[features]);
    if (!Number.isInteger(label) || label < 0 || label >= classes) {
      return fail(
        'data.invalid',
        `line ${r + 2} has label ${cells[features]}, expected 0..${classes - 1}`,
        [r + 1, features],
      );
    }
    labels[r] = label;
  }
  return ok({ featureNames: header.slice(0, features), rows, features, inputs, labels });
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
    mean: z.array(z.number().finite()).min(1),
    std: z.array(z.number().finite().positive()).min(1),
  })
  .strict()
  .refine((n) => n.mean.length === n.std.length, { message: 'mean and std differ in length' });
export type Normalizer = z.infer<typeof normalizerSchema>;

export function fitNormalizer(table: LabelledTable): Normalizer {
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
