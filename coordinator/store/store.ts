import type { RunState, SignedTreeHead } from '../../protocol/index.js';
import type { RoundSummary } from '../runs/run-report.js';

/** Where a run stands, as last committed. */
export interface StoredRun {
  readonly id: string;
  /** Hash of the run's settings: a restart with other settings must not resume this run. */
  readonly specHash: string;
  /** The run spec as given (JSON). */
  readonly spec: unknown;
  /** As last committed; a run in a state that is neither created nor terminal resumes after a restart. */
  readonly state: RunState;
  /** The round to run next (or being run). */
  readonly nextRound: number;
  /** Attempts of nextRound that failed their quorum so far. */
  readonly attempt: number;
  readonly lastClosedRound: number;
  readonly modelVersion: number;
  readonly createdAt: string;
  readonly updatedAt: string;
}

export interface StoredModel {
  readonly version: number;
  /** Content hash (hex) of the model's tensor blob, which is also its file name. */
  readonly modelHash: string;
  /** Content hash of the server optimizer's state after this version, when it keeps one. */
  readonly optimizerHash?: string;
  /** Content hash of the pruning mask that goes with this version, once anything is pruned. */
  readonly maskHash?: string;
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
export interface TokenRecord {
  readonly id: string;
  readonly name: string;
  readonly role: 'operator' | 'auditor';
  /**
   * api: a long-lived API token; login: opens one dashboard session, once; session: a
   * dashboard's bearer, short-lived.
   */
  readonly kind: 'api' | 'login' | 'session';
  readonly createdAt: string;
  readonly revokedAt?: string;
  readonly expiresAt?: string;
}

/** One attempt of one round as stored: the timeline of a run. */
export interface RoundAttemptRecord {
  readonly round: number;
  /** 0-based, as the store counts attempts. */
  readonly attempt: number;
  readonly state: 'open' | 'closed' | 'failed';
  readonly participants: number;
  /** The round's summary (closed), or the attempt's outcome (failed). */
  readonly summary?: RoundSummary | AttemptOutcome;
  readonly openedAt: string;
  readonly closedAt?: string;
}

/** How an attempt that failed its quorum ended. */
export interface AttemptOutcome {
  readonly answered: number;
  readonly stragglers: number;
  readonly dropped: number;
}

/** A page of the audit log, newest first. */
export interface AuditFilter {
  /** An event name, or a prefix ending in a dot. */
  readonly event?: string;
  readonly site?: string;
  readonly run?: string;
  readonly round?: number;
  readonly before?: number;
  readonly limit: number;
}

export interface CoordinatorStore {
  run(id: string): StoredRun | undefined;
  /** Every run, newest first. */
  runs(): StoredRun[];
  /** The run that was running or paused, to resume after a restart. */
  activeRun(): StoredRun | undefined;
  createRun(run: { id: string; specHash: string; spec: unknown }): void;
  /** The run's first model (version 0) is stored and the run is running. */
  startRun(id: string, initial: StoredModel): void;
  setRunState(id: string, state: RunState): void;
  model(runId: string, version: number): StoredModel;
  openRound(runId: string, round: number, attempt: number, participants: readonly string[]): void;
  openRoundOf(run: StoredRun): OpenRoundRecord | undefined;
  /** Durable before it returns: the caller acknowledges the update after. */
  saveUpdate(runId: string, round: number, attempt: number, update: StoredUpdate): void;
  /** The attempt failed its quorum: nothing is applied and the next attempt follows. */
  failRound(runId: string, round: number, attempt: number, outcome: AttemptOutcome): void;
  /** The round's new model becomes the run's, atomically with the round's summary. */
  commitRound(
    runId: string,
    round: { round: number; attempt: number; summary: RoundSummary },
    model: StoredModel,
  ): void;
  closedRounds(runId: string): RoundSummary[];
  /** Every attempt of every round of the run, in order. */
  roundAttempts(runId: string): RoundAttemptRecord[];
  /** Per site, the last closed round of the run (after `afterRound`) that folded its update. */
  lastRoundBySite(runId: string, afterRound?: number): Map<string, number>;
  completeRun(runId: string, report: unknown): void;
  report(runId: string): unknown;
  writeBlob(bytes: Uint8Array): Promise<string>;
  readBlob(hash: string): Promise<Uint8Array>;
  syncSites(sites: readonly Omit<SiteRecord, 'lastConnectedAt'>[]): void;
  siteConnected(name: string): void;
  sites(): SiteRecord[];
  /** Stores only the token's hash; the token itself is shown once, by the caller. */
  addToken(token: Omit<TokenRecord, 'createdAt'>, tokenHash: string): void;
  /** A token neither revoked nor expired. */
  tokenByHash(tokenHash: string): TokenRecord | undefined;
  tokens(): TokenRecord[];
  revokeToken(id: string): boolean;
  /** Appends an audit entry; `seq` must be the next one (the log is append-only). */
  appendAudit(seq: number, event: Record<string, unknown>): void;
  auditEntries(): { seq: number; event: Record<string, unknown> }[];
  /** Entries matching the filter, newest first, and how many match in all. */
  auditPage(filter: AuditFilter): {
    entries: { seq: number; event: Record<string, unknown> }[];
    matching: number;
  };
  auditSize(): number;
  addTreeHead(head: SignedTreeHead): void;
  treeHeads(): SignedTreeHead[];
  close(): void;
}

export const COORDINATOR_STORE = Symbol('COORDINATOR_STORE');
