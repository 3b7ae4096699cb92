import { loadMnistDigits } from '../../client/data-sources/mnist.js';
import { encodeTexts, type LabelledTexts } from '../../client/data-sources/private-texts.js';
import type { LabelledTable } from '../../protocol/index.js';
import { TextTokenizer, trainTokenizer } from '../../protocol/text/tokenizer.js';
import { EDUCATION_BRANCHES, readCreditDefault, splitByEducation } from './credit-default.js';
import { readBreastCancer, splitForDemo, type DemoSplit } from './demo-data.js';
import { MAIL_BANKS, MAIL_SHARES, splitMail } from './mail-split.js';
import type { Scenario, SplitRecipe, TeacherOrigin, TextReading } from './scenarios.js';
import { loadSpamAssassin, type MailCorpus } from './spam-assassin.js';

/**
 * The texts behind a text scenario's token rows (each part's rows are its texts, in order), and
 * the run's tokenizer: learned from the public texts exactly as the coordinator learns it.
 */
export interface ScenarioTexts {
  readonly publicSplit: LabelledTexts;
  readonly heldOut: LabelledTexts;
  readonly sites: readonly LabelledTexts[];
  readonly outside?: LabelledTexts;
  readonly tokenizer: TextTokenizer;
}

/**
 * A scenario's split; `labels` names each site in the scenario's terms. With an outside teacher,
 * `outside` is what that teacher learned from: rows of the same source that none of the split's
 * parts holds. Over text, every table holds the run tokenizer's ids and `texts` the texts.
 */
export type ScenarioSplit = DemoSplit & {
  readonly labels?: readonly string[];
  readonly outside?: LabelledTable;
  readonly texts?: ScenarioTexts;
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
    case 'mail-outside':
      throw new Error('the outside mail is part of the mail split (splitMailScenario)');
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
  return teacher.kind === 'outside' && !split.outside
    ? { ...split, outside: readOutsideData(teacher.dataset) }
    : split;
}

/**
 * The mail corpus split among the banks (mail-split.ts), the outside teacher's mail included,
 * every part encoded with the tokenizer the coordinator will learn from the public texts.
 */
async function splitMailScenario(
  scenario: Scenario,
  sites: number,
  seed: number,
  reading: TextReading,
): Promise<ScenarioSplit> {
  if (sites !== MAIL_BANKS.length) {
    throw new Error(
      `the ${scenario.name} scenario has one site per bank: ${MAIL_BANKS.length} sites, not ${sites}`,
    );
  }
  const mail = splitMail(await loadSpamAssassin(), seed);
  const texts = (part: MailCorpus): LabelledTexts => ({ texts: part.texts, labels: part.labels });
  const publicSplit = texts(mail.publicSplit);
  const tokenizer = TextTokenizer.fromBlob(
    await trainTokenizer(publicSplit.texts, reading.vocabulary),
    'the mail tokenizer',
  );
  const encode = (part: LabelledTexts) => encodeTexts(tokenizer, part, reading.length);
  const [heldOut, outside, siteTexts] = [
    texts(mail.heldOut),
    texts(mail.outside),
    mail.sites.map(texts),
  ];
  return {
    publicSplit: await encode(publicSplit),
    heldOut: await encode(heldOut),
    sites: await Promise.all(siteTexts.map(encode)),
    outside: await encode(outside),
    labels: MAIL_BANKS.map((bank) => bank.description),
    texts: { publicSplit, heldOut, sites: siteTexts, outside, tokenizer },
  };
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
    case 'mail-banks': {
      if (!scenario.text) throw new Error(`the ${scenario.name} scenario has no text reading`);
      return splitMailScenario(scenario, sites, seed, scenario.text);
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
  const coordinator = (r: { heldOutFraction: number; publicFraction: number }) =>
    `${share(r.heldOutFraction)} held out and ${share(r.publicFraction)} public at the coordinator`;
  switch (recipe.kind) {
    case 'label-skew':
      return `${coordinator(recipe)}; the rest across ${sites} ${scenario.sitesNoun}, label skew Dirichlet(${recipe.dirichletAlpha})`;
    case 'education-branches':
      return `${coordinator(recipe)}; the rest across ${EDUCATION_BRANCHES.length} branches by the client's education (feature skew)`;
    case 'mail-banks': {
      const banks = MAIL_BANKS.map(
        (b) => `${b.name} ${share(b.share)} (${share(b.spamRate)} spam)`,
      ).join(', ');
      return `stratified by class: ${share(MAIL_SHARES.outside)} to the outside teacher, ${share(MAIL_SHARES.heldOut)} held out and ${share(MAIL_SHARES.publicSplit)} public (unlabelled) at the coordinator; ${share(MAIL_SHARES.sites)} across ${MAIL_BANKS.length} banks: ${banks}`;
    }
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
