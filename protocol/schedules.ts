import { z } from 'zod';

/**
 * Per-round hyperparameters as pure functions of the round (1-based) and the run length.
 * Temperature softens the teacher (Hinton et al. 2015); starting hot and cooling towards 1
 * moves the student from dark knowledge towards the teacher's sharp decisions.
 */
export const scalarScheduleSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('constant'), value: z.number() }).strict(),
  z.object({ kind: z.literal('linear'), from: z.number(), to: z.number() }).strict(),
]);
export type ScalarSchedule = z.infer<typeof scalarScheduleSchema>;

export const distillationScheduleSchema = z
  .object({
    temperature: scalarScheduleSchema.default({ kind: 'linear', from: 5, to: 1 }),
    alpha: scalarScheduleSchema.default({ kind: 'constant', value: 0.5 }),
  })
  .strict()
  .superRefine((schedule, ctx) => {
    for (const v of endpoints(schedule.temperature)) {
      if (!(v >= 1 && v <= 100)) {
        ctx.addIssue({
          code: 'custom',
          message: 'temperature must lie in [1, 100]',
          path: ['temperature'],
        });
      }
    }
    for (const v of endpoints(schedule.alpha)) {
      if (!(v >= 0 && v <= 1)) {
        ctx.addIssue({ code: 'custom', message: 'alpha must lie in [0, 1]', path: ['alpha'] });
      }
    }
  });
export type DistillationSchedule = z.infer<typeof distillationScheduleSchema>;

function endpoints(schedule: ScalarSchedule): number[] {
  switch (schedule.kind) {
    case 'constant':
      return [schedule.value];
    case 'linear':
      return [schedule.from, schedule.to];
    default: {
      const unreachable: never = schedule;
      return unreachable;
    }
  }
}

/** Value of a schedule at `round` of `rounds`: linear runs from `from` at round 1 to `to` at the last. */
export function scheduleValue(schedule: ScalarSchedule, round: number, rounds: number): number {
  if (!Number.isInteger(round) || round < 1 || round > rounds) {
    throw new RangeError(`round ${round} is outside 1..${rounds}`);
  }
  switch (schedule.kind) {
    case 'constant':
      return schedule.value;
    case 'linear':
      if (rounds === 1) return schedule.from;
      return schedule.from + ((schedule.to - schedule.from) * (round - 1)) / (rounds - 1);
    default: {
      const unreachable: never = schedule;
      return unreachable;
    }
  }
}

export function distillationAt(
  schedule: DistillationSchedule,
  round: number,
  rounds: number,
): { temperature: number; alpha: number } {
  return {
    temperature: scheduleValue(schedule.temperature, round, rounds),
    alpha: scheduleValue(schedule.alpha, round, rounds),
  };
}
