import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { range, seededRandom, shuffleInPlace, type LabelledTable } from '../../protocol/index.js';
import { dirichletPartition } from './partition.js';

export const DATASETS_DIR = fileURLToPath(new URL('../../../datasets/', import.meta.url));
const BREAST_CANCER_SHA256 = '9aec477dd15b75a2c96a23845831eb08dfa87d76f279d62bbad663497ecca02b';

/** The bytes of a file in datasets/, refused unless they hash to the published sha256. */
export async function readBundledDataset(file: string, sha256: string): Promise<Buffer> {
  const bytes = await readFile(`${DATASETS_DIR}${file}`);
  const digest = createHash('sha256').update(bytes).digest('hex');
  if (digest !== sha256) {
    throw new Error(`datasets/${file} has sha256 ${digest}, expected ${sha256}`);
  }
  return bytes;
}

/** Reads the bundled WDBC file (scikit-learn layout) after checking its sha256. */
export async function readBreastCancer(): Promise<LabelledTable> {
  const bytes = await readBundledDataset('breast_cancer.csv', BREAST_CANCER_SHA256);
  const names = (await readFile(`${DATASETS_DIR}breast_cancer.names.txt`, 'utf8'))
    .split('\n')
    .filter(Boolean);
  const [header, ...lines] = bytes.toString('utf8').split('\n').filter(Boolean);
  const [rows, features] = header!.split(',').map(Number) as [number, number];
  if (lines.length !== rows || names.length !== features) {
    throw new Error(
      `breast_cancer.csv promises ${rows} x ${features}, found ${lines.length} rows and ${names.length} names`,
    );
  }
  const inputs = new Float32Array(rows * features);
  const labels = new Int32Array(rows);
  lines.forEach((line, r) => {
    const cells = line.split(',').map(Number);
    inputs.set(cells.slice(0, features), r * features);
    labels[r] = cells[features]!;
  });
  return { featureNames: names, rows, features, inputs, labels };
}

export function selectRows(table: LabelledTable, rows: readonly number[]): LabelledTable {
  const { features } = table;
  const inputs = new Float32Array(rows.length * features);
  const labels = new Int32Array(rows.length);
  rows.forEach((row, i) => {
    inputs.set(table.inputs.subarray(row * features, (row + 1) * features), i * features);
    labels[i] = table.labels[row]!;
  });
  return { featureNames: table.featureNames, rows: rows.length, features, inputs, labels };
}

export interface DemoSplit {
  /** Trains the teacher and is the transfer set (the coordinator's). */
  readonly publicSplit: LabelledTable;
  /** Only the coordinator holds it, for evaluation. */
  readonly heldOut: LabelledTable;
  /** One private partition per site. */
  readonly sites: readonly LabelledTable[];
}

export interface DemoSplitPlan {
  readonly sites: number;
  readonly seed: number;
  readonly heldOutFraction: number;
  readonly publicFraction: number;
  readonly dirichletAlpha: number;
  readonly minSiteRows: number;
}

/**
 * Cuts a held-out share and a public share from a shuffle of the table; the remaining row
 * indices, in shuffled order, are left for the sites.
 */
export function cutSharedSplits(
  table: LabelledTable,
  plan: Pick<DemoSplitPlan, 'heldOutFraction' | 'publicFraction'>,
  random: () => number,
): { heldOut: LabelledTable; publicSplit: LabelledTable; privateRows: number[] } {
  const order = shuffleInPlace(range(table.rows), random);
  const heldOutRows = Math.round(table.rows * plan.heldOutFraction);
  const publicRows = Math.round(table.rows * plan.publicFraction);
  return {
    heldOut: selectRows(table, order.slice(0, heldOutRows)),
    publicSplit: selectRows(table, order.slice(heldOutRows, heldOutRows + publicRows)),
    privateRows: order.slice(heldOutRows + publicRows),
  };
}

/**
 * Seeded split: a held-out share and a public share are cut from a shuffle; the rest is shared
 * among the sites with Dirichlet label skew, so each site sees a different class balance.
 */
export function splitForDemo(table: LabelledTable, plan: DemoSplitPlan): DemoSplit {
  const random = seededRandom(plan.seed);
  const { heldOut, publicSplit, privateRows } = cutSharedSplits(table, plan, random);
  const privateTable = selectRows(table, privateRows);
  // Many sites on little data: ask each for at least half its even share (as FedDF's partitioner).
  const minRows = Math.min(plan.minSiteRows, Math.floor((0.5 * privateRows.length) / plan.sites));
  const parts = dirichletPartition({
    labels: privateTable.labels,
    sites: plan.sites,
    alpha: plan.dirichletAlpha,
    minRows,
    random,
  });
  return { heldOut, publicSplit, sites: parts.map((rows) => selectRows(privateTable, rows)) };
}
