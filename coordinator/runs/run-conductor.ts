import { Logger } from '@nestjs/common';
import type * as tfl from '@tensorflow/tfjs-layers';
import {
  buildModel,
  encodeTensorBlob,
  fail,
  FedistillError,
  ok,
  readWeights,
  toHex,
  transition,
  unwrap,
  writeWeights,
  type CoordinatorMessage,
  type Result,
  type RunState,
  type RunWelcome,
  type SiteMessage,
  type StudentSpec,
} from '../../protocol/index.js';
import type { AuditEvent } from '../events/coordinator-events.js';
import { PrivacyPlan } from '../privacy/privacy-plan.js';
import type { StoredRun } from '../store/store.js';
import type { PreparedTeacher } from '../teacher/prepared-teacher.js';
import { systemClock, type Clock } from './clock.js';
import type { FoldResult } from './round/round-fold.js';
import type { OpenAttempt } from './round/update-intake.js';
import { completeRun } from './run-completion.js';
import type { LiveRunStatus, RunDeps, RunIdentity } from './run-deps.js';
import type { RunReport } from './run-report.js';
import { readRestoredRun } from './run-restore.js';
import { RunRounds } from './run-rounds.js';
import { RunSites } from './run-sites.js';
import { RunTrafficLedger } from './run-traffic.js';
import { studentSpecOf, type RunSpec } from './run-spec.js';
import type { SiteChannel } from './site-channel.js';

/** The states in which a run no longer takes sites or sends them anything. */
const ENDED: readonly RunState[] = ['completing', 'complete', 'cancelled', 'stopped-by-budget'];

