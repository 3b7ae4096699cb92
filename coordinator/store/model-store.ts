/** One version of a run's global model, as its blobs' content hashes. */
export interface StoredModel {
  readonly version: number;
  /** Content hash (hex) of the model's tensor blob, which is also its file name. */
  readonly modelHash: string;
  /** Content hash of the server optimizer's state after this version, when it keeps one. */
  readonly optimizerHash?: string;
  /** Content hash of the pruning mask that goes with this version, once anything is pruned. */
  readonly maskHash?: string;
}

/**
 * Model versions and the content-addressed blobs they name (model weights, optimizer state,
 * pruning masks). A version is written only by `RunStore.startRun` and `RunStore.commitRound`,
 * together with the run it belongs to; here it is read.
 */
export interface ModelStore {
  /** The stored version; throws `store.unavailable` when the run has no such version. */
  get(model: { runId: string; version: number }): Promise<StoredModel>;
  /**
   * Stores the bytes under their BLAKE2b-256 content hash (hex) and returns it. Durable before
   * the promise settles: a crash leaves the blob whole or absent, never partial. Writing the
   * same bytes twice is harmless.
   */
  writeBlob(bytes: Uint8Array): Promise<string>;
  /**
   * The blob's bytes. Throws `store.unavailable` for a malformed hash and for bytes whose
   * content hash differs from the name they were read under (a corrupt blob is never returned).
   */
  readBlob(hash: string): Promise<Uint8Array>;
}
