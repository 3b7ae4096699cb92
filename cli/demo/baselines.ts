import { performance } from 'node:perf_hooks';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { splitPrivate } from '../../client/data-sources/private-split.js';
import { trainLocally, type LocalData } from '../../client/local-trainer.js';
import {
  HeldOutEvaluator,
  type HeldOutMeasure,
} from '../../coordinator/evaluation/held-out-evaluator.js';
import {
  applyNormalizer,
  buildModel,
  readWeights,
  writeWeights,
  type LabelledTable,
  type NamedTensor,
  type Normalizer,
  type StudentSpec,
} from '../../protocol/index.js';
import type { Baselines, HeldOutFigures } from './demo-report.js';
import type { DemoSplit } from './demo-data.js';

/** What the federated run did, so that every baseline gets the same student and training. */
export interface BaselinePlan {
  readonly split: DemoSplit;
  readonly siteNames: readonly string[];
  readonly spec: StudentSpec;
  readonly normalizer: Normalizer;
  readonly rounds: number;
  readonly localEpochs: number;
  readonly batchSize: number;
  readonly learningRate: number;
  readonly labelSmoothing: number;
  /** The run's seed: the student's initial weights. */
  readonly seed: number;
  /** Each site's local validation split (site config), held back from training as the site does. */
  readonly validationFraction: number;
  readonly validationSeed: number;
  /**
   * Whether the coordinator's public split has labels (config `data.publicLabels`). Without
   * them there is nothing for the "with the public labels" baselines to use: they are null.
   */
  readonly publicLabels: boolean;
  /** An outside teacher's own labelled rows, as the student reads them; absent otherwise. */
  readonly teacherRows?: LabelledTable | undefined;
  readonly teacher: Baselines['teacher'];
  /** Told which baseline is being trained, and how far it is. */
  readonly progress?: (step: string, done: number, total: number) => void;
}

function localData(table: LabelledTable, normalizer: Normalizer, classes: number): LocalData {
  return {
    privateInputs: tf.tensor2d(applyNormalizer(table.inputs, normalizer), [
      table.rows,
      table.features,
    ]),
    privateLabels: tf.tidy(
      () =>
        tf.cast(tf.oneHot(tf.tensor1d(table.labels, 'int32'), classes), 'float32') as tf.Tensor2D,
    ),
    // alpha is 0 below, so the distillation term has no weight: a class-logits matrix of
    // zeros keeps each step to the private batch alone.
    teacher: { kind: 'class-logits', matrix: tf.zeros([classes, classes]) },
  };
}

function disposeData(data: LocalData): void {
  tf.dispose([data.privateInputs, data.privateLabels]);
  if (data.teacher.kind === 'class-logits') data.teacher.matrix.dispose();
}

function figures(measure: HeldOutMeasure): HeldOutFigures {
  return measure.auc === undefined
    ? { accuracy: measure.accuracy }
    : { accuracy: measure.accuracy, auc: measure.auc };
}

function concatTables(tables: readonly LabelledTable[]): LabelledTable {
  const rows = tables.reduce((n, t) => n + t.rows, 0);
  const { features, featureNames } = tables[0]!;
  const inputs = new Float32Array(rows * features);
  const labels = new Int32Array(rows);
  let at = 0;
  for (const t of tables) {
    inputs.set(t.inputs, at * features);
    labels.set(t.labels, at);
    at += t.rows;
  }
  return { featureNames, rows, features, inputs, labels };
}

/** How many FedAvg replays (and pooled trainings) the baselines make. */
export const baselineReplays = (plan: Pick<BaselinePlan, 'publicLabels' | 'teacherRows'>): number =>
  1 + (plan.publicLabels ? 1 : 0) + (plan.teacherRows ? 1 : 0);

/**
 * The baselines of the demo's report, trained here with the sites' own local trainer (Adam,
 * the run's batch size, learning rate and label smoothing, alpha 0) on the rows each site trains
 * on, and measured on the same held-out split:
 * - local only: each site alone, one optimiser for rounds x localEpochs epochs;
 * - FedAvg without the teacher: the federation replayed in this process, every site every
 *   round, the example-weighted mean of the sites' models (FedAvg, server step 1);
 * - centralized: every site's rows pooled, rounds x localEpochs epochs;
 * - FedAvg and centralized again with the public split's labelled rows (what the teacher learned
 *   from) as one more participant, or pooled with the rest; null when the split is unlabelled;
 * - with an outside teacher, FedAvg and centralized with the rows it learned from, likewise.
 * None of them is pruned or quantized; the federated student is, which can only narrow its lead.
 */
