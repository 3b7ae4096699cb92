import { performance } from 'node:perf_hooks';
import { Logger } from '@nestjs/common';
import type * as tfl from '@tensorflow/tfjs-layers';
import {
  buildModel,
  distillationAt,
  encodeTensorBlob,
  fail,
  FedistillError,
  ok,
  parameterCount,
  readWeights,
  toHex,
  transition,
  unwrap,
  weightLayout,
  writeWeights,
  type CoordinatorMessage,
  type Result,
  type RunState,
  type RunWelcome,
  type SiteMessage,
  type StudentSpec,
} from '../../protocol/index.js';
import type { CoordinatorSetup } from '../coordinator-setup.js';
import type { HeldOutEvaluator } from '../evaluation/held-out-evaluator.js';
import type { AuditEvent, CoordinatorEvents } from '../events/coordinator-events.js';
import { PrivacyPlan } from '../privacy/privacy-plan.js';
import { enrolledCount } from '../privacy/run-privacy.js';
import type { CoordinatorStore, OpenRoundRecord, StoredRun } from '../store/store.js';
import type { PreparedTeacher } from '../teacher/prepared-teacher.js';
import type { TransferService } from '../transfer/transfer.service.js';
import { systemClock, type Clock } from './clock.js';
import { GlobalModel } from './global-model.js';
import { AttemptStages } from './round/attempt-stages.js';
import { closeRound, type ClosedRound } from './round/round-closer.js';
import { createFold } from './round/create-fold.js';
import type { FoldResult } from './round/round-fold.js';
import { LateAnswers, RoundLedger } from './round/round-ledger.js';
import { roundStartFor } from './round/round-start.js';
import { selectParticipants } from './round/selection.js';
import { UpdateIntake, type OpenAttempt } from './round/update-intake.js';
import { completeRun } from './run-completion.js';
import type { RoundSummary, RunReport } from './run-report.js';
import { readRestoredRun } from './run-restore.js';
import { studentSpecOf, type RunSpec } from './run-spec.js';
import type { SiteChannel } from './site-channel.js';

/** What a run needs of the coordinator: its setup, services, store and clock. */
export interface RunDeps {
  readonly setup: CoordinatorSetup;
  readonly evaluation: HeldOutEvaluator;
  readonly events: CoordinatorEvents;
  /** Serves the global model's blobs and pulls the sites' update blobs. */
  readonly transfer: Pick<TransferService, 'offer' | 'withdraw' | 'serve' | 'accept' | 'pull'>;
  readonly store: CoordinatorStore;
  readonly clock?: Clock;
}

/** A run's identity and where its report goes besides the store. */
export interface RunIdentity {
  readonly id: string;
  readonly specHash: string;
  readonly reportFile?: string;
  /** Where the final student is exported (student/ and student-fp32/). */
  readonly exportDir: string;
}

interface SiteEntry {
  readonly channel: SiteChannel;
  ready: boolean;
}

/**
 * One federated run's conductor: admits sites, dispatches their messages and drives the run's
 * state (protocol/run-state.ts). The round's rules live in the parts under round/ and secure/,
 * which return outcomes as data; the conductor does no arithmetic.
 *
 * Every step is committed to the store before anyone is told of it: the attempt and its
 * participants when it opens, each update before its acknowledgement, the new model with the
 * round's summary when it closes. A coordinator restarted on the same store resumes the same
 * round: acknowledged updates are folded again from the store, and only the participants that
 * had not been acknowledged are asked (again) when they reconnect.
 */
export class RunConductor {
  private readonly logger = new Logger('Runs');
  private state: RunState = 'created';
  private disposed = false;
  private readonly clock: Clock;
  private readonly privacy: PrivacyPlan;
  private readonly sites = new Map<string, SiteEntry>();
  private readonly backends: Record<string, string> = {};
  private readonly studentSpec: StudentSpec;
  private readonly student: tfl.Sequential;
  private readonly intake: UpdateIntake;
  private readonly late = new LateAnswers();
  private global!: GlobalModel;
  /** Attempts of the next round so far; a round that fails its quorum is retried. */
  private attempt = 0;
  private nextRound = 1;
  /** The last round that closed with a new model: updates for it or earlier are late. */
  private lastClosedRound = 0;
  private open: OpenAttempt | undefined;
  private readonly perRound: RoundSummary[] = [];
  private resolveFinished!: (report: RunReport) => void;
  private rejectFinished!: (error: Error) => void;
  readonly finished: Promise<RunReport>;
  readonly id: string;

