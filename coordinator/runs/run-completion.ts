import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type * as tfl from '@tensorflow/tfjs-layers';
import {
  parameterCount,
  toHex,
  type NamedTensor,
  type Sodium,
  type StudentSpec,
} from '../../protocol/index.js';
import { compressStudent } from '../compression/compression-report.js';
import type { HeldOutEvaluator } from '../evaluation/held-out-evaluator.js';
import type { AuditEvent } from '../events/coordinator-events.js';
import { SAMPLING, type PrivacyPlan } from '../privacy/privacy-plan.js';
import type { CoordinatorSetup } from '../coordinator-setup.js';
import type { CoordinatorStore } from '../store/store.js';
import type { PreparedTeacher } from '../teacher/prepared-teacher.js';
import { teacherFigures, type RoundSummary, type RunReport } from './run-report.js';
import type { RunIdentity } from './run-deps.js';
import type { RunSpec } from './run-spec.js';
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from '../store/private-files.js';

/** What the report is made of: the run's figures as the conductor kept them. */
export interface CompletionInput {
  readonly runId: string;
  readonly spec: RunSpec;
  readonly studentSpec: StudentSpec;
  readonly student: tfl.LayersModel;
  readonly weights: NamedTensor[];
  readonly perRound: readonly RoundSummary[];
  /** The backend each site said it trains on. */
  readonly backends: Readonly<Record<string, string>>;
  readonly privacy: PrivacyPlan;
  /** Traffic and wall time up to the end of the last round, over every process of the run. */
  readonly traffic: Pick<RunReport, 'bytes_up' | 'bytes_down' | 'wall_seconds'>;
  /** How the run ends: all its rounds, or fewer because another would exceed the budget. */
  readonly end: 'complete' | 'stopped-by-budget';
}

/** The coordinator's parts the completion uses. */
export interface CompletionContext {
  readonly setup: CoordinatorSetup;
  readonly store: CoordinatorStore;
  readonly evaluation: HeldOutEvaluator;
  readonly teacher: PreparedTeacher;
  readonly identity: RunIdentity;
  readonly audit: (event: AuditEvent) => void;
}

/**
 * The last round closed (or the budget allows no more): the final student is exported (int8 and
 * float32) and measured, the report is stored, each export's hash goes to the audit log, and the
 * report is written to its file when the run has one.
 */
export async function completeRun(
  input: CompletionInput,
  context: CompletionContext,
): Promise<RunReport> {
  const { spec, privacy } = input;
  const { setup, identity } = context;
  const last = input.perRound[input.perRound.length - 1]!;
  const siteNames = Object.keys(input.backends).sort();
  const compression = await compressStudent({
    dir: identity.exportDir,
    spec: input.studentSpec,
    weights: input.weights,
    student: input.student,
    evaluation: context.evaluation,
    teacher: context.teacher,
    normalizer: setup.normalizer,
    ...(spec.compression.pruning ? { sparsity: last.sparsity } : {}),
  });
  const ledger = privacy.ledger;
  const report: RunReport = {
    run_id: input.runId,
    dataset: setup.config.data.name,
    sites: siteNames.length,
    site_names: siteNames,
    site_backends: Object.fromEntries(siteNames.map((s) => [s, input.backends[s]!])),
    rounds: spec.rounds,
    aggregation: privacy.strategy.name,
    per_round: [...input.perRound],
    ...teacherFigures(context.teacher.summary),
    student_accuracy: last.student_accuracy,
    majority_class_rate: context.evaluation.majorityClassRate,
    held_out_rows: context.evaluation.rows,
    student_params: parameterCount(input.studentSpec),
    ...input.traffic,
    backend: setup.backend,
    compression,
    secure_aggregation: privacy.secureAggregation,
    ...(ledger
      ? {
          privacy: {
            epsilon: ledger.epsilon,
            delta: ledger.config.delta,
            epsilon_budget: ledger.config.epsilon,
            noise_multiplier: ledger.noiseMultiplier,
            clip_norm: last.clip_norm!,
            adaptive_clipping: ledger.config.adaptiveClipping !== undefined,
            secure_aggregation: privacy.secureAggregation,
            noise: privacy.secureAggregation ? 'distributed' : 'central',
            rounds_completed: input.perRound.length,
            sampling: SAMPLING,
            stopped_by_budget: input.end === 'stopped-by-budget',
          },
        }
      : {}),
  };
  await context.store.runs.complete({ runId: input.runId, report, state: input.end });
  for (const [format, dir] of Object.entries(compression.files)) {
    context.audit({
      event: 'student.exported',
      format,
      model: await hashFiles(setup.sodium, dir),
    });
  }
  if (identity.reportFile) {
    await mkdir(path.dirname(identity.reportFile), { recursive: true, mode: PRIVATE_DIR_MODE });
    await writeFile(identity.reportFile, JSON.stringify(report, null, 2) + '\n', {
      mode: PRIVATE_FILE_MODE,
    });
  }
  return report;
}

/** One BLAKE2b-256 over an exported model's files in name order (model.json and shards). */
async function hashFiles(sodium: Sodium, dir: string): Promise<string> {
  const state = sodium.crypto_generichash_init(null, 32);
  for (const name of (await readdir(dir)).sort()) {
    sodium.crypto_generichash_update(state, await readFile(path.join(dir, name)));
  }
  return toHex(sodium.crypto_generichash_final(state, 32));
}
