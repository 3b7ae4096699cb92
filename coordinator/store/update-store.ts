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
 * An update an edge node pulled is saved with empty bytes, its bytes staged by the edge
 * (`stage`), so that they never cross to the leader; the open attempt's resume record
 * reads them from there.
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
  /**
   * Keeps an update's bytes as an edge node pulled them, before the leader has seen the update;
   * durable before it returns. Not fenced: an edge holds no lease, and a staged row is no
   * decision (the leader's `save` is). Keyed by run, round, site and content hash, so staging
   * the same bytes twice is harmless.
   */
  stage(update: {
    runId: string;
    round: number;
    site: string;
    blobHash: string;
    bytes: Uint8Array;
  }): Promise<void>;
  /** The staged bytes of that update, or undefined when none were staged. */
  staged(key: {
    runId: string;
    round: number;
    site: string;
    blobHash: string;
  }): Promise<Uint8Array | undefined>;
}