  constructor(
    private readonly deps: RunDeps,
    private readonly identity: RunIdentity,
    private readonly spec: RunSpec,
    private readonly teacher: PreparedTeacher,
  ) {
    this.id = identity.id;
    this.clock = deps.clock ?? systemClock;
    // Checked when the run was created (RunsService.create).
    this.privacy = unwrap(PrivacyPlan.create(spec, enrolledCount(deps.store.sites)));
    const { config, publicSplit } = deps.setup;
    this.studentSpec = unwrap(studentSpecOf(spec, publicSplit.features, config.data.classes));
    this.student = buildModel(this.studentSpec, spec.seed);
    const layout = weightLayout(this.studentSpec);
    this.intake = new UpdateIntake({
      runId: this.id,
      // float32 topk at full density, plus framing.
      maxUpdateBytes: 8 * parameterCount(this.studentSpec) + 1024 * layout.length + 4096,
      pull: (channel, manifest, max) => deps.transfer.pull(channel, manifest, max),
      store: deps.store,
      audit: (event) => this.audit(event),
    });
    this.finished = new Promise((resolve, reject) => {
      this.resolveFinished = resolve;
      this.rejectFinished = reject;
    });
    // Observers may never await the run; a coordinator stopped early must not crash on that.
    this.finished.catch(() => undefined);
  }

  /** Starts the run (its first model stored), or continues a run found in the store. */
  async start(resumed?: StoredRun): Promise<void> {
    if (resumed) return this.restore(resumed);
    const tensors = await readWeights(this.student, this.studentSpec);
    const bytes = unwrap(encodeTensorBlob(tensors, 'float32'));
    const hash = await this.deps.store.models.writeBlob(bytes);
    this.global = this.globalModel({ version: 0, model: { tensors, bytes, hash } });
    this.deps.store.runs.start({ runId: this.id, initial: { version: 0, modelHash: hash } });
    this.state = unwrap(transition(this.state, 'waiting-for-sites'));
  }

  private globalModel(current: ConstructorParameters<typeof GlobalModel>[2]): GlobalModel {
    return new GlobalModel(this.deps.transfer, this.spec.blobChunkBytes, current);
  }

  /** Continues a run from the store: its model, optimizer state, closed rounds and open round. */
  private async restore(run: StoredRun): Promise<void> {
    const restored = await readRestoredRun(this.deps.store, run);
    const { model, mask, optimizerState } = restored;
    this.global = this.globalModel({ version: run.modelVersion, model, ...(mask ? { mask } : {}) });
    writeWeights(this.student, model.tensors);
    if (optimizerState) {
      const strategy = this.privacy.strategy;
      unwrap(
        strategy.importState?.(optimizerState) ?? fail('config.invalid', 'no optimizer state'),
      );
    }
    this.nextRound = run.nextRound;
    this.attempt = run.attempt;
    this.lastClosedRound = run.lastClosedRound;
    this.perRound.push(...restored.closedRounds);
    this.privacy.replay(this.perRound);
    // Restored, not entered: the stored state is where the previous process left the run.
    this.state = run.state === 'paused' ? 'paused' : 'waiting-for-sites';
    this.logger.log(
      `resuming run ${run.id} at round ${run.nextRound} (attempt ${run.attempt + 1}), model version ${run.modelVersion}`,
    );
    if (run.lastClosedRound === this.spec.rounds) return this.complete('complete');
    if (restored.open) this.resumeAttempt(restored.open);
  }

  /** Reopens the attempt the previous process left open, with the updates it acknowledged. */
  private resumeAttempt(record: OpenRoundRecord): void {
    const { round, attempt, participants, updates } = record;
    const open = this.openAttempt(round, attempt, participants);
    if (!open.fold.resumable) {
      // A secure attempt's keys and shares died with the process: it fails and the round
      // starts again with fresh keys once enough sites are back.
      open.stages.end();
      this.open = undefined;
      this.deps.store.runs.failRound({
        runId: this.id,
        round,
        attempt,
        outcome: {
          answered: updates.length,
          stragglers: 0,
          dropped: participants.length - updates.length,
        },
      });
      this.attempt = attempt + 1;
      this.logger.log(`round ${round}: the secure attempt open at the restart starts again`);
      return;
    }
    for (const update of updates) {
      open.ledger.admit(update.site);
      open.ledger.received(update.site);
      unwrap(open.stages.update(update.site, update));
      open.ledger.accepted(update.site);
    }
    if (this.state === 'waiting-for-sites') this.moveTo('round-open');
    this.logger.log(
      `round ${round} resumed: ${updates.length} of ${participants.length} updates already in`,
    );
  }

