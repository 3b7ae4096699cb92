import { readFile } from 'node:fs/promises';
import {
  checkLabels,
  parseCsvTable,
  seededRandom,
  unwrap,
  type LabelledTable,
} from '../../protocol/index.js';
import {
  cutSharedSplits,
  DATASETS_DIR,
  readBundledDataset,
  selectRows,
  type DemoSplit,
  type DemoSplitPlan,
} from './demo-data.js';

const CREDIT_DEFAULT_SHA256 = 'a0f0ab49d6326671d6cd83be5c88dcf18007025fe9a53ecd699119c871176ca1';
const LABEL = 'default.payment.next.month';
const months = (prefix: string, from: number) =>
  Array.from({ length: 7 - from }, (_, i) => `${prefix}${from + i}`);
/** Every column but ID (a row number, no signal) and the label, in file order. */
const FEATURES = [
  'LIMIT_BAL',
  'SEX',
  'EDUCATION',
  'MARRIAGE',
  'AGE',
  'PAY_0',
  ...months('PAY_', 2),
  ...months('BILL_AMT', 1),
  ...months('PAY_AMT', 1),
];
const EDUCATION = FEATURES.indexOf('EDUCATION');

/** The credit table, with each row's EDUCATION code kept aside for the branch split. */
export interface CreditDefaultTable extends LabelledTable {
  readonly education: Int32Array;
}

export interface EducationBranch {
  readonly name: string;
  /** The EDUCATION codes whose clients bank at this branch. */
  readonly codes: readonly number[];
  readonly description: string;
}

/** One bank branch per documented EDUCATION code, and one for the codes the data leaves unexplained. */
export const EDUCATION_BRANCHES: readonly EducationBranch[] = [
  { name: 'graduate-school', codes: [1], description: 'EDUCATION 1, graduate school' },
  { name: 'university', codes: [2], description: 'EDUCATION 2, university' },
  { name: 'high-school', codes: [3], description: 'EDUCATION 3, high school' },
  { name: 'others', codes: [4], description: 'EDUCATION 4, others' },
  { name: 'unknown', codes: [0, 5, 6], description: 'EDUCATION 0, 5 or 6, undocumented codes' },
];

/**
 * Reads Default of Credit Card Clients (UCI, Yeh & Lien 2009): 23 features, label 1 = default.
 * The bundled file is refused unless its sha256 matches; another `path` is read as it is.
 */
export async function readCreditDefault(path?: string): Promise<CreditDefaultTable> {
  const bytes =
    path === undefined
      ? await readBundledDataset('credit_default.csv', CREDIT_DEFAULT_SHA256)
      : await readFile(path);
  const source = path ?? `${DATASETS_DIR}credit_default.csv`;
  const table = unwrap(
    parseCsvTable(bytes.toString('utf8'), { label: LABEL, features: FEATURES, source }),
  );
  unwrap(checkLabels(table, 2, source));
  const education = new Int32Array(table.rows);
  for (let r = 0; r < table.rows; r++) {
    education[r] = table.inputs[r * table.features + EDUCATION]!;
  }
  return { ...table, education };
}

/**
 * Seeded split: a held-out share and a public share are cut from a shuffle of all clients, as
 * for the demo's Dirichlet split; every other client goes to the branch of its EDUCATION code,
 * so `sites[i]` is `EDUCATION_BRANCHES[i]`.
 */
export function splitByEducation(
  table: CreditDefaultTable,
  plan: Pick<DemoSplitPlan, 'seed' | 'heldOutFraction' | 'publicFraction'>,
): DemoSplit {
  const { heldOut, publicSplit, privateRows } = cutSharedSplits(
    table,
    plan,
    seededRandom(plan.seed),
  );
  const branchRows: number[][] = EDUCATION_BRANCHES.map(() => []);
  for (const row of privateRows) {
    const code = table.education[row]!;
    const branch = EDUCATION_BRANCHES.findIndex((b) => b.codes.includes(code));
    if (branch < 0) throw new Error(`row ${row + 1} has EDUCATION ${code}, which no branch takes`);
    branchRows[branch]!.push(row);
  }
  return {
    heldOut,
    publicSplit,
    sites: branchRows.map((rows) =>
      selectRows(
        table,
        rows.sort((a, b) => a - b),
      ),
    ),
  };
}
