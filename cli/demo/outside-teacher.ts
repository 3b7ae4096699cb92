import { createHash } from 'node:crypto';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { encodeTexts } from '../../client/data-sources/private-texts.js';
import { normalizerFor } from '../../coordinator/config/coordinator-config.js';
import { measureLatency } from '../../coordinator/compression/inference-latency.js';
import { HeldOutEvaluator } from '../../coordinator/evaluation/held-out-evaluator.js';
import { modelSpecOf, teacherAt } from '../../coordinator/runs/run-spec.js';
import { writeTeacherLogits } from '../../coordinator/teacher/teacher-logits.js';
import { loadTeacher, saveTeacher } from '../../coordinator/teacher/teacher-store.js';
import { trainTeacher } from '../../coordinator/teacher/teacher-trainer.js';
import {
  applyNormalizer,
  parameterCount,
  selectBackend,
  unwrap,
  type FeatureTable,
  type LabelledTable,
  type Normalizer,
  type StudentSpec,
} from '../../protocol/index.js';
import { TextTokenizer, trainTokenizer } from '../../protocol/text/tokenizer.js';
import type { Baselines } from './demo-report.js';
import type { ScenarioSplit } from './scenario-split.js';
import type { TeacherOrigin } from './scenarios.js';
import type { DemoWorkspace } from './workspace.js';

type OutsideOrigin = Extract<TeacherOrigin, { kind: 'outside' }>;

/** The outside teacher as the demo measured it: the run's report has only its logits. */
export interface OutsideTeacher {
  /** On the coordinator's held-out split, which the teacher never saw. */
  readonly figures: Baselines['teacher'] & { readonly params: number };
  /** The rows it learned from, none of them in the federation's split. */
  readonly rows: number;
  readonly cached: boolean;
  /** The logits file written into the coordinator's imports folder. */
  readonly logitsFile: string;
}

/**
 * The cache folder's name: a hash of everything that determines the trained weights (the
 * architecture, the training settings and seed, the rows and labels it learned from), so a
 * change to any of them trains a new teacher and nothing else does.
 */
export function outsideTeacherCacheKey({
  spec,
  origin,
  seed,
  data,
}: {
  readonly spec: StudentSpec;
  readonly origin: Pick<OutsideOrigin, 'epochs' | 'batchSize' | 'learningRate'>;
  readonly seed: number;
  readonly data: LabelledTable;
}): string {
  const { epochs, batchSize, learningRate } = origin;
  const hash = createHash('sha256')
    .update(JSON.stringify({ spec, training: { epochs, batchSize, learningRate, seed } }))
    .update(JSON.stringify(data.featureNames))
    .update(new Uint8Array(data.inputs.buffer, data.inputs.byteOffset, data.inputs.byteLength))
    .update(new Uint8Array(data.labels.buffer, data.labels.byteOffset, data.labels.byteLength));
  return `outside-teacher-${hash.digest('hex').slice(0, 32)}`;
}

const normalized = (table: FeatureTable, normalizer: Normalizer): tf.Tensor2D =>
  tf.tensor2d(applyNormalizer(table.inputs, normalizer), [table.rows, table.features]);

/** The outside teacher's model and the three tables it meets, as it reads them. */
interface TeacherView {
  readonly spec: StudentSpec;
  readonly data: LabelledTable;
  readonly transfer: FeatureTable;
  readonly heldOut: LabelledTable;
}

/**
 * What the outside teacher sees. Over images, the split's own tables. Over text, it reads every
 * email with its own tokenizer, learned from its own mail: the run's tokenizer is the
 * federation's, and the teacher owes it nothing (only its logits travel).
 */