  /** Sends one message to every site with a session in this run. */
  broadcast(message: CoordinatorMessage): void {
    // After run.complete (the final frame) nothing more goes to the run's sites.
    if (this.ended) return;
    for (const site of this.sites.values()) site.channel.send(message);
  }

  private audit(event: AuditEvent): void {
    this.deps.events.emit('audit', { ...event, run: this.id });
  }

  /** Where the run is, for the API: state, round, attempt, model version, sites. */
  status(): {
    round: number;
    attempt: number;
    modelVersion: number;
    sites: { site: string; ready: boolean; backend?: string }[];
    participants: string[];
    answered: string[];
  } {
    const ledger = this.open?.ledger;
    return {
      round: ledger?.round ?? this.nextRound,
      attempt: (ledger?.info.attempt ?? this.attempt) + 1,
      modelVersion: this.global.version,
      sites: [...this.sites.values()].map(({ channel, ready }) => ({
        site: channel.site,
        ready,
        ...(this.backends[channel.site] ? { backend: this.backends[channel.site] } : {}),
      })),
      participants: [...(ledger?.participants ?? [])],
      answered: [...(ledger?.answered ?? [])],
    };
  }

  /** No new round opens until resume; a round already open closes as usual. */
  pause(): Result<true> {
    const moved = this.tryMoveTo('paused');
    if (moved.ok) this.logger.log(`run ${this.id} paused`);
    return moved;
  }

  resume(): Result<true> {
    if (this.state !== 'paused')
      return fail('run.illegal_transition', `run ${this.id} is not paused`);
    this.moveTo(this.open ? 'round-open' : 'waiting-for-sites');
    this.logger.log(`run ${this.id} resumed`);
    this.openRoundIfQuorum();
    return ok(true);
  }

  /** Ends the run now: the open round is dropped, every session is told `run.cancelled`. */
  cancel(): Result<true> {
    const moved = this.tryMoveTo('cancelled');
    if (!moved.ok) return moved;
    this.endAttempt();
    for (const site of this.sites.values()) site.channel.refuse('run.cancelled', 'cancelled');
    this.logger.warn(`run ${this.id} cancelled`);
    this.rejectFinished(
      new FedistillError({ code: 'run.cancelled', message: `run ${this.id} was cancelled` }),
    );
    return ok(true);
  }

  private tryMoveTo(next: RunState): Result<true> {
    const moved = transition(this.state, next);
    if (!moved.ok) return fail('run.illegal_transition', `run ${this.id} is ${this.state}`);
    this.state = next;
    this.deps.store.runs.setState({ runId: this.id, state: next });
    return ok(true);
  }

  private moveTo(next: RunState): void {
    unwrap(this.tryMoveTo(next));
  }

  private endAttempt(): void {
    this.open?.stages.end();
    this.open = undefined;
  }

  /**
   * An authenticated site joins. Returns the welcome for the gateway to send once the site's
   * stream is open; the site then fetches the transfer set.
   */
  siteJoined(channel: SiteChannel): Result<RunWelcome> {
    if (this.sites.has(channel.site)) {
      return fail('session.duplicate', `${channel.site} already has an open session`);
    }
    if (this.ended) return fail('session.closed', `the run is ${this.state}`);
    this.sites.set(channel.site, { channel, ready: false });
    this.deps.store.sites.markConnected(channel.site);
    this.deps.events.emit('site', {
      site: channel.site,
      present: true,
      connected: this.sites.size,
    });
    return ok({
      type: 'run.welcome',
      runId: this.id,
      site: channel.site,
      rounds: this.spec.rounds,
      student: this.studentSpec,
      normalizer: this.deps.setup.normalizer,
      teacher: this.teacher.descriptor,
    });
  }

  siteLeft(channel: SiteChannel): void {
    const site = channel.site;
    if (this.sites.get(site)?.channel !== channel) return;
    this.sites.delete(site);
    this.late.forget(site);
    this.deps.events.emit('site', { site, present: false, connected: this.sites.size });
    const open = this.open;
    if (open?.ledger.left(site)) {
      this.logger.warn(`round ${open.ledger.round}: ${site} left before answering`);
      this.audit({ event: 'site.dropped', round: open.ledger.round, site });
    }
    // A secure attempt also waits on answered sites (their unmask shares): it stops waiting.
    open?.stages.left(site);
  }

