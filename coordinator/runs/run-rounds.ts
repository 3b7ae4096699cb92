import type * as tfl from '@tensorflow/tfjs-layers';
import {
  maxUpdateBytes,
  ok,
  parameterCount,
  unwrap,
  type CoordinatorMessage,
  type Result,
  type RoundUpdate,
  type StudentSpec,
} from '../../protocol/index.js';
import type { PrivacyPlan } from '../privacy/privacy-plan.js';
import type { OpenRoundRecord } from '../store/store.js';
import type { Clock } from './clock.js';
import { GlobalModel } from './global-model.js';
import { openAttempt } from './round/open-attempt.js';
import { closeRound, type ClosedRound } from './round/round-closer.js';
import type { FoldResult } from './round/round-fold.js';
import { LateAnswers } from './round/round-ledger.js';
import {
  recordClosedRound,
  recordFailedAttempt,
  storeClosedRound,
  type RoundRecordsContext,
} from './round/round-records.js';
import { roundStartFor } from './round/round-start.js';
import { selectParticipants } from './round/selection.js';
import { UpdateIntake, type OpenAttempt } from './round/update-intake.js';
import type { LiveRunStatus, RunDeps } from './run-deps.js';
import type { RoundSummary } from './run-report.js';
import type { RunSpec } from './run-spec.js';
import type { SiteChannel } from './site-channel.js';

/**
 * How many participants get their round.start in one tick: each is a seal and a socket write,
 * and a thousand at once would hold the event loop for a third of a second.
 */
const START_BATCH = 64;

/** How far a run has come: kept in the store, read back after a restart. */
export interface RoundProgress {
  /** The round to run next (or being run). */
  readonly nextRound: number;
  /** Attempts of nextRound that failed so far. */
  readonly attempt: number;
  /** The last round that closed with a new model: updates for it or earlier are late. */
  readonly lastClosedRound: number;
}

/** What trying to open the next round came to. */
export type OpenOutcome =
  | { readonly kind: 'waiting' }
  /** Another round would exceed the privacy budget. */
  | { readonly kind: 'over-budget' }
  | { readonly kind: 'opened'; readonly open: OpenAttempt; readonly participants: string[] };

/**
 * The run's rounds: the global model, the open attempt, the round and attempt counters, the
 * closed rounds' summaries and the late answers owed. It opens, fails and closes attempts and
 * says what came of it; the conductor decides what the run does next.
 */
export class RunRounds {
  private readonly late = new LateAnswers();
  private readonly intake: UpdateIntake;
  private progress: RoundProgress = { nextRound: 1, attempt: 0, lastClosedRound: 0 };
  /** Participants of the open attempt whose round.start waits for its batch. */
  private unstarted = new Set<string>();
  readonly global: GlobalModel;
  open: OpenAttempt | undefined;
  readonly closed: RoundSummary[] = [];

  constructor(
    private readonly run: {
      readonly id: string;
      readonly spec: RunSpec;
      readonly deps: RunDeps;
      readonly clock: Clock;
      readonly privacy: PrivacyPlan;
      readonly studentSpec: StudentSpec;
      readonly student: tfl.LayersModel;
      readonly records: RoundRecordsContext;
      readonly send: (site: string, message: CoordinatorMessage) => void;
      /**
       * A change the rounds go on without waiting for (the store keeps the order they were
       * asked in); if the store fails it, the run stops.
       */
      readonly persist: (change: Promise<void>) => void;
    },
    /** The global model to start from: version 0, or the last committed one. */
    current: ConstructorParameters<typeof GlobalModel>[2],
  ) {
    const { deps, spec, studentSpec } = run;
    this.global = new GlobalModel(deps.transfer, spec.blobChunkBytes, current);
    this.intake = new UpdateIntake({
      runId: run.id,
      maxExamples: spec.maxExamplesPerSite,
      maxUpdateBytes: maxUpdateBytes(studentSpec),
      pull: (channel, manifest, max, watch) => deps.transfer.pull(channel, manifest, max, watch),
      clock: run.clock,
      updateIdleMs: spec.updateIdleMs,
      store: deps.store,
      audit: run.records.audit,
    });
  }

  get nextRound(): number {
    return this.progress.nextRound;
  }

  get lastClosedRound(): number {
    return this.progress.lastClosedRound;
  }

