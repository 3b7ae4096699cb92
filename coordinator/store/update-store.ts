/** A site's update to one round attempt, as persisted before it is acknowledged. */
export interface StoredUpdate {
  readonly site: string;
  readonly numExamples: number;
  /** Content hash (hex) of the update blob as received. */
  readonly blobHash: string;
  readonly bytes: Uint8Array;
}

/**
 * The updates sites sent, keyed by run, round, attempt and site. Their bytes are kept only
 * while the attempt is open (a restart refolds them); the rows stay for the run's history.
 */
export interface UpdateStore {
  /**
   * Persists the update in arrival order; durable before it returns, because the caller
   * acknowledges the update after. A second update of one site to one attempt throws: each
   * update is applied at most once. The attempt must have been opened (`RunStore.openRound`).
   */
  save(update: {
    runId: string;
    round: number;
    attempt: number;
    update: StoredUpdate;
  }): Promise<void>;
  /**
   * Per site, the last closed round of the run after `afterRound` (default 0) that folded its
   * update. Failed attempts and the open one do not count.
   */
  lastRoundBySite(query: { runId: string; afterRound?: number }): Promise<Map<string, number>>;
}
