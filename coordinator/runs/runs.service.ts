import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  Inject,
  Injectable,
  Logger,
  type OnModuleDestroy,
  type OnModuleInit,
} from '@nestjs/common';
import type * as tfl from '@tensorflow/tfjs-layers';
import {
  buildModel,
  decodeTensorBlob,
  distillationAt,
  range,
  seededRandom,
  shuffleInPlace,
  encodeTensorBlob,
  fail,
  ok,
  parameterCount,
  readWeights,
  unwrap,
  weightLayout,
  writeWeights,
  type BlobManifest,
  type MlpSpec,
  type NamedTensor,
  type Result,
  type RoundUpdate,
  type RunWelcome,
  type SiteMessage,
} from '../../protocol/index.js';
import { AGGREGATION_STRATEGY, type AggregationStrategy } from '../aggregation/strategy.js';
import { COORDINATOR_SETUP, type CoordinatorSetup } from '../coordinator-setup.js';
import { EvaluationService } from '../evaluation/evaluation.service.js';
import { CoordinatorEvents } from '../events/coordinator-events.js';
import { TeacherService } from '../teacher/teacher.service.js';
import { TransferService } from '../transfer/transfer.service.js';
import { teacherFigures, type RoundSummary, type RunReport } from './run-report.js';
import { RunState, transition } from './run-state.js';
import type { SiteChannel } from './site-channel.js';

interface SiteEntry {
  readonly channel: SiteChannel;
  ready: boolean;
}

interface OpenRound {
  readonly round: number;
  readonly temperature: number;
  readonly alpha: number;
  readonly participants: Set<string>;
  /** Sites whose update is being pulled: a second round.update from them is a duplicate. */
  readonly receiving: Set<string>;
  readonly answered: Set<string>;
  acc: unknown;
  readonly deadline: NodeJS.Timeout;
}

/**
 * One federated run: admits sites, serves the transfer set, opens each round with the global
 * student and the schedule's values, folds updates as they arrive, and closes the round when
 * every participant has answered or the deadline passes.
 */
