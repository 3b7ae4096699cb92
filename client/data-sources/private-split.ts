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

/** A seeded local validation split; it stays at the site and feeds only scalar metrics. */
export function splitPrivate(table: LabelledTable, fraction: number, seed: number): PrivateSplit {
  const count = Math.min(Math.floor(table.rows * fraction), table.rows - 1);
  if (count < 1) return { train: table, validation: undefined };
  const order = shuffleInPlace(range(table.rows), seededRandom(seed));
  return { train: take(table, order.slice(count)), validation: take(table, order.slice(0, count)) };
}
