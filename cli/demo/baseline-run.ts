import path from 'node:path';
import { loadSiteConfig } from '../../client/site-config.js';
import {
  loadCoordinatorConfig,
  normalizerFor,
} from '../../coordinator/config/coordinator-config.js';
import type { RunReport } from '../../coordinator/runs/run-report.js';
import { studentSpecOf } from '../../coordinator/runs/run-spec.js';
import { selectBackend, unwrap } from '../../protocol/index.js';
import { baselineReplays, computeBaselines } from './baselines.js';
import type { Baselines } from './demo-report.js';
import { progress } from './progress.js';
import type { DemoWorkspace } from './workspace.js';

/** The teacher model's held-out figures as the run measured them; null for imported logits. */
export function runTeacherFigures(runReport: RunReport): Baselines['teacher'] | null {
  if (runReport.teacher_source !== 'model') return null;
  return {
    accuracy: runReport.teacher_accuracy,
    ...(runReport.compression.auc?.teacher != null
      ? { auc: runReport.compression.auc.teacher }
      : {}),
    params: runReport.teacher_params,
    latency_ms_per_example: runReport.compression.latency_ms_per_example.teacher,
  };
}

/**
 * The baselines of the report, with the run's student, normalization and training settings
 * read back from the configs the parties ran with, so that they cannot drift from the run.
 */
export async function trainBaselines({
  workspace,
  teacher,
  interactive,
  print,
}: {
  readonly workspace: DemoWorkspace;
  /** The teacher's held-out figures: the run's, or the demo's own of an outside teacher. */
  readonly teacher: Baselines['teacher'];
  readonly interactive: boolean;
  readonly print: (line: string) => void;
}): Promise<Baselines> {
  const config = await loadCoordinatorConfig(workspace.coordinatorConfigFile);
  // prepareWorkspace always writes the run into the config.
  const run = config.run!;
  const { split } = workspace;
  const site = await loadSiteConfig(
    path.join(workspace.dir, 'sites', workspace.siteNames[0]!, 'config.json'),
  );
  // The sites' own choice (auto), so the baselines train as fast as the sites did.
  unwrap(await selectBackend(site.backend));
  // An outside teacher's rows, in the student's reading (the split encodes them as the run does).
  const teacherRows = split.outside;
  const replays = baselineReplays({ publicLabels: config.data.publicLabels, teacherRows });
  const bar = progress({
    label: 'baselines',
    total: workspace.siteNames.length + replays * (run.rounds + 1),
    print,
    interactive,
  });
  try {
    return await computeBaselines({
      split,
      siteNames: workspace.siteNames,
      spec: unwrap(
        studentSpecOf(run, {
          inputs: split.heldOut.features,
          classes: config.data.classes,
          // Over text, the run's tokenizer: the split's is learned as the coordinator's is.
          vocabulary: split.texts?.tokenizer.vocabulary,
        }),
      ),
      normalizer: normalizerFor(config.data, split.publicSplit),
      rounds: run.rounds,
      localEpochs: run.localEpochs,
      batchSize: run.batchSize,
      learningRate: run.learningRate,
      labelSmoothing: run.labelSmoothing,
      seed: run.seed,
      validationFraction: site.validationFraction,
      validationSeed: site.seed,
      publicLabels: config.data.publicLabels,
      teacherRows,
      teacher,
      progress: (step, done) => bar.update(done, `    ${step}`),
    });
  } finally {
    bar.stop();
  }
}