@Injectable()
export class RunsService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('Runs');
  private state = RunState.WaitingForSites;
  private readonly sites = new Map<string, SiteEntry>();
  private readonly backends: Record<string, string> = {};
  private readonly studentSpec: MlpSpec;
  private readonly student: tfl.Sequential;
  private global: NamedTensor[] = [];
  private globalBlob: BlobManifest | undefined;
  /** The largest update blob accepted: float32 topk at full density, plus framing. */
  private readonly maxUpdateBytes: number;
  private version = 0;
  /** Attempts of the current round number; a round that fails its quorum is retried. */
  private attempt = 0;
  /** The last round that closed with a new model: updates for it or earlier are late. */
  private lastClosedRound = 0;
  private nextRound = 1;
  private open: OpenRound | undefined;
  private readonly perRound: RoundSummary[] = [];
  private resolveFinished!: (report: RunReport) => void;
  private rejectFinished!: (error: Error) => void;
  readonly finished: Promise<RunReport>;

  constructor(
    @Inject(COORDINATOR_SETUP) private readonly setup: CoordinatorSetup,
    private readonly teacher: TeacherService,
    private readonly evaluation: EvaluationService,
    @Inject(AGGREGATION_STRATEGY) private readonly strategy: AggregationStrategy<unknown>,
    private readonly events: CoordinatorEvents,
    private readonly transfer: TransferService,
  ) {
    const { config, publicSplit } = setup;
    this.studentSpec = {
      kind: 'mlp',
      inputs: publicSplit.features,
      hidden: config.run.studentHidden,
      classes: config.data.classes,
    };
    this.student = buildModel(this.studentSpec, config.run.seed);
    const layout = weightLayout(this.studentSpec);
    this.maxUpdateBytes = 8 * parameterCount(this.studentSpec) + 1024 * layout.length + 4096;
    this.finished = new Promise((resolve, reject) => {
      this.resolveFinished = resolve;
      this.rejectFinished = reject;
    });
    // Observers may never await the run; a coordinator stopped early must not crash on that.
    this.finished.catch(() => undefined);
  }

  async onModuleInit(): Promise<void> {
    this.global = await readWeights(this.student, this.studentSpec);
  }

  private get rounds(): number {
    return this.setup.config.run.rounds;
  }

  private moveTo(next: RunState): void {
    this.state = unwrap(transition(this.state, next));
  }

  /**
   * An authenticated site joins. Returns the welcome for the gateway to send once the site's
   * stream is open; the site then fetches the transfer set.
   */
  siteJoined(channel: SiteChannel): Result<RunWelcome> {
    if (this.sites.has(channel.site)) {
      return fail('session.duplicate', `${channel.site} already has an open session`);
    }
    if (this.state === RunState.Complete) {
      return fail('session.closed', 'the run is complete');
    }
    this.sites.set(channel.site, { channel, ready: false });
    this.events.emit('site', { site: channel.site, present: true, connected: this.sites.size });
    return ok({
      type: 'run.welcome',
      runId: this.setup.runId,
      site: channel.site,
      rounds: this.rounds,
      student: this.studentSpec,
      normalizer: this.setup.normalizer,
      teacher: this.teacher.descriptor,
    });
  }

  siteLeft(channel: SiteChannel): void {
    const entry = this.sites.get(channel.site);
    if (entry?.channel !== channel) return;
    this.sites.delete(channel.site);
    this.events.emit('site', { site: channel.site, present: false, connected: this.sites.size });
    const open = this.open;
    if (open && open.participants.delete(channel.site) && !open.answered.has(channel.site)) {
      this.logger.warn(`round ${open.round}: ${channel.site} left before answering`);
      this.closeRoundIfAnswered();
    }
  }

  /** Applies one validated message; an error ends that site's session and nothing else. */
  handle(channel: SiteChannel, message: SiteMessage): Result<true> {
    const entry = this.sites.get(channel.site);
    if (entry?.channel !== channel)
      return fail('session.closed', 'the session is no longer part of the run');
    switch (message.type) {
      case 'blob.request':
        return this.transfer.serve(channel, message);
      case 'blob.chunk':
        return this.transfer.accept(channel, message);
      case 'site.ready':
        return this.markReady(entry, message.transferHash, message.backend);
      case 'round.update':
        return this.receiveUpdate(channel, message);
      case 'site.leave':
        this.logger.log(`${channel.site} left: ${message.reason}`);
        return ok(true);
      default: {
        const unreachable: never = message;
        return unreachable;
      }
    }
  }

  private markReady(entry: SiteEntry, hash: Uint8Array, backend: string): Result<true> {
    if (!this.setup.sodium.memcmp(hash, this.teacher.descriptor.blob.hash)) {
      return fail('blob.hash_mismatch', 'the site holds another transfer set');
    }
    if (entry.ready) return fail('protocol.unexpected_message', 'the site was already ready');
    entry.ready = true;
    this.backends[entry.channel.site] = backend;
    this.logger.log(`${entry.channel.site} ready (backend ${backend})`);
    if (this.state === RunState.WaitingForSites) this.openRoundIfQuorum();
    return ok(true);
  }

  private readySites(): SiteEntry[] {
    return [...this.sites.values()].filter((s) => s.ready);
  }

  private openRoundIfQuorum(): void {
    const ready = this.readySites();
    if (ready.length < this.setup.config.run.minSites) return;
    const round = this.nextRound;
    const { temperature, alpha } = distillationAt(
      this.setup.config.run.schedule,
      round,
      this.rounds,
    );
    const { config } = this.setup;
    this.moveTo(RunState.RoundOpen);
    if (!this.globalBlob) {
      const bytes = unwrap(encodeTensorBlob(this.global, 'float32'));
      this.globalBlob = this.transfer.offer(bytes, config.run.blobChunkBytes);
    }
    const selected = this.select(ready);
    this.open = {
      round,
      temperature,
      alpha,
      participants: new Set(selected.map((s) => s.channel.site)),
      receiving: new Set(),
      answered: new Set(),
      acc: this.strategy.begin(this.global),
      deadline: setTimeout(() => this.closeRoundOrFail('deadline'), config.run.roundDeadlineMs),
    };
    this.logger.log(
      `round ${round} (attempt ${this.attempt + 1}): ${selected.length} of ${ready.length} ready sites selected`,
    );
    for (const site of selected) {
      site.channel.send({
        type: 'round.start',
        runId: this.setup.runId,
        round,
        modelVersion: this.version,
        temperature,
        alpha,
        localEpochs: config.run.localEpochs,
        batchSize: config.run.batchSize,
        learningRate: config.run.learningRate,
        labelSmoothing: config.run.labelSmoothing,
        proximalMu: config.run.proximalMu,
        updateEncoding: config.run.updateEncoding,
        topkFraction: config.run.topkFraction,
        ...(config.run.clipNorm === undefined ? {} : { clipNorm: config.run.clipNorm }),
        ...(config.run.distillation.hiddenState
          ? {
              hiddenState: {
                layer: config.run.distillation.hiddenState.studentLayer,
                weight: config.run.distillation.hiddenState.weight,
              },
            }
          : {}),
        model: this.globalBlob,
      });
    }
  }

  /**
   * The round's participants: a seeded choice (run seed, round and attempt) of
   * max(minSites, ceil(fraction x ready)) ready sites, so a rerun selects the same ones.
   */
  private select(ready: SiteEntry[]): SiteEntry[] {
    const { minSites, participationFraction, seed } = this.setup.config.run;
    const sorted = [...ready].sort((a, b) => a.channel.site.localeCompare(b.channel.site));
    const count = Math.min(
      sorted.length,
      Math.max(minSites, Math.ceil(participationFraction * sorted.length)),
    );
    const order = shuffleInPlace(
      range(sorted.length),
      seededRandom(seed * 1_000_003 + this.nextRound * 101 + this.attempt),
    );
    return order.slice(0, count).map((i) => sorted[i]!);
  }

  /** Checks a round.update, then pulls its blob; the fold happens when the blob is in. */
  private receiveUpdate(channel: SiteChannel, update: RoundUpdate): Result<true> {
    const open = this.open;
    const site = channel.site;
    if (update.runId === this.setup.runId && update.round <= this.lastClosedRound) {
      // A straggler: its round closed without it. Refused, but the session goes on.
      channel.send({
        type: 'update.rejected',
        runId: this.setup.runId,
        round: update.round,
        code: 'update.stale_round',
      });
      this.logger.warn(`${site}: update for round ${update.round} arrived after the round closed`);
      return ok(true);
    }
    if (
      !open ||
      update.runId !== this.setup.runId ||
      update.round !== open.round ||
      update.baseVersion !== this.version
    ) {
      return fail(
        'update.stale_round',
        `an update for round ${update.round} (version ${update.baseVersion}) is not expected`,
      );
    }
    if (!open.participants.has(site)) {
      return fail('update.not_participant', `${site} is not a participant of round ${open.round}`);
    }
    if (open.answered.has(site) || open.receiving.has(site)) {
      return fail('update.duplicate', `${site} already sent its update for round ${open.round}`);
    }
    open.receiving.add(site);
    void this.transfer
      .pull(channel, update.delta, this.maxUpdateBytes)
      .then((bytes) => this.foldUpdate(channel, open, update, bytes));
    return ok(true);
  }

  private foldUpdate(
    channel: SiteChannel,
    open: OpenRound,
    update: RoundUpdate,
    bytes: Result<Uint8Array>,
  ): void {
    open.receiving.delete(channel.site);
    // The round may have closed (deadline) while the blob was in flight: nothing is applied.
    if (this.open !== open || !open.participants.has(channel.site)) return;
    const delta = bytes.ok ? decodeTensorBlob(bytes.value) : bytes;
    const folded = delta.ok
      ? this.strategy.fold(open.acc, {
          site: channel.site,
          delta: delta.value,
          numExamples: update.numExamples,
        })
      : delta;
    if (!folded.ok) {
      channel.refuse(folded.error.code, folded.error.message);
      return;
    }
    open.acc = folded.value;
    open.answered.add(channel.site);
    channel.send({ type: 'update.accepted', runId: this.setup.runId, round: open.round });
    this.closeRoundIfAnswered();
  }

  /** Closes the round once no participant is still expected (all answered, or left). */
  private closeRoundIfAnswered(): void {
    const open = this.open;
    if (open && [...open.participants].every((s) => open.answered.has(s))) {
      this.closeRoundOrFail('answered');
    }
  }

  private closeRoundOrFail(why: 'answered' | 'deadline'): void {
    this.closeRound(why).catch((error: Error) => {
      this.logger.error(`closing the round failed: ${error.message}`);
      this.rejectFinished(error);
    });
  }

  /**
   * Folds the round into the global model and evaluates it; the next round opens after. With
   * fewer than minSites updates the round fails instead: nothing is applied, and the same round
   * is tried again (a fresh selection) once enough sites are ready.
   */
  private async closeRound(why: 'answered' | 'deadline'): Promise<void> {
    const open = this.open;
    if (!open) return;
    clearTimeout(open.deadline);
    this.open = undefined;
    const quorum = this.setup.config.run.minSites;
    const next = open.answered.size >= quorum ? this.strategy.close(open.acc) : undefined;
    if (!next) {
      this.logger.warn(
        `round ${open.round} failed (${why}): ${open.answered.size} of ${quorum} required updates; retrying`,
      );
      this.events.emit('roundFailed', {
        round: open.round,
        attempt: this.attempt + 1,
        updates: open.answered.size,
        quorum,
      });
      this.attempt++;
      this.moveTo(RunState.WaitingForSites);
      this.openRoundIfQuorum();
      return;
    }
    this.attempt = 0;
    this.lastClosedRound = open.round;
    this.global = next;
    this.version++;
    if (this.globalBlob) this.transfer.withdraw(this.globalBlob);
    this.globalBlob = undefined;
    writeWeights(this.student, this.global);
    const summary: RoundSummary = {
      round: open.round,
      rounds: this.rounds,
      temperature: open.temperature,
      alpha: open.alpha,
      participants: open.answered.size,
      student_accuracy: await this.evaluation.accuracy(this.student),
    };
    this.perRound.push(summary);
    this.logger.log(
      `round ${summary.round}/${summary.rounds}: T=${summary.temperature.toFixed(2)} alpha=${summary.alpha.toFixed(2)} ` +
        `participants=${summary.participants} student accuracy=${summary.student_accuracy.toFixed(4)}`,
    );
    this.events.emit('round', summary);
    if (open.round === this.rounds) {
      this.complete();
      return;
    }
    this.nextRound = open.round + 1;
    this.moveTo(RunState.WaitingForSites);
    this.openRoundIfQuorum();
  }

  private complete(): void {
    this.moveTo(RunState.Complete);
    const { config } = this.setup;
    const last = this.perRound[this.perRound.length - 1]!;
    const siteNames = Object.keys(this.backends).sort();
    const report: RunReport = {
      run_id: this.setup.runId,
      dataset: config.data.name,
      sites: siteNames.length,
      site_names: siteNames,
      site_backends: Object.fromEntries(siteNames.map((s) => [s, this.backends[s]!])),
      rounds: this.rounds,
      aggregation: this.strategy.name,
      per_round: this.perRound,
      ...teacherFigures(this.teacher.summary),
      student_accuracy: last.student_accuracy,
      majority_class_rate: this.evaluation.majorityClassRate,
      held_out_rows: this.evaluation.rows,
      student_params: parameterCount(this.studentSpec),
      bytes_up: this.events.bytesIn,
      bytes_down: this.events.bytesOut,
      wall_seconds: (performance.now() - this.setup.startedAt) / 1000,
      backend: this.setup.backend,
    };
    for (const site of this.sites.values()) {
      site.channel.send({ type: 'run.complete', runId: this.setup.runId, rounds: this.rounds });
    }
    this.events.emit('complete', report);
    mkdir(path.dirname(config.reportFile), { recursive: true })
      .then(() => writeFile(config.reportFile, JSON.stringify(report, null, 2) + '\n'))
      .then(
        () => this.resolveFinished(report),
        (error: Error) => this.rejectFinished(error),
      );
  }

  onModuleDestroy(): void {
    if (this.open) clearTimeout(this.open.deadline);
    this.student.dispose();
    if (this.state !== RunState.Complete)
      this.rejectFinished(new Error('the coordinator stopped before the run completed'));
  }
}