  /** The open attempt (or the next one) and the model version, for the run's status. */
  live(): Omit<LiveRunStatus, 'sites'> {
    const ledger = this.open?.ledger;
    const { round, attempt } = ledger?.info ?? {
      round: this.progress.nextRound,
      attempt: this.progress.attempt,
    };
    return {
      round,
      attempt: attempt + 1,
      modelVersion: this.global.version,
      participants: [...(ledger?.participants ?? [])],
      answered: [...(ledger?.answered ?? [])],
    };
  }

  /** A restarted run's counters and closed rounds. */
  restore(
    progress: RoundProgress,
    restored: {
      readonly closedRounds: readonly RoundSummary[];
      readonly spentRates: readonly number[];
    },
  ): void {
    const { nextRound, attempt, lastClosedRound } = progress;
    this.progress = { nextRound, attempt, lastClosedRound };
    this.closed.push(...restored.closedRounds);
    this.run.privacy.replay(restored.spentRates);
  }

  /**
   * Reopens the attempt the previous process left open, with the updates it acknowledged;
   * false when it cannot be resumed (a secure attempt: it failed, and the round starts again).
   */
  resume({ round, attempt, participants, updates }: OpenRoundRecord): boolean {
    const open = this.openAttempt(round, attempt, participants);
    if (!open.fold.resumable) {
      this.end();
      const outcome = {
        answered: updates.length,
        stragglers: 0,
        dropped: participants.length - updates.length,
      };
      this.run.persist(
        this.run.deps.store.runs.failRound({ runId: this.run.id, round, attempt, outcome }),
      );
      this.progress = { ...this.progress, attempt: attempt + 1 };
      this.run.records.logger.log(
        `round ${round}: the secure attempt open at the restart starts again`,
      );
      return false;
    }
    for (const update of updates) {
      unwrap(open.ledger.admit(update.site));
      open.ledger.received(update.site);
      unwrap(open.stages.update(update.site, update));
      open.ledger.accepted(update.site);
    }
    this.run.records.logger.log(
      `round ${round} resumed: ${updates.length} of ${participants.length} updates already in`,
    );
    return true;
  }

  /** Opens the next round's attempt if enough sites are ready and the budget allows it. */
  tryOpen(ready: readonly string[]): OpenOutcome {
    const { spec, deps, id } = this.run;
    if (ready.length < spec.minSites) return { kind: 'waiting' };
    const { nextRound: round, attempt } = this.progress;
    const participants = selectParticipants({ ready, spec, round, attempt });
    if (!this.run.privacy.allows()) return { kind: 'over-budget' };
    this.run.persist(deps.store.runs.openRound({ runId: id, round, attempt, participants }));
    const open = this.openAttempt(round, attempt, participants);
    const { logger, audit } = this.run.records;
    logger.log(
      `round ${round} (attempt ${attempt + 1}): ${participants.length} of ${ready.length} ready sites selected`,
    );
    const { temperature, alpha } = open.ledger.info;
    audit({
      event: 'round.started',
      round,
      attempt: attempt + 1,
      participants: participants.length,
      temperature,
      alpha,
      model: this.global.hash,
    });
    return { kind: 'opened', open, participants };
  }

  private openAttempt(
    round: number,
    attempt: number,
    participants: readonly string[],
  ): OpenAttempt {
    const { deps, id: runId } = this.run;
    const partials = deps.edges?.();
    this.open = openAttempt({
      ...this.run,
      sodium: deps.setup.sodium,
      runId: this.run.id,
      round,
      attempt,
      participants,
      traffic: deps.events,
      global: this.global.tensors,
      dimension: parameterCount(this.run.studentSpec),
      publicKeys: () => deps.registry.publicKeys(),
      edges: partials && {
        partials,
        attempt: {
          runId,
          round,
          attempt,
          modelVersion: this.global.version,
          modelHash: this.global.hash,
          maxExamples: this.run.spec.maxExamplesPerSite,
        },
        readStaged: (site, blobHash) => deps.store.updates.staged({ runId, round, site, blobHash }),
      },
    });
    return this.open;
  }

  /** round.start to every participant of the open attempt, a batch per tick. */
  startAll(participants: readonly string[]): void {
    this.unstarted = new Set(participants);
    this.startBatch(this.open!);
  }

  private startBatch(open: OpenAttempt): void {
    let sent = 0;
    for (const site of this.unstarted) {
      if (sent++ === START_BATCH) {
        setImmediate(() => this.open === open && this.startBatch(open));
        return;
      }
      this.startFor(site);
    }
  }