async function teacherView(
  origin: OutsideOrigin,
  split: ScenarioSplit,
  classes: number,
): Promise<TeacherView> {
  const { model } = origin;
  const data = split.outside!;
  if (model.kind === 'cnn') {
    const spec = modelSpecOf(
      { hidden: [], cnn: model.cnn },
      { inputs: data.features, classes },
      teacherAt,
    );
    return { spec: unwrap(spec), data, transfer: split.publicSplit, heldOut: split.heldOut };
  }
  const texts = split.texts;
  if (!texts?.outside) throw new Error('a text teacher learns from texts: the split has none');
  const { length, vocabulary } = model.reading;
  const tokenizer = TextTokenizer.fromBlob(
    await trainTokenizer(texts.outside.texts, vocabulary),
    "the outside teacher's tokenizer",
  );
  const spec = modelSpecOf(
    { hidden: [], text: model.text },
    { inputs: length, classes, vocabulary: tokenizer.vocabulary },
    teacherAt,
  );
  return {
    spec: unwrap(spec),
    data: await encodeTexts(tokenizer, texts.outside, length),
    transfer: await encodeTexts(tokenizer, texts.publicSplit, length),
    heldOut: await encodeTexts(tokenizer, texts.heldOut, length),
  };
}

/**
 * Plays the party outside the federation that holds a teacher: trains it (or loads it from the
 * cache) on its own rows, and hands the coordinator its logits on the transfer set, in the
 * binary format of LOGITS-FORMAT.md, as `teacher export-logits` writes them. It scales its
 * inputs as the scenario says, fitted on its own rows: it never sees the federation's data.
 */
export async function prepareOutsideTeacher({
  workspace,
  cacheDir,
  seed,
  log,
}: {
  readonly workspace: DemoWorkspace;
  readonly cacheDir: string;
  /** The run's seed: the teacher's initial weights and batch order. */
  readonly seed: number;
  readonly log: (line: string) => void;
}): Promise<OutsideTeacher> {
  const { scenario, split, teacherLogitsFile } = workspace;
  const origin = scenario.teacher;
  if (origin.kind !== 'outside' || !split.outside || !teacherLogitsFile) {
    throw new Error(`the ${scenario.name} scenario has no outside teacher`);
  }
  const classes = scenario.classNames.length;
  const { spec, data, transfer: transferRows, heldOut } = await teacherView(origin, split, classes);
  const normalizer = normalizerFor({ normalize: scenario.normalize }, data);
  unwrap(await selectBackend('auto'));
  const dir = path.join(cacheDir, outsideTeacherCacheKey({ spec, origin, seed, data }));
  let model: tfl.LayersModel | undefined = await loadTeacher(dir);
  const cached = model !== undefined;
  if (!model) {
    log(
      `  training the outside teacher on its ${data.rows} ${origin.rowsNoun} (${origin.epochs} epochs)`,
    );
    const inputs = normalized(data, normalizer);
    model = trainTeacher(spec, inputs, data.labels, { ...origin, seed });
    inputs.dispose();
    await saveTeacher(model, dir).catch((error: Error) =>
      log(`  outside teacher not cached: ${error.message}`),
    );
  }
  const evaluator = new HeldOutEvaluator(heldOut, normalizer, classes);
  try {
    const transfer = normalized(transferRows, normalizer);
    const logitsTensor = model.predict(transfer) as tf.Tensor2D;
    const logits = (await logitsTensor.data()) as Float32Array;
    tf.dispose([transfer, logitsTensor]);
    unwrap(
      await writeTeacherLogits(
        { file: teacherLogitsFile, format: 'binary', dtype: 'float32' },
        logits,
        { rows: split.publicSplit.rows, classes },
      ),
    );
    const measure = await evaluator.measure(model);
    return {
      figures: {
        accuracy: measure.accuracy,
        ...(measure.auc === undefined ? {} : { auc: measure.auc }),
        params: parameterCount(spec),
        latency_ms_per_example: await measureLatency(model, data.features),
      },
      rows: data.rows,
      cached,
      logitsFile: teacherLogitsFile,
    };
  } finally {
    evaluator.dispose();
    model.dispose();
  }
}
