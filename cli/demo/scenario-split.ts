import { loadMnistDigits } from '../../client/data-sources/mnist.js';
import type { LabelledTable } from '../../protocol/index.js';
import { EDUCATION_BRANCHES, readCreditDefault, splitByEducation } from './credit-default.js';
import { readBreastCancer, splitForDemo, type DemoSplit } from './demo-data.js';
import type { Scenario, SplitRecipe } from './scenarios.js';

/** A scenario's split; `labels` names each site in the scenario's terms. */
export type ScenarioSplit = DemoSplit & { readonly labels?: readonly string[] };

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
      return loadMnistDigits({ perDigit: 600 });
    default: {
      const unknown: never = dataset;
      throw new Error(`no reader for data set ${String(unknown)}`);
    }
  }
}

/** Reads the scenario's bundled data and shares it out as its recipe says. */
export async function splitScenario({
  scenario,
  sites,
  seed,
}: SplitRequest): Promise<ScenarioSplit> {
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