  /** Applies one validated message; an error ends that site's session and nothing else. */
  handle(channel: SiteChannel, message: SiteMessage): Result<true> {
    const entry = this.sites.get(channel.site);
    if (entry?.channel !== channel)
      return fail('session.closed', 'the session is no longer part of the run');
    switch (message.type) {
      case 'blob.request':
        return this.deps.transfer.serve(channel, message);
      case 'blob.chunk':
        return this.deps.transfer.accept(channel, message);
      case 'site.ready':
        return this.markReady(entry, message.transferHash, message.backend);
      case 'round.update':
        return this.receiveUpdate(channel, message);
      case 'site.leave':
        this.logger.log(`${channel.site} left: ${message.reason}`);
        return ok(true);
      case 'secagg.keys':
      case 'secagg.shares':
      case 'secagg.unmask_response': {
        const open = this.open;
        if (!open || message.runId !== this.id || message.round !== open.ledger.round) {
          return fail('protocol.unexpected_message', `${message.type} outside the open round`);
        }
        return open.stages.step(channel.site, message);
      }
      default: {
        const unreachable: never = message;
        return unreachable;
      }
    }
  }

  private markReady(entry: SiteEntry, hash: Uint8Array, backend: string): Result<true> {
    const site = entry.channel.site;
    if (!this.deps.setup.sodium.memcmp(hash, this.teacher.descriptor.blob.hash)) {
      return fail('blob.hash_mismatch', 'the site holds another transfer set');
    }
    if (entry.ready) return fail('protocol.unexpected_message', 'the site was already ready');
    entry.ready = true;
    this.backends[site] = backend;
    this.logger.log(`${site} ready (backend ${backend})`);
    // The site holds the soft labels it pulled (each chunk verified): logged by their hash.
    this.audit({ event: 'softlabels.served', site, softLabels: toHex(hash) });
    if (this.open?.ledger.awaits(site)) this.startSiteRound(entry);
    else this.openRoundIfQuorum();
    return ok(true);
  }

  private openRoundIfQuorum(): void {
    if (this.state !== 'waiting-for-sites') return;
    const ready = [...this.sites.values()].filter((s) => s.ready).map((s) => s.channel.site);
    if (ready.length < this.spec.minSites) return;
    const round = this.nextRound;
    const participants = selectParticipants({
      ready,
      spec: this.spec,
      round,
      attempt: this.attempt,
    });
    const rate = this.samplingRate(participants.length);
    if (!this.privacy.allows(rate)) return this.stopForBudget(rate);
    this.deps.store.runs.openRound({ runId: this.id, round, attempt: this.attempt, participants });
    const open = this.openAttempt(round, this.attempt, participants);
    this.moveTo('round-open');
    this.logger.log(
      `round ${round} (attempt ${this.attempt + 1}): ${participants.length} of ${ready.length} ready sites selected`,
    );
    this.audit({
      event: 'round.started',
      round,
      attempt: this.attempt + 1,
      participants: participants.length,
      temperature: open.ledger.info.temperature,
      alpha: open.ledger.info.alpha,
      model: this.global.hash,
    });
    for (const site of participants) this.startSiteRound(this.sites.get(site)!);
  }

  /** Sites selected over sites enrolled: the attempt's sampling rate for the accountant. */
  private samplingRate(selected: number): number {
    return Math.min(1, selected / Math.max(1, enrolledCount(this.deps.store.sites)));
  }

  /** The attempt's ledger, fold and stages; its end closes or fails the round. */
  private openAttempt(
    round: number,
    attempt: number,
    participants: readonly string[],
  ): OpenAttempt {
    const { events, setup } = this.deps;
    const ledger = new RoundLedger(
      {
        round,
        attempt,
        ...distillationAt(this.spec.schedule, round, this.spec.rounds),
        selected: participants.length,
        samplingRate: this.samplingRate(participants.length),
        openedAt: this.clock.now(),
        bytesInAtOpen: events.bytesIn,
        bytesOutAtOpen: events.bytesOut,
      },
      participants,
    );
    const fold = createFold({
      spec: this.spec,
      privacy: this.privacy,
      sodium: setup.sodium,
      runId: this.id,
      round,
      attempt,
      participants,
      global: this.global.tensors,
      dimension: parameterCount(this.studentSpec),
      publicKeys: () => new Map(this.deps.store.sites.list().map((s) => [s.name, s.publicKey])),
      send: (site, message) => this.sites.get(site)?.channel.send(message),
    });
    const stages = new AttemptStages(fold, {
      clock: this.clock,
      stageMs: this.spec.roundDeadlineMs,
      awaiting: participants,
    });
    const open: OpenAttempt = { ledger, fold, stages };
    this.open = open;
    stages.result.then(
      (result) => this.attemptEnded(open, result).catch((error: Error) => this.fatal(error)),
      (error: Error) => this.fatal(error),
    );
    return open;
  }

