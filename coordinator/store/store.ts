import type { RoundSummary } from '../runs/run-report.js';

/** Where a run stands, as last committed. */
export interface StoredRun {
  readonly id: string;
  /** Hash of the run's settings: a restart with other settings must not resume this run. */
  readonly specHash: string;
  readonly state: 'active' | 'complete';
  /** The round to run next (or being run). */
  readonly nextRound: number;
  /** Attempts of nextRound that failed their quorum so far. */
  readonly attempt: number;
  readonly lastClosedRound: number;
  readonly modelVersion: number;
}

export interface StoredModel {
  readonly version: number;
  /** Content hash (hex) of the model's tensor blob, which is also its file name. */
  readonly modelHash: string;
  /** Content hash of the server optimizer's state after this version, when it keeps one. */
  readonly optimizerHash?: string;
}

/** A round attempt that was opened and neither closed nor failed: the one to resume. */
export interface OpenRoundRecord {
  readonly round: number;
  readonly attempt: number;
  readonly participants: readonly string[];
  /** Updates persisted (and so acknowledged) for it, in arrival order. */
  readonly updates: readonly StoredUpdate[];
}

export interface StoredUpdate {
  readonly site: string;
  readonly numExamples: number;
  /** Content hash (hex) of the update blob as received. */
  readonly blobHash: string;
  readonly bytes: Uint8Array;
}

export interface SiteRecord {
  readonly name: string;
  readonly publicKey: string;
  readonly state: 'enrolled' | 'revoked';
  readonly lastConnectedAt?: string;
}

/**
 * The coordinator's durable state. Every method that changes state returns only once the
 * change is durable, so what the coordinator acknowledges survives a crash. Blobs (models,
 * optimizer state) are content-addressed files beside the database.
 */
export interface CoordinatorStore {
  /** The run to continue: `id` when given, else the latest active run with these settings. */
  findRun(specHash: string, id?: string): StoredRun | undefined;
  createRun(run: { id: string; specHash: string; spec: unknown }, initial: StoredModel): void;
  model(runId: string, version: number): StoredModel;
  openRound(runId: string, round: number, attempt: number, participants: readonly string[]): void;
  openRoundOf(run: StoredRun): OpenRoundRecord | undefined;
  /** Durable before it returns: the caller acknowledges the update after. */
  saveUpdate(runId: string, round: number, attempt: number, update: StoredUpdate): void;
  /** The attempt failed its quorum: nothing is applied and the next attempt follows. */
  failRound(runId: string, round: number, attempt: number): void;
  /** The round's new model becomes the run's, atomically with the round's summary. */
  commitRound(
    runId: string,
    round: { round: number; attempt: number; summary: RoundSummary },
    model: StoredModel,
  ): void;
  closedRounds(runId: string): RoundSummary[];
  completeRun(runId: string): void;
  writeBlob(bytes: Uint8Array): Promise<string>;
  readBlob(hash: string): Promise<Uint8Array>;
  syncSites(sites: readonly Omit<SiteRecord, 'lastConnectedAt'>[]): void;
  siteConnected(name: string): void;
  sites(): SiteRecord[];
  close(): void;
}

export const COORDINATOR_STORE = Symbol('COORDINATOR_STORE');
