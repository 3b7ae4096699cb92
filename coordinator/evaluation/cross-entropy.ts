/**
 * Mean cross-entropy in nats, -mean(log p[label]), from row-major log-probabilities (a
 * log-softmax, so no probability rounds to zero before its log is taken).
 */
export function meanCrossEntropy(
  logProbabilities: ArrayLike<number>,
  labels: ArrayLike<number>,
  classes: number,
): number {
  if (labels.length === 0 || logProbabilities.length !== labels.length * classes) {
    throw new RangeError(
      `${logProbabilities.length} log-probabilities do not fit ${labels.length} rows of ${classes} classes`,
    );
  }
  let sum = 0;
  for (let i = 0; i < labels.length; i++) sum -= logProbabilities[i * classes + labels[i]!]!;
  return sum / labels.length;
}
