import { range, seededRandom, shuffleInPlace, type LabelledTable } from '../../protocol/index.js';

/** The private rows, split once into training and local validation. */
export interface PrivateSplit {
  readonly train: LabelledTable;
  readonly validation: LabelledTable | undefined;
}

function take(table: LabelledTable, rows: readonly number[]): LabelledTable {
  const inputs = new Float32Array(rows.length * table.features);
  rows.forEach((r, i) =>
    inputs.set(
      table.inputs.subarray(r * table.features, (r + 1) * table.features),
      i * table.features,
    ),
  );
  return {
    ...table,
    rows: rows.length,
    inputs,
    labels: Int32Array.from(rows, (r) => table.labels[r]!),
  };
}

/**
 * Which of `rows` rows train and which validate: a seeded shuffle, `fraction` of them (at least
 * one row left to train) held back; undefined when that is no row.
 */
export function validationRows(
  rows: number,
  fraction: number,
  seed: number,
): { readonly train: number[]; readonly validation: number[] } | undefined {
  const count = Math.min(Math.floor(rows * fraction), rows - 1);
  if (count < 1) return undefined;
  const order = shuffleInPlace(range(rows), seededRandom(seed));
  return { train: order.slice(count), validation: order.slice(0, count) };
}

/** A seeded local validation split; it stays at the site and feeds only scalar metrics. */
export function splitPrivate(table: LabelledTable, fraction: number, seed: number): PrivateSplit {
  const rows = validationRows(table.rows, fraction, seed);
  if (!rows) return { train: table, validation: undefined };
  return { train: take(table, rows.train), validation: take(table, rows.validation) };
}
