import { fail, ok, type Result } from '../../protocol/index.js';

/**
 * The highest temperature a run may soften by: protocol/schedules.ts refuses a temperature
 * schedule that leaves [1, 100].
 */
const HIGHEST_TEMPERATURE = 100;

/**
 * The most a class with no mass may weigh after softening at the highest temperature, where
 * the kept classes are already flattened towards uniform; at T = 5 the same gap gives 1e-60.
 */
const NO_MASS_PROBABILITY_AT_HIGHEST_TEMPERATURE = 1e-3;

/**
 * How far below the row's largest logit a class with no mass sits: 100 ln 1000 = 690.78 nats.
 * The floor is in logit space because sites soften by dividing logits by T: a floor of p = 1e-8
 * is a logit gap of only 18.4, and softmax(z / T) turns it into 1e-8^(1/T), 0.025 at T = 5. A
 * gap G gives at most exp(-G / T) = 1000^(-100 / T) at every T in [1, 100].
 */
const NO_MASS_LOGIT_GAP =
  HIGHEST_TEMPERATURE * Math.log(1 / NO_MASS_PROBABILITY_AT_HIGHEST_TEMPERATURE);

/**
 * Listed probabilities that sum to more than 1 by at most this much are rounding in the
 * producer and are scaled down to sum to 1; a larger excess is refused.
 */
export const TOPK_EXCESS_TOLERANCE = 1e-3;

/** A top-k row: [class, log-probability] pairs, as language-model APIs return them. */
export type TopK = readonly (readonly [number, number])[];

/**
 * Dense logits from a top-k row: the listed classes keep their probabilities, the mass they
 * leave (1 - sum exp) is spread uniformly over the unlisted classes, and each class's logit is
 * ln(p). Log-probabilities are valid logits: softmax(ln p) = p, and softmax(ln p / T) is the
 * teacher softened at temperature T. A class with no mass (unlisted when the listed ones hold
 * it all, or listed with a log-probability far below the rest) gets the row's largest logit
 * minus NO_MASS_LOGIT_GAP, so every logit is finite and such a class stays negligible at every
 * temperature; the kept classes' logits, and so their ratios, are untouched.
 */
export function denseFromTopK(topk: TopK, classes: number): Result<Float64Array> {
  // ln p per class; NaN until listed, so that a class listed twice is caught.
  const logits = new Float64Array(classes).fill(Number.NaN);
  let listedMass = 0;
  for (const [klass, logProbability] of topk) {
    if (!Number.isInteger(klass) || klass < 0 || klass >= classes) {
      return fail(
        'data.invalid',
        `topk lists class ${klass}; the run has classes 0..${classes - 1}`,
      );
    }
    if (!Number.isNaN(logits[klass]!)) {
      return fail('data.invalid', `topk lists class ${klass} twice`);
    }
    logits[klass] = logProbability;
    listedMass += Math.exp(logProbability);
  }
  if (listedMass > 1 + TOPK_EXCESS_TOLERANCE) {
    return fail(
      'data.invalid',
      `topk probabilities sum to ${listedMass.toFixed(6)}, more than 1 (+${TOPK_EXCESS_TOLERANCE} for rounding)`,
    );
  }
  // Rounding excess: ln(p / sum) = ln p - ln sum. Kept in log space so that a log-probability
  // of -9999 stays -9999 rather than underflowing through exp.
  const lnScale = listedMass > 1 ? Math.log(listedMass) : 0;
  const unlisted = classes - topk.length;
  const lnSpread = unlisted > 0 ? Math.log(Math.max(0, 1 - listedMass) / unlisted) : -Infinity;
  const raw = logits.map((z) => (Number.isNaN(z) ? lnSpread : z - lnScale));
  // A loop, not Math.max(...raw): a language model's vocabulary overflows the argument list.
  const floor = raw.reduce((a, b) => Math.max(a, b), -Infinity) - NO_MASS_LOGIT_GAP;
  return ok(raw.map((z) => Math.max(z, floor)));
}