export async function computeBaselines(plan: BaselinePlan): Promise<Baselines> {
  const started = performance.now();
  const { spec, normalizer } = plan;
  const classes = spec.classes;
  const evaluator = new HeldOutEvaluator(plan.split.heldOut, normalizer, classes);
  const trainRows = plan.split.sites.map(
    (site) => splitPrivate(site, plan.validationFraction, plan.validationSeed).train,
  );
  const epochs = plan.rounds * plan.localEpochs;
  const trainingPlan = (epochsNow: number, seed: number) => ({
    temperature: 1,
    alpha: 0,
    epochs: epochsNow,
    batchSize: plan.batchSize,
    learningRate: plan.learningRate,
    labelSmoothing: plan.labelSmoothing,
    proximalMu: 0,
    seed,
  });
  const withModel = async <T>(use: (model: tfl.LayersModel) => Promise<T>): Promise<T> => {
    const model = buildModel(spec, plan.seed);
    try {
      return await use(model);
    } finally {
      model.dispose();
    }
  };
  // Local only per site, one to three FedAvg replays, as many pooled trainings.
  const replays = baselineReplays(plan);
  const total = plan.siteNames.length + replays * (plan.rounds + 1);
  let done = 0;
  const step = (what: string): void => plan.progress?.(what, done++, total);

  /** FedAvg replayed over these participants, every one every round, weighted by rows. */
  const replayFedAvg = (tables: readonly LabelledTable[], name: string) =>
    withModel(async (model) => {
      const participants = tables.map((rows) => localData(rows, normalizer, classes));
      const pooledRows = tables.reduce((n, t) => n + t.rows, 0);
      let global: NamedTensor[] = await readWeights(model, spec);
      const perRound: number[] = [];
      let last: HeldOutMeasure | undefined;
      for (let round = 1; round <= plan.rounds; round++) {
        step(`${name}, round ${round}`);
        const sum = global.map((t) => ({ ...t, values: new Float32Array(t.values.length) }));
        for (const [i, data] of participants.entries()) {
          writeWeights(model, global);
          // The participant's seed is the round, as in the federated run.
          await trainLocally(model, data, trainingPlan(plan.localEpochs, round));
          const trained = await readWeights(model, spec);
          const share = tables[i]!.rows / pooledRows;
          trained.forEach((t, k) => {
            const into = sum[k]!.values;
            for (let j = 0; j < into.length; j++) into[j]! += share * t.values[j]!;
          });
        }
        global = sum;
        writeWeights(model, global);
        last = await evaluator.measure(model);
        perRound.push(last.accuracy);
      }
      participants.forEach(disposeData);
      return { ...figures(last!), per_round: perRound };
    });

  /** The student trained on these rows pooled, for as many epochs as the run gave a site. */
  const trainPooled = async (tables: readonly LabelledTable[], name: string) => {
    step(name);
    const pooled = localData(concatTables(tables), normalizer, classes);
    try {
      return await withModel(async (model) => {
        await trainLocally(model, pooled, trainingPlan(epochs, plan.seed));
        return figures(await evaluator.measure(model));
      });
    } finally {
      disposeData(pooled);
    }
  };

  try {
    const perSite = [];
    for (const [i, rows] of trainRows.entries()) {
      step(`local only, ${plan.siteNames[i]}`);
      const data = localData(rows, normalizer, classes);
      const measure = await withModel(async (model) => {
        await trainLocally(model, data, trainingPlan(epochs, plan.seed));
        return evaluator.measure(model);
      });
      disposeData(data);
      perSite.push({ site: plan.siteNames[i]!, rows: rows.rows, ...figures(measure) });
    }
    const mean = (values: number[]): number => values.reduce((a, b) => a + b, 0) / values.length;
    const best = perSite.reduce((a, b) => (b.accuracy > a.accuracy ? b : a));
    const aucs = perSite.flatMap((s) => (s.auc === undefined ? [] : [s.auc]));

    // Where the teacher learns from the public split's labels, these two see them too, so that
    // the teacher's labelled rows are not counted as the teacher's own gain.
    const withPublic = [...trainRows, plan.split.publicSplit];
    const fedavg = await replayFedAvg(trainRows, 'FedAvg without the teacher');
    const fedavgPublic = plan.publicLabels
      ? await replayFedAvg(withPublic, 'FedAvg with the public labels')
      : null;
    const centralized = await trainPooled(trainRows, 'centralized');
    const centralizedPublic = plan.publicLabels
      ? await trainPooled(withPublic, 'centralized with the public labels')
      : null;
    const withTeacherRows = plan.teacherRows ? [...trainRows, plan.teacherRows] : null;
    const fedavgTeacherRows = withTeacherRows
      ? await replayFedAvg(withTeacherRows, "FedAvg with the teacher's rows")
      : null;
    const centralizedTeacherRows = withTeacherRows
      ? await trainPooled(withTeacherRows, "centralized with the teacher's rows")
      : null;
    plan.progress?.('done', total, total);

    return {
      local_only: {
        mean: mean(perSite.map((s) => s.accuracy)),
        best: best.accuracy,
        best_site: best.site,
        ...(aucs.length === perSite.length
          ? { auc: { mean: mean(aucs), best: Math.max(...aucs) } }
          : {}),
        per_site: perSite,
      },
      fedavg_no_teacher: fedavg,
      fedavg_public_labels: fedavgPublic,
      centralized,
      centralized_public_labels: centralizedPublic,
      fedavg_teacher_rows: fedavgTeacherRows,
      centralized_teacher_rows: centralizedTeacherRows,
      teacher: plan.teacher,
      method:
        `trained by the demo in one process with the sites' local trainer (Adam, batch ${plan.batchSize}, ` +
        `learning rate ${plan.learningRate}, alpha 0) on the rows each site trains on, from the run's initial ` +
        `weights; local only and centralized for ${epochs} epochs, FedAvg for ${plan.rounds} rounds of ` +
        `${plan.localEpochs} local epoch(s) at every site; ` +
        (plan.publicLabels
          ? `"with the public labels": the labelled public split the teacher learned from, as one more FedAvg participant or pooled; `
          : `"with the public labels": none (null), as the public split is unlabelled here (the teacher learned outside the federation, and only its logits label the transfer set), so no baseline has public labels to use; `) +
        (plan.teacherRows
          ? `"with the teacher's rows": the ${plan.teacherRows.rows} labelled rows the outside teacher learned from, as one more FedAvg participant or pooled: a reference for what sharing them would give, not a baseline of the distillation gain; `
          : '') +
        `none pruned or quantized`,
      wall_seconds: (performance.now() - started) / 1000,
    };
  } finally {
    evaluator.dispose();
  }
}
