import { z } from 'zod';
import { pruningScheduleSchema, type PruningSchedule } from './pruning-schedule.js';

/**
 * `run.compression.pruning`: the coordinator prunes each round's aggregated model to the
 * schedule's sparsity and sends the mask with the model; sites keep masked weights at zero.
 *
 * - `weights`: the smallest-magnitude kernel weights of the whole model (magnitude-pruning.ts).
 * - `units`: whole hidden units or conv channels, smallest L1 norm first, per layer
 *   (unit-pruning.ts); the sparsity is then the share of each hidden layer's units.
 */
export const pruningConfigSchema = z
  .object({
    schedule: pruningScheduleSchema,
    structure: z.enum(['weights', 'units']).default('weights'),
  })
  .strict();
export type PruningConfig = z.infer<typeof pruningConfigSchema>;
export type PruningConfigInput = z.input<typeof pruningConfigSchema>;

/** The round after which a schedule reaches its final sparsity. */
function finalRound(schedule: PruningSchedule): number {
  return schedule.kind === 'constant' ? 1 : schedule.endRound;
}

/**
 * A schedule that ends after the last round would leave the model short of its final sparsity,
 * and unit pruning needs a hidden layer (the logits layer's units are the classes).
 */
export function refuseUnreachablePruning(
  run: {
    rounds: number;
    studentHidden: readonly number[];
    compression: { pruning?: PruningConfig };
  },
  ctx: z.RefinementCtx,
): void {
  const pruning = run.compression.pruning;
  if (!pruning) return;
  if (finalRound(pruning.schedule) > run.rounds) {
    ctx.addIssue({
      code: 'custom',
      message: `the pruning schedule ends after round ${run.rounds}, the run's last`,
      path: ['compression', 'pruning', 'schedule', 'endRound'],
    });
  }
  if (pruning.structure === 'units' && run.studentHidden.length === 0) {
    ctx.addIssue({
      code: 'custom',
      message: 'unit pruning needs a hidden layer; the logits layer keeps every class',
      path: ['compression', 'pruning', 'structure'],
    });
  }
}
