import type { NamedTensor } from '../protocol/index.js';

/** What an attacking site knows when it answers: the model of this round and of the one before. */
export interface AttackView {
  readonly model: readonly NamedTensor[];
  readonly previous: readonly NamedTensor[] | undefined;
  /** The run's cap on a claimed example count. */
  readonly maxExamples: number;
}

/** A poisoned update: its delta and the example count it claims. */
export interface Attack {
  readonly delta: NamedTensor[];
  readonly numExamples: number;
}

/** An honest site's claim here: about the rows one of five breast-cancer sites holds. */
const HONEST_EXAMPLES = 90;

/** A delta shaped like `like`, each value from its tensor, index and value in `like`. */
function filled(
  like: readonly NamedTensor[],
  value: (t: number, i: number, v: number) => number,
): NamedTensor[] {
  return like.map((tensor, t) => ({
    name: tensor.name,
    shape: tensor.shape,
    values: tensor.values.map((v, i) => value(t, i, v)),
  }));
}

/** The attacks of the Byzantine run (tests/hostile/byzantine-run.test.ts), by name. */
export const BYZANTINE_ATTACKS = {
  /** 50 on every weight, claiming the most examples the cap allows. */
  huge: ({ model, maxExamples }: AttackView): Attack => ({
    delta: filled(model, () => 50),
    numExamples: maxExamples,
  }),
  /** The last round's honest step, sign-flipped and scaled tenfold (none yet: zero). */
  'sign-flip': ({ model, previous }: AttackView): Attack => ({
    delta: filled(model, (t, i, v) => (previous ? -10 * (v - previous[t]!.values[i]!) : 0)),
    numExamples: HONEST_EXAMPLES,
  }),
  /** Finite, but 1e30 on every weight. */
  'huge-norm': ({ model }: AttackView): Attack => ({
    delta: filled(model, () => 1e30),
    numExamples: HONEST_EXAMPLES,
  }),
  /** A claim of 1e9 examples, over the cap. */
  'over-cap': ({ model }: AttackView): Attack => ({
    delta: filled(model, () => 0.01),
    numExamples: 1e9,
  }),
} as const;

export type ByzantineAttack = keyof typeof BYZANTINE_ATTACKS;
