import type { SiteUpdate } from '../../coordinator/aggregation/strategy.js';

/** A site's update of one tensor `w`. */
export const siteUpdate = (site: string, delta: number[], numExamples: number): SiteUpdate => ({
  site,
  delta: [{ name: 'w', shape: [delta.length], values: Float32Array.from(delta) }],
  numExamples,
});

/**
 * Three honest sites of norm 5 and 10 examples, and one of norm 50 claiming 1e9. Medians: norm
 * (5 + 5) / 2 = 5, count 10. The attacker is scaled to 2 x 5 = 10 in norm ([6, 8]) and weighs
 * 2 x 10 = 20: (10 [3, 4] + 10 [0, 5] + 10 [5, 0] + 20 [6, 8]) / 50 = [200, 250] / 50 = [4, 5].
 */
export const BOUNDED_ROUND: readonly SiteUpdate[] = [
  siteUpdate('a', [3, 4], 10),
  siteUpdate('b', [0, 5], 10),
  siteUpdate('c', [5, 0], 10),
  siteUpdate('x', [30, 40], 1e9),
];
