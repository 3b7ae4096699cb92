/**
 * Two-sided 95 % critical values of Student's t for 1 to 30 degrees of freedom, as printed in
 * every table of the distribution (e.g. NIST/SEMATECH e-Handbook, table 1.3.6.7.2). Evaluations
 * here run a handful of seeds, so a table is all that is needed.
 */
const T_975 = [
  12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145,
  2.131, 2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048,
  2.045, 2.042,
];

/** A sample's mean and the half-width of its 95 % t interval (null for one value). */
export interface Interval {
  readonly mean: number;
  readonly halfWidth: number | null;
  readonly n: number;
}

export function tInterval(values: readonly number[]): Interval {
  const n = values.length;
  if (n === 0) throw new Error('an interval needs at least one value');
  const mean = values.reduce((a, b) => a + b, 0) / n;
  if (n === 1) return { mean, halfWidth: null, n };
  const t = T_975[n - 2];
  if (t === undefined) throw new Error(`no t value for ${n - 1} degrees of freedom (at most 30)`);
  const variance = values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1);
  return { mean, halfWidth: (t * Math.sqrt(variance)) / Math.sqrt(n), n };
}

/**
 * What a sample of paired differences (student minus baseline, one per seed) shows: a
 * difference only when its interval excludes zero.
 */
export function verdict(differences: Interval): 'higher' | 'lower' | 'no difference' {
  if (differences.halfWidth === null) return 'no difference';
  if (differences.mean - differences.halfWidth > 0) return 'higher';
  if (differences.mean + differences.halfWidth < 0) return 'lower';
  return 'no difference';
}
