import { z } from 'zod';

/**
 * Per-round hyperparameters as pure functions of the round (1-based) and the run length.
 * Temperature softens the teacher (Hinton et al. 2015); starting hot and cooling towards 1
 * moves the student from dark knowledge towards the teacher's sharp decisions. Alpha weighs
 * the soft term against the hard one.
 */
const constantSchema = z.object({ kind: z.literal('constant'), value: z.number() }).strict();
/** From `from` at round 1 to `to` at the last round, in equal steps; one round takes `to`. */
const linearSchema = z
  .object({ kind: z.literal('linear'), from: z.number(), to: z.number() })
  .strict();
/**
 * Half a cosine from `from` at round 1 to `to` at the last round: slow, fast, slow; one round
 * takes `to`.
 */
const cosineSchema = z
  .object({ kind: z.literal('cosine'), from: z.number(), to: z.number() })
  .strict();
/** `values[0]` for the first `every` rounds, `values[1]` for the next `every`, ...; the last stays. */
const stepSchema = z
  .object({
    kind: z.literal('step'),
    values: z.array(z.number()).min(1).max(1000),
    every: z.number().int().min(1),
  })
  .strict();

const simpleScheduleSchema = z.discriminatedUnion('kind', [
  constantSchema,
  linearSchema,
  cosineSchema,
  stepSchema,
]);

/**
 * Two stages: `first` for rounds 1..`rounds`, then `then` over the remaining rounds as if they
 * were a run of their own (e.g. distillation only, alpha = 1, for K rounds, then alpha decays).
 */
const twoStageSchema = z
  .object({
    kind: z.literal('two-stage'),
    rounds: z.number().int().min(1),
    first: z.number(),
    then: simpleScheduleSchema,
  })
  .strict();

export const scalarScheduleSchema = z.discriminatedUnion('kind', [
  constantSchema,
  linearSchema,
  cosineSchema,
  stepSchema,
  twoStageSchema,
]);
export type ScalarSchedule = z.infer<typeof scalarScheduleSchema>;

/** Every value a schedule can take lies between the smallest and largest of these. */
function extremes(schedule: ScalarSchedule): number[] {
  switch (schedule.kind) {
    case 'constant':
      return [schedule.value];
    case 'linear':
    case 'cosine':
      return [schedule.from, schedule.to];
    case 'step':
      return schedule.values;
    case 'two-stage':
      return [schedule.first, ...extremes(schedule.then)];
    default: {
      const unreachable: never = schedule;
      return unreachable;
    }
  }
}

export const distillationScheduleSchema = z
  .object({
    temperature: scalarScheduleSchema.default({ kind: 'linear', from: 5, to: 1 }),
    alpha: scalarScheduleSchema.default({ kind: 'constant', value: 0.5 }),
  })
  .strict()
  .superRefine((schedule, ctx) => {
    if (!extremes(schedule.temperature).every((v) => v >= 1 && v <= 100)) {
      ctx.addIssue({
        code: 'custom',
        message: 'temperature must lie in [1, 100]',
        path: ['temperature'],
      });
    }
    if (!extremes(schedule.alpha).every((v) => v >= 0 && v <= 1)) {
      ctx.addIssue({ code: 'custom', message: 'alpha must lie in [0, 1]', path: ['alpha'] });
    }
  });
export type DistillationSchedule = z.infer<typeof distillationScheduleSchema>;

/**
 * Value of a schedule at `round` of `rounds` (both 1-based). The last round always takes the
 * final value, so a one-round run (whose only round is its last) ends where the schedule says.
 */
export function scheduleValue(schedule: ScalarSchedule, round: number, rounds: number): number {
  if (!Number.isInteger(round) || round < 1 || round > rounds) {
    throw new RangeError(`round ${round} is outside 1..${rounds}`);
  }
  // Progress through the run: 0 at round 1, 1 at the last round. A single round is the last
  // one, so it gets 1: the run's final temperature and alpha are the ones the student ends on.
  const progress = rounds === 1 ? 1 : (round - 1) / (rounds - 1);
  switch (schedule.kind) {
    case 'constant':
      return schedule.value;
    case 'linear':
      // Weighted as from(1 - p) + to p, exact at both ends: from + (to - from) p can miss `to`
      // by an ulp (1 + (0.2 - 1) = 0.19999999999999996).
      return schedule.from * (1 - progress) + schedule.to * progress;
    case 'cosine':
      return schedule.to + ((schedule.from - schedule.to) * (1 + Math.cos(Math.PI * progress))) / 2;
    case 'step':
      return schedule.values[
        Math.min(Math.floor((round - 1) / schedule.every), schedule.values.length - 1)
      ]!;
    case 'two-stage':
      if (round <= schedule.rounds || rounds <= schedule.rounds) return schedule.first;
      return scheduleValue(schedule.then, round - schedule.rounds, rounds - schedule.rounds);
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