  /** Another round would spend more than the budget: the run completes with what it has. */
  private stopForBudget(rate: number): void {
    const ledger = this.privacy.ledger!;
    const budget = ledger.config.epsilon;
    this.logger.warn(
      `round ${this.nextRound} would take epsilon past ${budget} (sampling rate ${rate.toFixed(3)}): the run stops after round ${this.lastClosedRound}`,
    );
    this.audit({
      event: 'privacy.budget_reached',
      round: this.nextRound,
      epsilon: ledger.epsilon,
      budget,
    });
    if (this.lastClosedRound === 0) {
      return this.fatal(
        new FedistillError({
          code: 'config.invalid',
          message: `the privacy budget epsilon ${budget} allows no round at sampling rate ${rate.toFixed(3)}`,
        }),
      );
    }
    this.complete('stopped-by-budget').catch((error: Error) => this.fatal(error));
  }

  /** Sends the open attempt's round.start to one of its participants. */
  private startSiteRound(site: SiteEntry): void {
    const { ledger, fold } = this.open!;
    const clipNorm = this.privacy.siteClipNorm();
    site.channel.send(
      roundStartFor(this.spec, {
        runId: this.id,
        round: ledger.round,
        modelVersion: this.global.version,
        temperature: ledger.info.temperature,
        alpha: ledger.info.alpha,
        ...this.global.offered(),
        ...(clipNorm === undefined ? {} : { clipNorm }),
        ...fold.roundStart,
      }),
    );
  }

  /** Checks a round.update, then pulls its blob; the fold happens when the blob is in. */
  private receiveUpdate(
    channel: SiteChannel,
    update: SiteMessage & { type: 'round.update' },
  ): Result<true> {
    const open = this.open;
    const checked = this.intake.check(channel, update, {
      version: this.global.version,
      lastClosedRound: this.lastClosedRound,
      open,
      late: this.late,
    });
    if (!checked.ok) return checked;
    if (checked.value === 'pull') {
      void this.intake.pull(channel, update, open!).then((outcome) => {
        if (outcome.kind === 'fatal') this.fatal(outcome.error);
      });
    }
    return ok(true);
  }

  /** The attempt's fold has its result: the round closes with it, or the attempt fails. */
  private async attemptEnded(open: OpenAttempt, result: FoldResult): Promise<void> {
    if (this.open !== open) return;
    this.open = undefined;
    if (!result.ok) return this.attemptFailed(open, result);
    const { ledger } = open;
    // Set before any await: an update for this round arriving meanwhile is a straggler's.
    this.lastClosedRound = ledger.round;
    if (this.state === 'round-open') this.moveTo('closing');
    const closed = await closeRound(ledger, result.model, {
      spec: this.spec,
      strategy: this.privacy.strategy,
      privacy: this.privacy,
      store: this.deps.store,
      student: this.student,
      evaluation: this.deps.evaluation,
      ...(this.global.mask ? { previousMask: this.global.mask.tensors } : {}),
      now: () => this.clock.now(),
      traffic: () => this.deps.events,
    });
    if (closed.spent) this.audit(this.privacy.spentEvent(ledger.round, closed.spent));
    // Cancelled while the model was written and evaluated: nothing more of it is committed.
    if (this.ended) return;
    this.commitRound(closed, ledger.info.attempt);
    if (ledger.round === this.spec.rounds) return this.complete('complete');
    this.nextRound = ledger.round + 1;
    if (this.state === 'closing') this.moveTo('waiting-for-sites');
    this.openRoundIfQuorum();
  }

