import { fail, ok, type Result } from '../../protocol/index.js';
import { TOPK_EXCESS_TOLERANCE, type TopK } from '../../coordinator/teacher/sparse-logits.js';

/** One candidate first token of the model's answer and its natural-log probability. */
export interface TokenLogprob {
  readonly token: string;
  readonly logprob: number;
}

/** A row's classes from the model's first-token distribution. */
export interface ClassLogprobs {
  /** [class, ln p] for each class some token named, most probable first. */
  readonly topk: TopK;
  /** 1 - sum p of the listed classes: what the importer spreads over the unlisted ones. */
  readonly missingMass: number;
}

/** How tokens and class names are compared: surrounding spaces and case do not count. */
const normalise = (text: string): string => text.trim().toLowerCase();

/**
 * The class names in class-number order, checked so that every class can be named alone: no two
 * equal once normalised, and none a prefix of another (every token that could name "pos" would
 * also be a prefix of "positive", so "pos" could never receive mass).
 */
export function parseClassNames(list: string): Result<string[]> {
  const names = list.split(',').map((name) => name.trim());
  if (names.length < 2 || names.some((name) => name === '')) {
    return fail('config.invalid', `--classes: give at least two non-empty names, comma-separated`);
  }
  for (const [i, a] of names.entries()) {
    for (const b of names.slice(i + 1)) {
      const [x, y] = [normalise(a), normalise(b)];
      if (x.startsWith(y) || y.startsWith(x)) {
        return fail(
          'config.invalid',
          x === y
            ? `--classes: "${a}" and "${b}" are the same name`
            : `--classes: "${x.length < y.length ? a : b}" is a prefix of "${x.length < y.length ? b : a}", so no answer token could name it alone; rename one`,
        );
      }
    }
  }
  return ok(names);
}

/**
 * The class a token names: the one whose normalised name the normalised token is a non-empty
 * prefix of (" Sp" names "spam"), since a tokenizer may cut a label anywhere. A token that is a
 * prefix of two names (" ne" of "negative" and "neutral") names neither, and one that is longer
 * than every name it starts ("spam." or "spammy") names none: -1.
 */
export function classOfToken(token: string, classNames: readonly string[]): number {
  const text = normalise(token);
  if (text === '') return -1;
  const matches = classNames.flatMap((name, klass) =>
    normalise(name).startsWith(text) ? [klass] : [],
  );
  return matches.length === 1 ? matches[0]! : -1;
}

/** ln(sum exp(x)) without overflow. */
function logSumExp(values: readonly number[]): number {
  const max = values.reduce((a, b) => Math.max(a, b), -Infinity);
  if (max === -Infinity) return -Infinity;
  return max + Math.log(values.reduce((sum, x) => sum + Math.exp(x - max), 0));
}

/**
 * Each class's probability is the sum over the tokens that name it (distinct tokens are
 * disjoint outcomes of the first position). Classes no token names are left out, so their mass
 * is missing and the importer spreads it (LOGITS-FORMAT.md). Fails when no token names a class,
 * or when the listed mass exceeds 1 by more than the importer's rounding tolerance.
 */
export function classLogprobs(
  tokens: readonly TokenLogprob[],
  classNames: readonly string[],
): Result<ClassLogprobs> {
  const byClass = new Map<number, number[]>();
  for (const { token, logprob } of tokens) {
    const klass = classOfToken(token, classNames);
    if (klass >= 0) byClass.set(klass, [...(byClass.get(klass) ?? []), logprob]);
  }
  if (byClass.size === 0) {
    const top = tokens
      .slice(0, 5)
      .map(({ token }) => JSON.stringify(token))
      .join(', ');
    return fail(
      'data.invalid',
      `no token among the model's ${tokens.length} most likely first tokens names a class (the first: ${top || 'none'})`,
    );
  }
  const topk = [...byClass]
    .map(([klass, logprobs]) => [klass, logSumExp(logprobs)] as const)
    .sort((a, b) => b[1] - a[1]);
  const mass = topk.reduce((sum, [, logprob]) => sum + Math.exp(logprob), 0);
  if (mass > 1 + TOPK_EXCESS_TOLERANCE) {
    return fail(
      'data.invalid',
      `the tokens naming a class have probabilities summing to ${mass.toFixed(6)}, more than 1`,
    );
  }
  return ok({ topk, missingMass: Math.max(0, 1 - mass) });
}