  /** The open attempt's round.start for one of its participants (sent once per session). */
  startFor(site: string): void {
    this.unstarted.delete(site);
    const { ledger, fold } = this.open!;
    const clipNorm = this.run.privacy.siteClipNorm();
    const start = roundStartFor(this.run.spec, {
      runId: this.run.id,
      round: ledger.round,
      modelVersion: this.global.version,
      temperature: ledger.info.temperature,
      alpha: ledger.info.alpha,
      ...this.global.offered(),
      ...(clipNorm === undefined ? {} : { clipNorm }),
      ...fold.roundStart,
    });
    this.run.send(site, start);
  }

  /** Checks a round.update, then pulls its blob; the fold happens when the blob is in. */
  receive(channel: SiteChannel, update: RoundUpdate, fatal: (error: Error) => void): Result<true> {
    const { open } = this;
    const view = {
      version: this.global.version,
      lastClosedRound: this.progress.lastClosedRound,
      open,
      late: this.late,
    };
    const checked = this.intake.check(channel, update, view);
    if (!checked.ok) return checked;
    if (checked.value === 'pull') {
      void this.intake.pull(channel, update, open!).then((outcome) => {
        if (outcome.kind === 'fatal') fatal(outcome.error);
      });
    }
    return ok(true);
  }

  /** Settles once the updates folded so far are stored and their sites answered. */
  updatesStored(): Promise<void> {
    return this.intake.stored();
  }

  /** A site left: no late answer is owed by it any more. */
  forget(site: string): void {
    this.late.forget(site);
  }

  /** The attempt, if still the open one, is over: it is no longer open. */
  take(open: OpenAttempt): boolean {
    if (this.open !== open) return false;
    this.open = undefined;
    return true;
  }

  /** The attempt failed: recorded; the same round is tried again with a fresh selection. */
  fail(open: OpenAttempt, result: Extract<FoldResult, { ok: false }>): Promise<void> {
    const { ledger } = open;
    const { privacy, records } = this.run;
    const spent = result.revealed ? privacy.spend() : undefined;
    if (spent) records.audit(privacy.spentEvent(ledger.round, spent));
    const { minSites } = this.run.spec;
    const stored = recordFailedAttempt(records, ledger, result, minSites, spent?.sampling_rate);
    this.late.owe(ledger.silent());
    this.progress = { ...this.progress, attempt: ledger.info.attempt + 1 };
    return stored;
  }

  /**
   * The attempt's model, pruned, stored and evaluated, with the round's privacy spent: ready to
   * be committed. Nothing of it is committed here.
   */
  async close(open: OpenAttempt, model: Parameters<typeof closeRound>[1]): Promise<ClosedRound> {
    const { ledger } = open;
    const { spec, privacy, deps } = this.run;
    // Set before any await: an update for this round arriving meanwhile is a straggler's.
    this.progress = { ...this.progress, lastClosedRound: ledger.round };
    const closed = await closeRound(ledger, model, {
      spec,
      strategy: privacy.strategy,
      privacy,
      store: deps.store,
      student: this.run.student,
      evaluation: deps.evaluation,
      ...(this.global.mask ? { previousMask: this.global.mask.tensors } : {}),
      now: () => this.run.clock.now(),
      traffic: () => deps.events,
    });
    if (closed.spent) this.run.records.audit(privacy.spentEvent(ledger.round, closed.spent));
    return closed;
  }

  /** Stores the closed round and its model as the next version; `commit` follows. */
  store(open: OpenAttempt, closed: ClosedRound): Promise<void> {
    const { version } = this.global;
    return storeClosedRound(this.run.records, closed, {
      version,
      attempt: open.ledger.info.attempt,
    });
  }

  /**
   * The stored round's model becomes the next version: 'last' when it was the run's last
   * round. Synchronous, so that the next round opens in the same step.
   */
  commit(open: OpenAttempt, closed: ClosedRound): 'next' | 'last' {
    const { ledger } = open;
    const { version, hash } = this.global;
    recordClosedRound(this.run.records, closed, { version, hash });
    this.late.clear();
    this.global.advance(closed);
    this.closed.push(closed.summary);
    this.progress = { ...this.progress, nextRound: ledger.round + 1, attempt: 0 };
    return ledger.round === this.run.spec.rounds ? 'last' : 'next';
  }

  /** The open attempt ends for good (cancelled, the run stopped). */
  end(): void {
    this.open?.stages.end();
    this.open = undefined;
  }
}