  private commitRound(closed: ClosedRound, attempt: number): void {
    const { summary, model, mask, optimizerHash } = closed;
    const version = this.global.version + 1;
    this.deps.store.runs.commitRound({
      runId: this.id,
      round: summary.round,
      attempt,
      summary,
      model: {
        version,
        modelHash: model.hash,
        ...(optimizerHash === undefined ? {} : { optimizerHash }),
        ...(mask ? { maskHash: mask.hash } : {}),
      },
    });
    this.audit({
      event: 'aggregate.committed',
      round: summary.round,
      version,
      modelBefore: this.global.hash,
      modelAfter: model.hash,
      ...(mask ? { mask: mask.hash, sparsity: summary.sparsity } : {}),
    });
    this.attempt = 0;
    this.late.clear();
    this.global.advance({ model, ...(mask ? { mask } : {}) });
    this.perRound.push(summary);
    const target = closed.pruneTarget;
    this.logger.log(
      `round ${summary.round}/${summary.rounds}: T=${summary.temperature.toFixed(2)} alpha=${summary.alpha.toFixed(2)} ` +
        `participants=${summary.participants} student accuracy=${summary.student_accuracy.toFixed(4)}` +
        (target === undefined
          ? ''
          : ` sparsity=${summary.sparsity.toFixed(4)} (target ${target.toFixed(4)})`),
    );
    this.deps.events.emit('round', summary);
  }

  /** Too few updates (or the secure fold failed): nothing is applied; the round is retried. */
  private attemptFailed(open: OpenAttempt, result: Extract<FoldResult, { ok: false }>): void {
    const { ledger } = open;
    const { round, attempt } = ledger.info;
    const quorum = this.spec.minSites;
    if (result.audit) this.audit(result.audit);
    this.logger.warn(`round ${round} failed: ${result.reason}; retrying`);
    this.deps.store.runs.failRound({
      runId: this.id,
      round,
      attempt,
      outcome: {
        answered: ledger.answered.size,
        stragglers: ledger.stragglers,
        dropped: ledger.dropped.size,
      },
    });
    const updates = ledger.answered.size;
    this.audit({ event: 'round.failed', round, attempt: attempt + 1, updates, quorum });
    this.deps.events.emit('roundFailed', { round, attempt: attempt + 1, updates, quorum });
    this.late.owe(ledger.silent());
    this.attempt = attempt + 1;
    if (this.state === 'round-open') this.moveTo('waiting-for-sites');
    this.openRoundIfQuorum();
  }

  /**
   * The last round closed, or the budget allows no more: the sites are told, the final student
   * is exported and measured, and the report is stored and written.
   */
  private async complete(end: 'complete' | 'stopped-by-budget'): Promise<void> {
    this.moveTo('completing');
    const { events, setup } = this.deps;
    // The run's traffic and time end here; the sites' farewells and the export come after.
    const traffic = {
      bytes_up: events.bytesIn,
      bytes_down: events.bytesOut,
      wall_seconds: (performance.now() - setup.startedAt) / 1000,
    };
    for (const site of this.sites.values()) {
      // The rounds it had: fewer than planned when the privacy budget ended it early.
      site.channel.send({ type: 'run.complete', runId: this.id, rounds: this.perRound.length });
    }
    const report = await completeRun(
      {
        runId: this.id,
        spec: this.spec,
        studentSpec: this.studentSpec,
        student: this.student,
        weights: this.global.tensors,
        perRound: this.perRound,
        backends: this.backends,
        aggregation: this.privacy.strategy.name,
        privacy: this.privacy,
        traffic,
        stoppedByBudget: end === 'stopped-by-budget',
      },
      {
        sodium: setup.sodium,
        store: this.deps.store,
        evaluation: this.deps.evaluation,
        teacher: this.teacher,
        normalizer: setup.normalizer,
        dataset: setup.config.data.name,
        backend: setup.backend,
        exportDir: this.identity.exportDir,
        ...(this.identity.reportFile ? { reportFile: this.identity.reportFile } : {}),
        audit: (event) => this.audit(event),
      },
    );
    this.moveTo(end);
    events.emit('complete', report);
    this.resolveFinished(report);
  }

  /** The run cannot go on (the store failed): stop opening rounds and end the run with it. */
  private fatal(error: Error): void {
    this.logger.error(`the run stops: ${error.message}`);
    this.endAttempt();
    this.rejectFinished(error);
  }

  /** Complete, cancelled or stopped by its budget: sites are no longer welcome. */
  get ended(): boolean {
    return (
      this.state === 'complete' ||
      this.state === 'cancelled' ||
      this.state === 'stopped-by-budget' ||
      this.state === 'completing'
    );
  }

  /** Frees the run's tensors; safe to call again (the run's end and the coordinator's stop). */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.endAttempt();
    this.student.dispose();
    if (!this.ended)
      this.rejectFinished(new Error('the coordinator stopped before the run completed'));
  }
}
