import { fail, ok, type Result } from '../../protocol/index.js';

/**
 * No class's probability goes below this, so that every log-probability is finite: a class
 * left with no mass (or listed with a log-probability that underflows) gets ln(1e-8) ~ -18.42.
 */
export const MIN_CLASS_PROBABILITY = 1e-8;

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
 * teacher softened at temperature T.
 */
export function denseFromTopK(topk: TopK, classes: number): Result<Float64Array> {
  const probabilities = new Float64Array(classes).fill(-1);
  let listedMass = 0;
  for (const [klass, logProbability] of topk) {
    if (!Number.isInteger(klass) || klass < 0 || klass >= classes) {
      return fail(
        'data.invalid',
        `topk lists class ${klass}; the run has classes 0..${classes - 1}`,
      );
    }
    if (probabilities[klass]! >= 0) {
      return fail('data.invalid', `topk lists class ${klass} twice`);
    }
    probabilities[klass] = Math.exp(logProbability);
    listedMass += probabilities[klass]!;
  }
  if (listedMass > 1 + TOPK_EXCESS_TOLERANCE) {
    return fail(
      'data.invalid',
      `topk probabilities sum to ${listedMass.toFixed(6)}, more than 1 (+${TOPK_EXCESS_TOLERANCE} for rounding)`,
    );
  }
  const scale = listedMass > 1 ? 1 / listedMass : 1;
  const unlisted = classes - topk.length;
  const spread = unlisted > 0 ? Math.max(0, 1 - listedMass) / unlisted : 0;
  return ok(
    probabilities.map((p) => Math.log(Math.max(p < 0 ? spread : p * scale, MIN_CLASS_PROBABILITY))),
  );
}