/**
 * One federated run's conductor: admits sites, dispatches their messages and drives the run's
 * state (protocol/run-state.ts). The rounds themselves are RunRounds' and the parts under
 * round/ and secure/, which return outcomes as data; the conductor does no arithmetic.
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
  /** Settles once the last state entered is durable (and every change asked for before it). */
  private stateStored: Promise<void> = Promise.resolve();
  private disposed = false;
  private readonly clock: Clock;
  private readonly privacy: PrivacyPlan;
  private readonly sites = new RunSites();
  private readonly studentSpec: StudentSpec;
  private readonly student: tfl.LayersModel;
  /** A run over text: the tokenizer every site fetches before the transfer set. */
  private readonly tokenizer: RunWelcome['tokenizer'];
  private rounds!: RunRounds;
  private readonly traffic: RunTrafficLedger;
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
    this.privacy = unwrap(PrivacyPlan.create(spec, deps.registry.enrolledCount));
    const { config, publicSplit } = deps.setup;
    this.studentSpec = unwrap(
      studentSpecOf(spec, {
        inputs: publicSplit.features,
        classes: config.data.classes,
        vocabulary: deps.setup.text?.vocabulary,
      }),
    );
    this.student = buildModel(this.studentSpec, spec.seed);
    const text = deps.setup.text;
    this.tokenizer = text && {
      blob: deps.transfer.offer(text.tokenizer, spec.blobChunkBytes),
      length: text.length,
    };
    this.traffic = new RunTrafficLedger(this.id, {
      setup: deps.setup,
      events: deps.events,
      store: deps.store.runs,
    });
    this.finished = new Promise((resolve, reject) => {
      this.resolveFinished = resolve;
      this.rejectFinished = reject;
    });
    // Observers may never await the run; a coordinator stopped early must not crash on that.
    this.finished.catch(() => undefined);
  }

  /** The run's rounds, from its global model: version 0, or the last committed one. */
  private roundsFrom(current: ConstructorParameters<typeof RunRounds>[1]): RunRounds {
    const { deps, id, spec, studentSpec, student, privacy, clock, logger } = this;
    const audit = (event: AuditEvent): void => this.audit(event);
    const records = { runId: id, store: deps.store, events: deps.events, audit, logger };
    const send = (site: string, message: CoordinatorMessage): void =>
      this.sites.send(site, message);
    const persist = (change: Promise<void>): void => void this.persist(change);
    const run = { id, spec, deps, clock, privacy, studentSpec, student, records, send, persist };
    return new RunRounds(run, current);
  }

  /** Starts the run (its first model stored), or continues a run found in the store. */
  async start(resumed?: StoredRun): Promise<void> {
    if (resumed) return this.restore(resumed);
    const tensors = await readWeights(this.student, this.studentSpec);
    const bytes = unwrap(encodeTensorBlob(tensors, 'float32'));
    const hash = await this.deps.store.models.writeBlob(bytes);
    this.rounds = this.roundsFrom({ version: 0, model: { tensors, bytes, hash } });
    await this.deps.store.runs.start({ runId: this.id, initial: { version: 0, modelHash: hash } });
    this.traffic.start();
    this.state = unwrap(transition(this.state, 'waiting-for-sites'));
  }

  /** Continues a run from the store: its model, optimizer state, closed rounds and open round. */
  private async restore(run: StoredRun): Promise<void> {
    const restored = await readRestoredRun(this.deps.store, run);
    const { model, mask, optimizerState, open } = restored;
    this.rounds = this.roundsFrom({ version: run.modelVersion, model, ...(mask ? { mask } : {}) });
    writeWeights(this.student, model.tensors);
    if (optimizerState) {
      const imported = this.privacy.strategy.importState?.(optimizerState);
      unwrap(imported ?? fail('config.invalid', 'no optimizer state'));
    }
    this.rounds.restore(run, restored);
    this.traffic.start();
    // Restored, not entered: the stored state is where the previous process left the run.
    this.state = run.state === 'paused' ? 'paused' : 'waiting-for-sites';
    this.logger.log(
      `resuming run ${run.id} at round ${run.nextRound} (attempt ${run.attempt + 1}), model version ${run.modelVersion}`,
    );
    if (run.lastClosedRound === this.spec.rounds) return this.complete('complete');
    if (!open || !this.rounds.resume(open)) return;
    this.watch(this.rounds.open!);
    if (this.state === 'waiting-for-sites') this.moveTo('round-open');
  }

  /** Sends one message to every site with a session in this run. */
  broadcast(message: CoordinatorMessage): void {
    // After run.complete (the final frame) nothing more goes to the run's sites.
    if (this.ended) return;
    for (const channel of this.sites.channels()) channel.send(message);
  }

  private audit(event: AuditEvent): void {
    this.deps.events.emit('audit', { ...event, run: this.id });
    // Each audited step is committed: the traffic that led to it is committed with it.
    void this.traffic.checkpoint();
  }

  /** Where the run is, for the API: round, attempt, model version, sites (the state is stored). */
  status(): LiveRunStatus {
    return { ...this.rounds.live(), sites: this.sites.rows() };
  }

  /** No new round opens until resume; a round already open closes as usual. */
  async pause(): Promise<Result<true>> {
    const moved = this.tryMoveTo('paused');
    if (!moved.ok) return moved;
    this.logger.log(`run ${this.id} paused`);
    await this.stateStored;
    return moved;
  }

  async resume(): Promise<Result<true>> {
    if (this.state !== 'paused')
      return fail('run.illegal_transition', `run ${this.id} is not paused`);
    this.moveTo(this.rounds.open ? 'round-open' : 'waiting-for-sites');
    this.logger.log(`run ${this.id} resumed`);
    this.openRoundIfQuorum();
    await this.stateStored;
    return ok(true);
  }

  /** Ends the run now: the open round is dropped, every session is told `run.cancelled`. */
  async cancel(): Promise<Result<true>> {
    const moved = this.tryMoveTo('cancelled');
    if (!moved.ok) return moved;
    this.rounds.end();
    this.traffic.stop();
    for (const channel of this.sites.channels()) channel.refuse('run.cancelled', 'cancelled');
    this.logger.warn(`run ${this.id} cancelled`);
    const message = `run ${this.id} was cancelled`;
    this.rejectFinished(new FedistillError({ code: 'run.cancelled', message }));
    await this.stateStored;
    return ok(true);
  }

  /**
   * Enters `next` if the state machine allows it, and stores it: the store keeps changes in
   * the order asked, so `stateStored` settles once this state and all before it are durable.
   */
  private tryMoveTo(next: RunState): Result<true> {
    const moved = transition(this.state, next);
    if (!moved.ok) return fail('run.illegal_transition', `run ${this.id} is ${this.state}`);
    this.state = next;
    this.stateStored = this.persist(this.deps.store.runs.setState({ runId: this.id, state: next }));
    return ok(true);
  }

  /** A change the run goes on without waiting for: if the store fails it, the run stops. */
  private persist(change: Promise<void>): Promise<void> {
    return change.catch((error: Error) => this.fatal(error));
  }

  private moveTo(next: RunState): void {
    unwrap(this.tryMoveTo(next));
  }

  /**
   * An authenticated site joins. Returns the welcome for the gateway to send once the site's
   * stream is open; the site then fetches the transfer set.
   */
  siteJoined(channel: SiteChannel): Result<RunWelcome> {
    if (this.ended) return fail('session.closed', `the run is ${this.state}`);
    const joined = this.sites.join(channel);
    if (!joined.ok) return joined;
    const site = channel.site;
    void this.persist(this.deps.store.sites.markConnected(site));
    this.deps.events.emit('site', { site, present: true, connected: this.sites.size });
    return ok({
      type: 'run.welcome',
      runId: this.id,
      site,
      rounds: this.spec.rounds,
      student: this.studentSpec,
      features: [...this.deps.setup.publicSplit.featureNames],
      normalizer: this.deps.setup.normalizer,
      teacher: this.teacher.descriptor,
      ...(this.tokenizer ? { tokenizer: this.tokenizer } : {}),
    });
  }

  siteLeft(channel: SiteChannel): void {
    const site = channel.site;
    if (!this.sites.leave(channel)) return;
    this.rounds.forget(site);
    this.deps.events.emit('site', { site, present: false, connected: this.sites.size });
    const open = this.rounds.open;
    if (open?.ledger.left(site)) {
      this.logger.warn(`round ${open.ledger.round}: ${site} left before answering`);
      this.audit({ event: 'site.dropped', round: open.ledger.round, site });
    }
    // A secure attempt also waits on answered sites (their unmask shares): it stops waiting.
    open?.stages.left(site);
  }

  /** Applies one validated message; an error ends that site's session and nothing else. */
  handle(channel: SiteChannel, message: SiteMessage): Result<true> {
    if (!this.sites.holds(channel))
      return fail('session.closed', 'the session is no longer part of the run');
    switch (message.type) {
      case 'blob.request':
        return this.deps.transfer.serve(channel, message);
      case 'blob.chunk':
        return this.deps.transfer.accept(channel, message);
      case 'site.ready':
        return this.markReady(channel.site, message.transferHash, message.backend);
      case 'round.update':
        return this.rounds.receive(channel, message, (error) => this.fatal(error));
      case 'site.leave':
        this.logger.log(`${channel.site} left: ${message.reason}`);
        return ok(true);
      case 'secagg.keys':
      case 'secagg.shares':
      case 'secagg.signature':
      case 'secagg.unmask_response': {
        const open = this.rounds.open;
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

  private markReady(site: string, hash: Uint8Array, backend: string): Result<true> {
    if (!this.deps.setup.sodium.memcmp(hash, this.teacher.descriptor.blob.hash)) {
      return fail('blob.hash_mismatch', 'the site holds another transfer set');
    }
    const ready = this.sites.ready(site, backend);
    if (!ready.ok) return ready;
    this.logger.log(`${site} ready (backend ${backend})`);
    // The site holds the soft labels it pulled (each chunk verified): logged by their hash.
    this.audit({ event: 'softlabels.served', site, softLabels: toHex(hash) });
    if (this.rounds.open?.ledger.awaits(site)) this.rounds.startFor(site);
    else this.openRoundIfQuorum();
    return ok(true);
  }

  private openRoundIfQuorum(): void {
    if (this.state !== 'waiting-for-sites') return;
    const opened = this.rounds.tryOpen(this.sites.readyNames());
    switch (opened.kind) {
      case 'waiting':
        return;
      case 'over-budget':
        return this.stopForBudget();
      case 'opened':
        this.watch(opened.open);
        this.moveTo('round-open');
        this.rounds.startAll(opened.participants);
        return;
      default: {
        const unreachable: never = opened;
        return unreachable;
      }
    }
  }

  /** The attempt's end closes or fails the round. */
  private watch(open: OpenAttempt): void {
    void open.stages.result.then((result) =>
      this.attemptEnded(open, result).catch((error: Error) => this.fatal(error)),
    );
  }

  /** Another round would spend more than the budget: the run completes with what it has. */
  private stopForBudget(): void {
    const ledger = this.privacy.ledger!;
    const { epsilon } = ledger;
    const budget = ledger.config.epsilon;
    const at = `noise multiplier ${ledger.noiseMultiplier}`;
    const round = this.rounds.nextRound;
    this.logger.warn(
      `round ${round} would take epsilon past ${budget} (${at}): the run stops after round ${round - 1}`,
    );
    this.audit({ event: 'privacy.budget_reached', round, epsilon, budget });
    if (this.rounds.lastClosedRound === 0) {
      const message = `the privacy budget epsilon ${budget} allows no round at ${at}`;
      return this.fatal(new FedistillError({ code: 'config.invalid', message }));
    }
    this.complete('stopped-by-budget').catch((error: Error) => this.fatal(error));
  }

  /** The attempt's fold has its result: the round closes with it, or the attempt fails. */
  private async attemptEnded(open: OpenAttempt, result: FoldResult): Promise<void> {
    if (!this.rounds.take(open)) return;
    await this.rounds.updatesStored();
    // Cancelled meanwhile: the run ended with the attempt.
    if (this.ended) return;
    if (!result.ok) {
      void this.persist(this.rounds.fail(open, result));
      if (this.state === 'round-open') this.moveTo('waiting-for-sites');
      return this.openRoundIfQuorum();
    }
    if (this.state === 'round-open') this.moveTo('closing');
    // Outlying updates (bounded in norm or weight) are on the record before the round closes.
    for (const event of result.audit ?? []) this.audit({ ...event, round: open.ledger.round });
    const closed = await this.rounds.close(open, result.model);
    // Cancelled while the model was written and evaluated: nothing more of it is committed.
    if (this.ended) return;
    await this.rounds.store(open, closed);
    // Synchronous from here: whoever awaits the round event finds the next round open.
    if (this.rounds.commit(open, closed) === 'last') return this.complete('complete');
    if (this.state === 'closing') this.moveTo('waiting-for-sites');
    this.openRoundIfQuorum();
  }

  /**
   * The last round closed, or the budget allows no more: the sites are told, the final student
   * is exported and measured, and the report is stored and written.
   */
  private async complete(end: 'complete' | 'stopped-by-budget'): Promise<void> {
    const { events, setup, store, evaluation } = this.deps;
    // The rounds each site had: fewer than planned when the privacy budget ended it early.
    const rounds = this.rounds.closed.length;
    // Before the state is ended (broadcasts stop): the head over run.completed reaches the
    // sites ahead of run.complete, their final frame (PROTOCOL.md section 10.4).
    const held: Promise<unknown>[] = [];
    events.emit('ending', { run: this.id, rounds, hold: (work) => held.push(work) });
    await Promise.all(held);
    this.moveTo('completing');
    // The run's traffic and time end here, over every process that served it; the sites'
    // farewells and the export come after.
    const traffic = await this.traffic.close();
    for (const channel of this.sites.channels()) {
      channel.send({ type: 'run.complete', runId: this.id, rounds });
    }
    const { id: runId, spec, studentSpec, student, privacy, teacher, identity } = this;
    const report = await completeRun(
      {
        ...{ runId, spec, studentSpec, student, privacy, traffic },
        weights: this.rounds.global.tensors,
        perRound: this.rounds.closed,
        backends: this.sites.backends,
        end,
      },
      { setup, store, evaluation, teacher, identity, audit: (event) => this.audit(event) },
    );
    // Stored with the report, in one step.
    this.state = unwrap(transition(this.state, end));
    events.emit('complete', report);
    this.resolveFinished(report);
  }

  /** The run cannot go on (the store failed): stop opening rounds and end the run with it. */
  private fatal(error: Error): void {
    this.logger.error(`the run stops: ${error.message}`);
    this.rounds.end();
    this.traffic.stop();
    this.rejectFinished(error);
  }

  /** Completing or over: sites are no longer welcome, nothing more is sent to them. */
  get ended(): boolean {
    return ENDED.includes(this.state);
  }

  /** Frees the run's tensors; safe to call again (the run's end and the coordinator's stop). */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.rounds?.end();
    this.traffic.stop();
    this.student.dispose();
    if (!this.ended)
      this.rejectFinished(new Error('the coordinator stopped before the run completed'));
  }
}
