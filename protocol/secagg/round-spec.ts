import type { RoundContext } from './round-context.js';

/**
 * Everything both roles must agree on before a SecAgg+ round starts; the coordinator sends it
 * with the round and each site checks it against its own limits.
 */
export interface SecAggRoundSpec {
  readonly context: RoundContext;
  /** The round's participants, sorted, as round.start lists them: n for the consistency quorum. */
  readonly participants: readonly string[];
  /** The run's seed, from which (with round and attempt) the neighbour graph is drawn. */
  readonly graphSeed: number;
  /** Neighbours per site, k (see neighbourGraph for how it is adjusted). */
  readonly degree: number;
  /** Shares needed to rebuild any secret, t, with k/2 < t <= k. */
  readonly threshold: number;
  /** Length of the quantized vector each site masks. */
  readonly dimension: number;
}

/** The round spec both roles build from a round's secure-aggregation settings. */
export function secAggRoundSpec(
  runId: string,
  round: number,
  settings: {
    readonly attempt: number;
    readonly participants: readonly string[];
    readonly graphSeed: number;
    readonly degree: number;
    readonly threshold: number;
  },
  dimension: number,
): SecAggRoundSpec {
  return {
    context: { runId, round, attempt: settings.attempt },
    participants: settings.participants,
    graphSeed: settings.graphSeed,
    degree: settings.degree,
    threshold: settings.threshold,
    dimension,
  };
}

/** Looks up a participant's Ed25519 identity key in a round's list of them. */
export function identityTable(
  identities: readonly { readonly site: string; readonly publicKey: Uint8Array }[],
): (site: string) => Uint8Array | undefined {
  const table = new Map(identities.map((entry) => [entry.site, entry.publicKey]));
  return (site) => table.get(site);
}
