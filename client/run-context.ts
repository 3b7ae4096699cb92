import * as tf from '@tensorflow/tfjs-core';
import {
  applyNormalizer,
  checkLabels,
  fail,
  ok,
  type Result,
  type RunWelcome,
  type TeacherKnowledge,
} from '../protocol/index.js';
import type { PrivateSplit } from './data-sources/private-split.js';
import { InThreadTrainer } from './in-thread-trainer.js';
import {
  labelledTensors,
  localArrays,
  type LabelledTensors,
  type LocalArrays,
} from './local-data.js';
import { PoolTrainer } from './pool-trainer.js';
import type { Trainer } from './trainer.js';

/**
 * What a site knows of its run once the transfer set is in place: the welcome (student spec,
 * normalizer, teacher), its trainer (the student and the transfer set, as tensors), and its
 * validation rows.
 */
export interface RunContext {
  readonly welcome: RunWelcome;
  readonly trainer: Trainer;
  /** The local validation rows as tensors; they feed only scalar metrics. */
  readonly validation: LabelledTensors | undefined;
}

export interface RunContextOptions {
  readonly welcome: RunWelcome;
  readonly knowledge: TeacherKnowledge;
  readonly split: PrivateSplit;
  /** The compute backend in use: worker threads only share a CPU one. */
  readonly backend: string;
  /** Training worker threads the site config asks for. */
  readonly workers: number;
  readonly log: (line: string) => void;
}

/**
 * Checks that the run, the teacher data and the private data agree on their sizes, then
 * prepares the tensors and the trainer. Fails with `schema.invalid` when the welcome and the
 * teacher disagree, `data.invalid` when the private data does not fit the student.
 */
export async function openRunContext(options: RunContextOptions): Promise<Result<RunContext>> {
  const { welcome, knowledge, split } = options;
  const { student, normalizer } = welcome;
  const sizesAgree =
    student.classes === knowledge.classes &&
    normalizer.mean.length === student.inputs &&
    (knowledge.mode === 'class-logits' || knowledge.features === student.inputs);
  if (!sizesAgree) {
    return fail(
      'schema.invalid',
      'the student spec, normalizer and teacher data disagree on their sizes',
    );
  }
  if (split.train.features !== student.inputs) {
    return fail(
      'data.invalid',
      `the private data has ${split.train.features} features, the run expects ${student.inputs}`,
    );
  }
  const labels = checkLabels(split.train, student.classes, 'private data');
  if (!labels.ok) return labels;
  const data = localArrays(split.train, knowledge, normalizer);
  const trainer = await startTrainer({ ...options, data });
  const { validation } = split;
  return ok({
    welcome,
    trainer,
    validation:
      validation && checkLabels(validation, student.classes, 'validation').ok
        ? labelledTensors(
            applyNormalizer(validation.inputs, normalizer),
            validation.labels,
            student,
          )
        : undefined,
  });
}

/**
 * The worker pool, where the config asks for more than one worker and the backend is a CPU
 * one (a GPU is not shared between threads); else training in this thread.
 */
async function startTrainer(
  options: RunContextOptions & { readonly data: LocalArrays },
): Promise<Trainer> {
  const { workers, backend, welcome, data, log } = options;
  const spec = welcome.student;
  if (workers < 2) return new InThreadTrainer({ spec, data });
  if (backend !== 'wasm' && backend !== 'cpu') {
    log(`${workers} training workers asked for, but ${backend} trains on one device; using one`);
    return new InThreadTrainer({ spec, data });
  }
  const pool = await PoolTrainer.start({ workers, backend, spec, data });
  log(`training on ${pool.size} worker threads`);
  return pool;
}

export function closeRunContext(context: RunContext): void {
  context.trainer.close();
  if (context.validation) tf.dispose(Object.values(context.validation));
}
