import { loadMnistDigits } from '../../client/data-sources/mnist.js';
import type { LabelledTable } from '../../protocol/index.js';
import { EDUCATION_BRANCHES, readCreditDefault, splitByEducation } from './credit-default.js';
import { readBreastCancer, splitForDemo, type DemoSplit } from './demo-data.js';
import type { Scenario, SplitRecipe, TeacherOrigin } from './scenarios.js';

/**
 * A scenario's split; `labels` names each site in the scenario's terms. With an outside teacher,
 * `outside` is what that teacher learned from: rows of the same source that none of the split's
 * parts holds.
 */
export type ScenarioSplit = DemoSplit & {
  readonly labels?: readonly string[];
  readonly outside?: LabelledTable;
};

/** The digits scenario's share of each digit in the `mnist` package; the rest is the outside teacher's. */
const MNIST_SPLIT_PER_DIGIT = 600;
/** More than any digit has in the package (1,127 at most): every image from the offset on. */
const MNIST_EVERY_IMAGE = 10_000;

/** Which split of which scenario: the same scenario, sites and seed give the same rows. */
export interface SplitRequest {
  readonly scenario: Scenario;
  readonly sites: number;
  readonly seed: number;
}

async function readLabelSkewDataset(
  dataset: Extract<SplitRecipe, { kind: 'label-skew' }>['dataset'],
): Promise<LabelledTable> {
  switch (dataset) {
    case 'breast_cancer':
      return readBreastCancer();
    case 'mnist':
      return loadMnistDigits({ perDigit: MNIST_SPLIT_PER_DIGIT });
    default: {
      const unknown: never = dataset;
      throw new Error(`no reader for data set ${String(unknown)}`);
    }
  }
}

/** What an outside teacher learned from: rows the scenario's split does not read. */
function readOutsideData(
  dataset: Extract<TeacherOrigin, { kind: 'outside' }>['dataset'],
): LabelledTable {
  switch (dataset) {
    case 'mnist-rest':
      return loadMnistDigits({ perDigit: MNIST_EVERY_IMAGE, offset: MNIST_SPLIT_PER_DIGIT });
    default: {
      const unknown: never = dataset;
      throw new Error(`no reader for outside data ${String(unknown)}`);
    }
  }
}

/**
 * Reads the scenario's bundled data and shares it out as its recipe says; with an outside
 * teacher, reads that teacher's data too.
 */
export async function splitScenario(request: SplitRequest): Promise<ScenarioSplit> {
  const split = await splitScenarioRows(request);
  const { teacher } = request.scenario;
  return teacher.kind === 'outside'
    ? { ...split, outside: readOutsideData(teacher.dataset) }
    : split;
}

async function splitScenarioRows({ scenario, sites, seed }: SplitRequest): Promise<ScenarioSplit> {
  const recipe = scenario.split;
  switch (recipe.kind) {
    case 'label-skew':
      return splitForDemo(await readLabelSkewDataset(recipe.dataset), {
        sites,
        seed,
        heldOutFraction: recipe.heldOutFraction,
        publicFraction: recipe.publicFraction,
        dirichletAlpha: recipe.dirichletAlpha,
        minSiteRows: recipe.minSiteRows,
      });
    case 'education-branches': {
      // The branches are the data's own groups: there is no other number of them.
      if (sites !== EDUCATION_BRANCHES.length) {
        throw new Error(
          `the ${scenario.name} scenario has one branch per education group: ${EDUCATION_BRANCHES.length} sites, not ${sites}`,
        );
      }
      const split = splitByEducation(await readCreditDefault(), {
        seed,
        heldOutFraction: recipe.heldOutFraction,
        publicFraction: recipe.publicFraction,
      });
      return { ...split, labels: EDUCATION_BRANCHES.map((b) => b.description) };
    }
    default: {
      const unknown: never = recipe;
      throw new Error(`unknown split recipe ${JSON.stringify(unknown)}`);
    }
  }
}

const share = (fraction: number): string => `${Math.round(100 * fraction)}%`;

/** The split in words, for `sites` sites: the opening lines and the report say it. */
export function describeSplit({ scenario, sites }: Omit<SplitRequest, 'seed'>): string {
  const recipe = scenario.split;
  const coordinator = `${share(recipe.heldOutFraction)} held out and ${share(recipe.publicFraction)} public at the coordinator`;
  switch (recipe.kind) {
    case 'label-skew':
      return `${coordinator}; the rest across ${sites} ${scenario.sitesNoun}, label skew Dirichlet(${recipe.dirichletAlpha})`;
    case 'education-branches':
      return `${coordinator}; the rest across ${EDUCATION_BRANCHES.length} branches by the client's education (feature skew)`;
    default: {
      const unknown: never = recipe;
      throw new Error(`unknown split recipe ${JSON.stringify(unknown)}`);
    }
  }
}

/**
 * Why distillation should, or should not, help in this scenario, in one or two sentences: the
 * report and the opening lines state it, and the report's distillation_gain shows whether it did.
 */
export function describePremise(scenario: Scenario, split: Pick<ScenarioSplit, 'outside'>): string {
  const { teacher } = scenario;
  switch (teacher.kind) {
    case 'public-split':
      return "the teacher learns only from the coordinator's labelled public split, which a fair baseline also sees; distillation is not expected to beat it";
    case 'outside': {
      if (!split.outside)
        throw new Error("the split of an outside teacher's scenario holds its data");
      const rows = split.outside.rows;
      return `the teacher learned from ${rows.toLocaleString('en-US')} ${teacher.rowsNoun} outside the federation; the transfer set is unlabelled; distillation is expected to help`;
    }
    default: {
      const unknown: never = teacher;
      throw new Error(`unknown teacher origin ${JSON.stringify(unknown)}`);
    }
  }
}
