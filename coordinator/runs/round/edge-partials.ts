import type { PartialSum, PartialTerms } from '../../aggregation/partial-sum.js';
import type { Result } from '../../../protocol/index.js';

/** One attempt of one run's round. */
export interface AttemptRef {
  readonly runId: string;
  readonly round: number;
  /** 0-based. */
  readonly attempt: number;
}

/** What an edge node needs to fold an attempt's updates: the model they apply to, and the terms. */
export interface FoldAttempt extends AttemptRef {
  readonly modelVersion: number;
  /** Content hash (hex) of the global model blob, which the store holds. */
  readonly modelHash: string;
  readonly terms: PartialTerms;
  /** The most examples an update may claim (the run's maxExamplesPerSite). */
  readonly maxExamples?: number | undefined;
}

/**
 * The edge nodes that fold their sites' updates for this leader (hierarchical aggregation):
 * told each attempt's terms when it opens, asked for their partial sums when it closes.
 */
export interface EdgePartials {
  /** Tells every live edge the attempt's terms: from now on they fold its updates under them. */
  announce(fold: FoldAttempt): void;
  /**
   * The partial sum `edge` holds of exactly `sites`' updates to the attempt; fails when the edge
   * is gone or silent, or holds other updates, and the leader then refolds from the store.
   */
  gather(edge: string, attempt: AttemptRef, sites: readonly string[]): Promise<Result<PartialSum>>;
}
