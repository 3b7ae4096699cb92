import type { RunState } from '../../protocol/index.js';
import type { RoundSummary } from '../runs/run-report.js';
import type { StoredModel } from './model-store.js';
import type { StoredUpdate } from './update-store.js';

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

/** A round attempt that was opened and neither closed nor failed: the one to resume. */
export interface OpenRoundRecord {
  readonly round: number;
  readonly attempt: number;
  readonly participants: readonly string[];
  /** Updates persisted (and so acknowledged) for it, in arrival order. */
  readonly updates: readonly StoredUpdate[];
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
  /**
   * With differential privacy, the sampling rate the attempt was accounted at when it failed
   * after its sum could have been learned (a secure attempt that reached unmasking).
   */
  readonly sampling_rate?: number;
}

/**
 * One coordinator process's share of a run's traffic: a run that outlives a crash is served by
 * several processes, and its report counts them all.
 */
export interface ProcessTraffic {
  readonly runId: string;
  /** Unique to the process that served the run. */
  readonly process: string;
  /** When that process began starting, in milliseconds since the epoch. */
  readonly startedAt: number;
  /** Protocol bytes the process received from sites and sent to them, so far. */
  readonly bytesUp: number;
  readonly bytesDown: number;
}

/** A run's traffic over every process that served it. */
export interface RunTraffic {
  /** When the first of them began starting, in milliseconds since the epoch. */
  readonly startedAt: number;
  readonly bytesUp: number;
  readonly bytesDown: number;
}

/** Names one attempt of one round of a run. */
export interface AttemptKey {
  readonly runId: string;
  readonly round: number;
  /** 0-based. */
  readonly attempt: number;
}

/**
 * Runs and their rounds. Every method that changes state returns only once the change is
 * durable, so what the coordinator acknowledges survives a crash. Starting a run and closing
 * a round also write a model version and drop updates' bytes: they live here, as one
 * transaction each, because a crash between those writes would leave a run pointing at a
 * model it does not have, or a round closed without its model.
 */
export interface RunStore {
  get(id: string): Promise<StoredRun | undefined>;
  /** Every run, newest first. */
  list(): Promise<StoredRun[]>;
  /** The run, neither created nor in a terminal state, to resume after a restart. */
  active(): Promise<StoredRun | undefined>;
  /** A new run in state `created`, at round 1, attempt 0, model version 0 (not yet stored). */
  create(run: { id: string; specHash: string; spec: unknown }): Promise<void>;
  /** Atomically: the run's first model (version 0) is stored and the run waits for sites. */
  start(run: { runId: string; initial: StoredModel }): Promise<void>;
  setState(run: { runId: string; state: RunState }): Promise<void>;
  /** The run ends (complete, or stopped by its privacy budget) with its report, atomically. */
  complete(run: {
    runId: string;
    report: unknown;
    state: 'complete' | 'stopped-by-budget';
  }): Promise<void>;
  /** The report of a complete run; undefined before. */
  report(runId: string): Promise<unknown>;
  /** Records the attempt as open with its participants; its updates follow (`UpdateStore.save`). */
  openRound(round: AttemptKey & { participants: readonly string[] }): Promise<void>;
  /** The attempt the run is at (`nextRound`, `attempt`), if it is open, with its saved updates. */
  openRoundOf(run: StoredRun): Promise<OpenRoundRecord | undefined>;
  /**
   * Atomically: the attempt failed its quorum, with its outcome; its updates' bytes are dropped
   * (nothing of them is applied) and the run moves on to the next attempt of the round.
   */
  failRound(round: AttemptKey & { outcome: AttemptOutcome }): Promise<void>;
  /**
   * Atomically: the attempt closes with its summary, the round's new model version is stored
   * and becomes the run's, the run moves to the next round (attempt 0), and the attempt's
   * updates' bytes are dropped.
   */
  commitRound(round: AttemptKey & { summary: RoundSummary; model: StoredModel }): Promise<void>;
  /** The summaries of the run's closed rounds, in round order. */
  closedRounds(runId: string): Promise<RoundSummary[]>;
  /** Every attempt of every round of the run, in order. */
  roundAttempts(runId: string): Promise<RoundAttemptRecord[]>;
  /** Replaces what this process recorded of the run's traffic before (its figures only grow). */
  recordTraffic(traffic: ProcessTraffic): Promise<void>;
  /** The run's traffic summed over every process that recorded some; undefined before any. */
  traffic(runId: string): Promise<RunTraffic | undefined>;
}
