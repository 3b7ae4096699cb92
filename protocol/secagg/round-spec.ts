import type { RoundContext } from './round-context.js';

/**
 * Everything both roles must agree on before a SecAgg+ round starts; the coordinator sends it
 * with the round and each site checks it against its own limits.
 */
export interface SecAggRoundSpec {
  readonly context: RoundContext;
  /** The run's seed, from which (with round and attempt) the neighbour graph is drawn. */
  readonly graphSeed: number;
  /** Neighbours per site, k (see neighbourGraph for how it is adjusted). */
  readonly degree: number;
  /** Shares needed to rebuild any secret, t, with k/2 < t <= k. */
  readonly threshold: number;
  /** Length of the quantized vector each site masks. */
  readonly dimension: number;
}
