import { FedistillError, loadSodium, selectBackend, unwrap } from '../../protocol/index.js';
import { normalizerFor, type CoordinatorConfig } from '../config/coordinator-config.js';
import { readSplits } from '../config/read-splits.js';
import { obtainTeacherModel, teacherOutputs } from './model-teacher.js';
import { writeTeacherLogits, type LogitsShape, type LogitsTarget } from './teacher-logits.js';

/**
 * Writes the trained teacher's logits on the public split to a file that `run.teacher`
 * `{source: "logits"}` imports: the template for a teacher run elsewhere. The teacher is the one
 * the coordinator would use (same cache, same backend), trained first when not cached.
 */
export async function exportTeacherLogits(
  config: CoordinatorConfig,
  target: LogitsTarget,
  log: (line: string) => void,
): Promise<LogitsShape & { readonly fromCache: boolean }> {
  if (!config.run) {
    throw new FedistillError({
      code: 'config.invalid',
      message: 'the config has no run; export needs its run.teacher',
      path: ['run'],
    });
  }
  const teacher = config.run.teacher;
  if (teacher.source !== 'model') {
    throw new FedistillError({
      code: 'config.invalid',
      message: 'run.teacher imports logits already; export needs a teacher model',
      path: ['run', 'teacher', 'source'],
    });
  }
  unwrap(await selectBackend(config.backend));
  const classes = config.data.classes;
  const { publicSplit, publicLabels, publicSplitBytes, text } = await readSplits(config);
  const data = {
    config,
    publicSplit,
    publicLabels,
    publicSplitBytes,
    text,
    normalizer: normalizerFor(config.data, publicSplit),
    sodium: await loadSodium(),
  };
  const { model, fromCache } = await obtainTeacherModel(data, teacher, config.run.seed, log);
  const { logits } = await teacherOutputs(data, model, { withFeatures: false });
  model.dispose();
  const shape = { rows: publicSplit.rows, classes };
  unwrap(await writeTeacherLogits(target, logits, shape));
  return { ...shape, fromCache };
}
