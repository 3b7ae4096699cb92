import { z } from 'zod';

/**
 * The target sparsity of the global model after each round, as a pure function of the round,
 * in the two forms of TF Model Optimization (tensorflow/model-optimization,
 * sparsity/keras/pruning_schedule.py) with a round as the step and a pruning step every round.
 * Sparsities lie in [0, 1) as there: a model pruned to nothing is no model.
 */
const sparsity = z.number().min(0).lt(1);

/** `sparsity` after every round, the first included (ConstantSparsity from step 0). */
const constantSchema = z.object({ kind: z.literal('constant'), sparsity }).strict();

/**
 * PolynomialDecay (Zhu and Gupta 2017, arXiv 1710.01878): from `initial` at `beginRound` to
 * `final` at `endRound`, fast at first and levelling off. Before `beginRound` nothing is pruned
 * (0); after `endRound` the sparsity stays `final`.
 */
const polynomialSchema = z
  .object({
    kind: z.literal('polynomial'),
    initial: sparsity,
    final: sparsity,
    beginRound: z.number().int().min(1),
    endRound: z.number().int().min(1),
    power: z.number().positive().max(10).default(3),
  })
  .strict()
  .refine((s) => s.endRound > s.beginRound, {
    message: 'endRound must come after beginRound',
    path: ['endRound'],
  })
  // A pruned weight stays pruned (the mask only grows), so a falling schedule could not be met.
  .refine((s) => s.final >= s.initial, {
    message: 'final sparsity must be at least the initial one',
    path: ['final'],
  });

export const pruningScheduleSchema = z.discriminatedUnion('kind', [
  constantSchema,
  polynomialSchema,
]);
export type PruningSchedule = z.infer<typeof pruningScheduleSchema>;

/** The sparsity the model must have once round `round` (1-based) is aggregated. */
export function sparsityAt(schedule: PruningSchedule, round: number): number {
  if (!Number.isInteger(round) || round < 1) throw new RangeError(`round ${round} is not >= 1`);
  switch (schedule.kind) {
    case 'constant':
      return schedule.sparsity;
    case 'polynomial': {
      const { initial, final, beginRound, endRound, power } = schedule;
      if (round < beginRound) return 0;
      const progress = Math.min(1, (round - beginRound) / (endRound - beginRound));
      return final + (initial - final) * (1 - progress) ** power;
    }
    default: {
      const unreachable: never = schedule;
      return unreachable;
    }
  }
}

/**
 * The schedule we recommend for a run of `rounds` rounds that should end at `final`: the first
 * fifth of the run trains dense, the polynomial ramps from 0 over the middle rounds, and the last
 * fifth (at least one round) trains at `final` so that the sites recover what the last pruning
 * step cost. A run of 10 rounds prunes over rounds 3..8; one of 4 over rounds 1..3. Runs shorter
 * than 3 rounds have no middle: they prune to `final` after round 1.
 */
export function recommendedSchedule(rounds: number, final: number): PruningSchedule {
  if (rounds < 3) return { kind: 'constant', sparsity: final };
  const fifth = Math.floor(rounds / 5);
  return {
    kind: 'polynomial',
    initial: 0,
    final,
    beginRound: fifth + 1,
    endRound: rounds - Math.max(1, fifth),
    power: 3,
  };
}
