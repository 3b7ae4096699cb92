import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Logger } from '@nestjs/common';
import type * as tfl from '@tensorflow/tfjs-layers';
import {
  buildModel,
  decodeKey,
  decodeTensorBlob,
  defaultDegree,
  distillationAt,
  ringDegree,
  range,
  seededRandom,
  shuffleInPlace,
  encodeTensorBlob,
  fail,
  FedistillError,
  ok,
  parameterCount,
  readWeights,
  toHex,
  unwrap,
  weightLayout,
  writeWeights,
  type BlobManifest,
  type StudentSpec,
  type NamedTensor,
  type TeacherDescriptor,
  type CoordinatorMessage,
  type Result,
  type RoundStart,
  type RoundUpdate,
  type RunWelcome,
  type SecureRound,
  type SiteMessage,
} from '../../protocol/index.js';
import type { AggregationStrategy } from '../aggregation/strategy.js';
import { createStrategy } from '../aggregation/strategy-config.js';
import { DpFedAvg } from '../privacy/dp-fedavg.js';
import { enrolledCount, plannedParticipants, RunPrivacy } from '../privacy/run-privacy.js';
import { compressStudent } from '../compression/compression-report.js';
import { kernelSparsity } from '../compression/pruning-mask.js';
import { pruneRound } from '../compression/round-pruning.js';
import type { CoordinatorSetup } from '../coordinator-setup.js';
import type { EvaluationService } from '../evaluation/evaluation.service.js';
import type { AuditEvent, CoordinatorEvents } from '../events/coordinator-events.js';
import type { CoordinatorStore, OpenRoundRecord, StoredRun } from '../store/store.js';
import type { TransferService } from '../transfer/transfer.service.js';
import type { TeacherSummary } from '../teacher/teacher.service.js';
import { teacherFigures, type RoundSummary, type RunReport } from './run-report.js';
import { studentSpecOf, type RunSpec } from './run-spec.js';
import { RunState, transition } from './run-state.js';
import { CoordinatorSecureRound, type SecureSum } from './secure-round.js';
import type { SiteChannel } from './site-channel.js';

/** What a run needs of the coordinator: its setup, services and store. */
export interface RunDeps {
  readonly setup: CoordinatorSetup;
  readonly evaluation: EvaluationService;
  readonly events: CoordinatorEvents;
  readonly transfer: TransferService;
  readonly store: CoordinatorStore;
}

/** The teacher as prepared for a run: what sites are told, and its figures for the report. */
export interface PreparedTeacher {
  readonly descriptor: TeacherDescriptor;
  readonly summary: TeacherSummary;
  /** The teacher model again, for a teacher that is one (not imported logits). */
  readonly loadModel?: () => Promise<tfl.LayersModel>;
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

/** The pruning mask of the global model: stored, and offered to the round's sites with it. */
interface PruningMask {
  readonly tensors: NamedTensor[];
  /** A float16 tensor blob: 0 and 1 are exact in it, at half the bytes of float32. */
  readonly bytes: Uint8Array;
  blob?: BlobManifest;
}

interface OpenRound {
  readonly round: number;
  readonly attempt: number;
  readonly temperature: number;
  readonly alpha: number;
  readonly participants: Set<string>;
  /** Sites whose update is being pulled: a second round.update from them is a duplicate. */
  readonly receiving: Set<string>;
  readonly answered: Set<string>;
  /** How many were selected; participants loses the sites that leave before answering. */
  readonly selected: number;
  readonly dropped: Set<string>;
  /** Sites selected over sites enrolled: the round's sampling rate for the accountant. */
  readonly samplingRate: number;
  /** Date.now() and the coordinator's byte counters when the attempt opened (or resumed). */
  readonly openedAt: number;
  readonly bytesInAtOpen: number;
  readonly bytesOutAtOpen: number;
  acc: unknown;
  /** Absent for a secure round, whose stages keep their own time. */
  readonly deadline: NodeJS.Timeout | undefined;
  /** The round's SecAgg+ part and its settings, when the run aggregates securely. */
  readonly secure?: { readonly round: CoordinatorSecureRound; readonly settings: SecureRound };
}

/**
 * One federated run: admits sites, serves the transfer set, opens each round with the global
 * student and the schedule's values, folds updates as they arrive, and closes the round when
 * every participant has answered or the deadline passes.
 *
 * Every step is committed to the store before anyone is told of it: the round and its
 * participants when it opens, each update before its acknowledgement, the new model with the
 * round's summary when it closes. A coordinator restarted on the same store resumes the same
 * round: acknowledged updates are folded again from the store, and only the participants that
 * had not been acknowledged are asked (again) when they reconnect.
 */
export class FederatedRun {
  private readonly logger = new Logger('Runs');
  private state = RunState.WaitingForSites;
  /** Set by an operator: the open round may close, but no new round opens until resumed. */
  private paused = false;
  private disposed = false;
  private readonly strategy: AggregationStrategy<unknown>;
  /** The privacy ledger, when the run is differentially private. */
  private readonly privacy: RunPrivacy | undefined;
  /** Set when the run ended early because another round would exceed its privacy budget. */
  private stoppedByBudget = false;
  private readonly sites = new Map<string, SiteEntry>();
  private readonly backends: Record<string, string> = {};
  private readonly studentSpec: StudentSpec;
  private readonly student: tfl.Sequential;
  private global: NamedTensor[] = [];
  /** The global model as a float32 tensor blob: stored, and offered to the round's sites. */
  private globalBytes: Uint8Array = new Uint8Array(0);
  /** Its content hash (hex), as the store named it: the audit log's model identity. */
  private globalHash = '';
  private globalBlob: BlobManifest | undefined;
  /** Set once run.compression.pruning has pruned anything; it only ever grows. */
  private mask: PruningMask | undefined;
  /** The largest update blob accepted: float32 topk at full density, plus framing. */
  private readonly maxUpdateBytes: number;
  private version = 0;
  /** Attempts of the current round number; a round that fails its quorum is retried. */
  private attempt = 0;
  /** The last round that closed with a new model: updates for it or earlier are late. */
  private lastClosedRound = 0;
  /**
   * Per site, the failed attempts of the open round it was sent and did not answer. A site
   * answers each round.start in turn, so its next updates for this round are those late answers.
   */
  private readonly lateAnswers = new Map<string, number>();
  private nextRound = 1;
  private open: OpenRound | undefined;
  private readonly perRound: RoundSummary[] = [];
  private resolveFinished!: (report: RunReport) => void;
  private rejectFinished!: (error: Error) => void;
  readonly finished: Promise<RunReport>;

  private readonly setup: CoordinatorSetup;
  private readonly evaluation: EvaluationService;
  private readonly events: CoordinatorEvents;
  private readonly transfer: TransferService;
  private readonly store: CoordinatorStore;
  readonly id: string;

  constructor(
    deps: RunDeps,
    private readonly identity: RunIdentity,
    private readonly spec: RunSpec,
    private readonly teacher: PreparedTeacher,
  ) {
    ({
      setup: this.setup,
      evaluation: this.evaluation,
      events: this.events,
      transfer: this.transfer,
      store: this.store,
    } = deps);
    this.id = identity.id;
    const dp = spec.privacy.dp;
    if (dp) {
      const enrolled = enrolledCount(deps.store.sites);
      const expected = plannedParticipants(spec, enrolled);
      // Both were checked when the run was created (RunsService.create).
      this.privacy = unwrap(RunPrivacy.create(dp, expected / Math.max(1, enrolled), spec.rounds));
      this.strategy = unwrap(DpFedAvg.create(dp, this.privacy.noiseMultiplier, expected));
    } else {
      this.strategy = createStrategy(spec.aggregation);
    }
    const { config, publicSplit } = this.setup;
    // Checked against the data when the run was created (RunsService.create).
    this.studentSpec = unwrap(studentSpecOf(spec, publicSplit.features, config.data.classes));
    this.student = buildModel(this.studentSpec, spec.seed);
    const layout = weightLayout(this.studentSpec);
    this.maxUpdateBytes = 8 * parameterCount(this.studentSpec) + 1024 * layout.length + 4096;
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
    this.global = await readWeights(this.student, this.studentSpec);
    this.globalBytes = unwrap(encodeTensorBlob(this.global, 'float32'));
    const modelHash = await this.store.models.writeBlob(this.globalBytes);
    this.globalHash = modelHash;
    this.store.runs.start({ runId: this.id, initial: { version: 0, modelHash } });
  }

  /** Continues a run from the store: its model, optimizer state, closed rounds and open round. */
  private async restore(run: StoredRun): Promise<void> {
    const model = this.store.models.get({ runId: run.id, version: run.modelVersion });
    this.globalBytes = await this.store.models.readBlob(model.modelHash);
    this.globalHash = model.modelHash;
    this.global = unwrap(decodeTensorBlob(this.globalBytes));
    writeWeights(this.student, this.global);
    if (model.optimizerHash !== undefined) {
      const state = unwrap(decodeTensorBlob(await this.store.models.readBlob(model.optimizerHash)));
      unwrap(this.strategy.importState?.(state) ?? fail('config.invalid', 'no optimizer state'));
    }
    if (model.maskHash !== undefined) {
      const bytes = await this.store.models.readBlob(model.maskHash);
      this.mask = { tensors: unwrap(decodeTensorBlob(bytes)), bytes };
    }
    this.version = run.modelVersion;
    this.nextRound = run.nextRound;
    this.attempt = run.attempt;
    this.lastClosedRound = run.lastClosedRound;
    this.perRound.push(...this.store.runs.closedRounds(run.id));
    // The ledger is replayed from the closed rounds: the same steps, the same epsilon.
    for (const round of this.perRound) {
      if (round.sampling_rate !== undefined) this.privacy?.record(round.sampling_rate);
    }
    this.paused = run.state === 'paused';
    this.logger.log(
      `resuming run ${run.id} at round ${run.nextRound} (attempt ${run.attempt + 1}), model version ${run.modelVersion}`,
    );
    if (run.lastClosedRound === this.rounds) {
      this.moveTo(RunState.RoundOpen);
      await this.complete();
      return;
    }
    const open = this.store.runs.openRoundOf(run);
    if (!open) return;
    if (!this.spec.privacy.secureAggregation?.enabled) {
      this.resumeRound(open);
      return;
    }
    // A secure round's keys and shares died with the process: the attempt fails and the round
    // starts again with fresh keys once enough sites are back.
    this.store.runs.failRound({
      runId: run.id,
      round: open.round,
      attempt: open.attempt,
      outcome: {
        answered: open.updates.length,
        stragglers: 0,
        dropped: open.participants.length - open.updates.length,
      },
    });
    this.attempt = open.attempt + 1;
    this.logger.log(`round ${open.round}: the secure attempt open at the restart starts again`);
  }

  /** Reopens a round the previous process left open, with the updates it acknowledged. */
  private resumeRound(record: OpenRoundRecord): void {
    let acc = this.strategy.begin(this.global);
    for (const update of record.updates) {
      const delta = unwrap(decodeTensorBlob(update.bytes));
      acc = unwrap(this.strategy.fold(acc, { ...update, delta }));
    }
    this.moveTo(RunState.RoundOpen);
    this.open = {
      ...this.roundValues(record.round),
      attempt: record.attempt,
      participants: new Set(record.participants),
      receiving: new Set(),
      answered: new Set(record.updates.map((u) => u.site)),
      ...this.attemptStart(record.participants.length),
      acc,
      deadline: this.armDeadline(),
    };
    this.logger.log(
      `round ${record.round} resumed: ${record.updates.length} of ${record.participants.length} updates already in`,
    );
  }

  private attemptStart(
    selected: number,
  ): Pick<
    OpenRound,
    'selected' | 'dropped' | 'samplingRate' | 'openedAt' | 'bytesInAtOpen' | 'bytesOutAtOpen'
  > {
    return {
      selected,
      dropped: new Set(),
      samplingRate: Math.min(1, selected / Math.max(1, enrolledCount(this.store.sites))),
      openedAt: Date.now(),
      bytesInAtOpen: this.events.bytesIn,
      bytesOutAtOpen: this.events.bytesOut,
    };
  }

  private roundValues(round: number): { round: number; temperature: number; alpha: number } {
    return { round, ...distillationAt(this.spec.schedule, round, this.rounds) };
  }

  private armDeadline(): NodeJS.Timeout {
    return setTimeout(() => this.closeRoundOrFail('deadline'), this.spec.roundDeadlineMs);
  }

  /** One BLAKE2b-256 over an exported model's files in name order (model.json and shards). */
  private async hashFiles(dir: string): Promise<string> {
    const state = this.setup.sodium.crypto_generichash_init(null, 32);
    for (const name of (await readdir(dir)).sort()) {
      this.setup.sodium.crypto_generichash_update(state, await readFile(path.join(dir, name)));
    }
    return toHex(this.setup.sodium.crypto_generichash_final(state, 32));
  }

  /** Sends one message to every site with a session in this run. */
  broadcast(message: CoordinatorMessage): void {
    // After run.complete (the final frame) nothing more goes to the run's sites.
    if (this.ended) return;
    for (const site of this.sites.values()) site.channel.send(message);
  }

  /** Records an event of this run in the audit log. */
  private audit(event: AuditEvent): void {
    this.events.emit('audit', { ...event, run: this.id });
  }

  private get rounds(): number {
    return this.spec.rounds;
  }

  private get secureAggregation(): boolean {
    return this.spec.privacy.secureAggregation?.enabled === true;
  }

  get isPaused(): boolean {
    return this.paused;
  }

  /** Where the run is, for the API: state, round, attempt, model version, sites. */
  status(): {
    state: 'waiting-for-sites' | 'round-open' | 'paused' | 'complete' | 'cancelled';
    round: number;
    attempt: number;
    modelVersion: number;
    sites: { site: string; ready: boolean; backend?: string }[];
    participants: string[];
    answered: string[];
  } {
    return {
      state: this.paused && this.state === RunState.WaitingForSites ? 'paused' : this.state,
      round: this.open?.round ?? this.nextRound,
      attempt: this.attempt + 1,
      modelVersion: this.version,
      sites: [...this.sites.values()].map((s) => ({
        site: s.channel.site,
        ready: s.ready,
        ...(this.backends[s.channel.site] ? { backend: this.backends[s.channel.site] } : {}),
      })),
      participants: [...(this.open?.participants ?? [])],
      answered: [...(this.open?.answered ?? [])],
    };
  }

  /** No new round opens until resume; a round already open closes as usual. */
  pause(): Result<true> {
    if (this.state === RunState.Complete || this.state === RunState.Cancelled)
      return fail('run.illegal_transition', `run ${this.id} is ${this.state}`);
    if (this.paused) return fail('run.illegal_transition', `run ${this.id} is already paused`);
    this.paused = true;
    this.store.runs.setState({ runId: this.id, state: 'paused' });
    this.logger.log(`run ${this.id} paused`);
    return ok(true);
  }

  resume(): Result<true> {
    if (!this.paused) return fail('run.illegal_transition', `run ${this.id} is not paused`);
    this.paused = false;
    this.store.runs.setState({ runId: this.id, state: 'waiting-for-sites' });
    this.logger.log(`run ${this.id} resumed`);
    if (this.state === RunState.WaitingForSites) this.openRoundIfQuorum();
    return ok(true);
  }

  /** Ends the run now: the open round is dropped, every session is told `run.cancelled`. */
  cancel(): Result<true> {
    if (this.state === RunState.Complete || this.state === RunState.Cancelled)
      return fail('run.illegal_transition', `run ${this.id} is ${this.state}`);
    this.stopOpenRoundTimers();
    this.open = undefined;
    this.moveTo(RunState.Cancelled);
    this.store.runs.setState({ runId: this.id, state: 'cancelled' });
    for (const site of this.sites.values()) site.channel.refuse('run.cancelled', 'cancelled');
    this.logger.warn(`run ${this.id} cancelled`);
    this.rejectFinished(
      new FedistillError({ code: 'run.cancelled', message: `run ${this.id} was cancelled` }),
    );
    return ok(true);
  }

  /** The open round's deadline, or its secure stages' timer, stop for good. */
  private stopOpenRoundTimers(): void {
    clearTimeout(this.open?.deadline);
    this.open?.secure?.round.end();
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
    if (this.state === RunState.Complete || this.state === RunState.Cancelled) {
      return fail('session.closed', `the run is ${this.state}`);
    }
    this.sites.set(channel.site, { channel, ready: false });
    this.store.sites.markConnected(channel.site);
    this.events.emit('site', { site: channel.site, present: true, connected: this.sites.size });
    return ok({
      type: 'run.welcome',
      runId: this.id,
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
    this.lateAnswers.delete(channel.site);
    this.events.emit('site', { site: channel.site, present: false, connected: this.sites.size });
    const open = this.open;
    if (open && open.participants.delete(channel.site) && !open.answered.has(channel.site)) {
      open.dropped.add(channel.site);
      this.logger.warn(`round ${open.round}: ${channel.site} left before answering`);
      this.audit({ event: 'site.dropped', round: open.round, site: channel.site });
      this.closeRoundIfAnswered();
    }
    // A secure round also waits on answered sites (their unmask shares): it stops waiting.
    open?.secure?.round.left(channel.site);
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
      case 'secagg.keys':
      case 'secagg.shares':
      case 'secagg.unmask_response':
        return this.secureStep(channel.site, message);
      default: {
        const unreachable: never = message;
        return unreachable;
      }
    }
  }

  /** A site's SecAgg+ message for the open secure round. */
  private secureStep(
    site: string,
    message: Extract<
      SiteMessage,
      { type: 'secagg.keys' | 'secagg.shares' | 'secagg.unmask_response' }
    >,
  ): Result<true> {
    const open = this.open;
    if (!open?.secure || message.runId !== this.id || message.round !== open.round) {
      return fail('protocol.unexpected_message', `${message.type} outside the open secure round`);
    }
    const secure = open.secure.round;
    switch (message.type) {
      case 'secagg.keys':
        return secure.keys(site, message.keys);
      case 'secagg.shares':
        return secure.shares(site, message.shares);
      case 'secagg.unmask_response':
        return secure.unmasked(site, message.response);
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
    // The site holds the soft labels it pulled (each chunk verified): logged by their hash.
    this.audit({ event: 'softlabels.served', site: entry.channel.site, softLabels: toHex(hash) });
    if (this.state === RunState.WaitingForSites) this.openRoundIfQuorum();
    else if (this.isAwaited(entry.channel.site)) this.startSiteRound(entry);
    return ok(true);
  }

  /** A participant of the open round the round still waits for (after a restart, say). */
  private isAwaited(site: string): boolean {
    const open = this.open;
    return (
      open !== undefined &&
      open.participants.has(site) &&
      !open.answered.has(site) &&
      !open.receiving.has(site)
    );
  }

  private readySites(): SiteEntry[] {
    return [...this.sites.values()].filter((s) => s.ready);
  }

  private openRoundIfQuorum(): void {
    const ready = this.readySites();
    if (this.paused || ready.length < this.spec.minSites) return;
    this.moveTo(RunState.RoundOpen);
    const selected = this.select(ready);
    const rate = Math.min(1, selected.length / Math.max(1, enrolledCount(this.store.sites)));
    if (this.privacy && !this.privacy.allows(rate)) {
      this.stopForBudget(rate);
      return;
    }
    const participants = selected.map((s) => s.channel.site);
    this.store.runs.openRound({
      runId: this.id,
      round: this.nextRound,
      attempt: this.attempt,
      participants,
    });
    const secure = this.secureRound(participants);
    const open: OpenRound = {
      ...this.roundValues(this.nextRound),
      attempt: this.attempt,
      participants: new Set(participants),
      receiving: new Set(),
      answered: new Set(),
      ...this.attemptStart(participants.length),
      acc: this.strategy.begin(this.global),
      deadline: secure ? undefined : this.armDeadline(),
      ...(secure ? { secure } : {}),
    };
    this.open = open;
    this.logger.log(
      `round ${this.nextRound} (attempt ${this.attempt + 1}): ${selected.length} of ${ready.length} ready sites selected`,
    );
    this.audit({
      event: 'round.started',
      round: this.nextRound,
      attempt: this.attempt + 1,
      participants: selected.length,
      temperature: this.open.temperature,
      alpha: this.open.alpha,
      model: this.globalHash,
    });
    for (const site of selected) this.startSiteRound(site);
  }

  /**
   * A round's SecAgg+ part, when the run aggregates securely: the settings every participant
   * gets with round.start, and the coordinator's state for the round.
   */
  private secureRound(participants: readonly string[]): OpenRound['secure'] {
    const config = this.spec.privacy.secureAggregation;
    if (!config?.enabled) return undefined;
    const sites = [...participants].sort();
    const defaults = defaultDegree(sites.length);
    const degree = config.neighbours ?? defaults.degree;
    const keys = new Map(this.store.sites.list().map((s) => [s.name, decodeKey(s.publicKey)]));
    const noise = this.distributedNoise();
    const settings: SecureRound = {
      attempt: this.attempt,
      participants: sites,
      identities: sites.map((site) => ({ site, publicKey: keys.get(site)! })),
      graphSeed: this.spec.seed,
      degree,
      threshold: config.threshold ?? Math.floor(ringDegree(sites.length, degree) / 2) + 1,
      clip: noise?.clip ?? config.clip,
      levels: Math.floor((2 ** 32 - 1) / sites.length),
      ...(noise ? { noiseStddev: noise.stddev } : {}),
    };
    const round = this.nextRound;
    const secure = new CoordinatorSecureRound({
      sodium: this.setup.sodium,
      runId: this.id,
      round,
      settings,
      dimension: parameterCount(this.studentSpec),
      stageMs: this.spec.roundDeadlineMs,
      send: (site, message) => this.sites.get(site)?.channel.send(message),
      done: (outcome) => {
        const open = this.open;
        if (open?.round === round && open.secure?.round === secure) {
          this.finishSecureRound(open, outcome);
        }
      },
    });
    return { round: secure, settings };
  }

  /**
   * With differential privacy and secure aggregation the sites add the noise (distributed DP):
   * each N(0, (z C)^2 / minSites), so a sum of at least minSites updates carries at least the
   * noise z C of central DP, whoever drops, and the ledger's z holds. The quantization range
   * covers the clipped update plus eight standard deviations of the site's noise, so clipping
   * a noisy coordinate (which would cut the noise) practically never happens.
   */
  private distributedNoise(): { stddev: number; clip: number } | undefined {
    const privacy = this.privacy;
    if (!privacy) return undefined;
    const clipNorm = privacy.config.clipNorm;
    const stddev = (privacy.noiseMultiplier * clipNorm) / Math.sqrt(this.spec.minSites);
    const range = this.spec.privacy.secureAggregation?.clip ?? 0;
    return { stddev, clip: Math.max(range, clipNorm + 8 * stddev) };
  }

  /** Another round would spend more than the budget: the run completes with what it has. */
  private stopForBudget(rate: number): void {
    const privacy = this.privacy!;
    this.logger.warn(
      `round ${this.nextRound} would take epsilon past ${privacy.config.epsilon} (sampling rate ${rate.toFixed(3)}): the run stops after round ${this.lastClosedRound}`,
    );
    this.audit({
      event: 'privacy.budget_reached',
      round: this.nextRound,
      epsilon: privacy.epsilon,
      budget: privacy.config.epsilon,
    });
    if (this.lastClosedRound === 0) {
      this.fatal(
        new FedistillError({
          code: 'config.invalid',
          message: `the privacy budget epsilon ${privacy.config.epsilon} allows no round at sampling rate ${rate.toFixed(3)}`,
        }),
      );
      return;
    }
    this.stoppedByBudget = true;
    this.moveTo(RunState.RoundOpen);
    this.complete().catch((error: Error) => this.fatal(error));
  }

  /**
   * The L2 norm sites clip their updates to: the run's, or with differential privacy and secure
   * aggregation the DP clip norm (the coordinator cannot clip updates it never sees).
   */
  private siteClipNorm(): { clipNorm?: number } {
    const { clipNorm, privacy } = this.spec;
    if (privacy.dp && privacy.secureAggregation?.enabled) {
      return { clipNorm: Math.min(clipNorm ?? Infinity, privacy.dp.clipNorm) };
    }
    return clipNorm === undefined ? {} : { clipNorm };
  }

  /** The fake-quantization scheme of a round in the quantization-aware tail of the run. */
  private quantizationAware(round: number): 'int8' | 'int8-channel' | undefined {
    const qat = this.spec.compression.quantizationAware;
    return qat && round > this.rounds - qat.finalRounds ? qat.scheme : undefined;
  }

  /** Sends the open round's start (schedule values, settings, global model, mask) to one site. */
  private startSiteRound(site: SiteEntry): void {
    const open = this.open!;
    const spec = this.spec;
    this.globalBlob ??= this.transfer.offer(this.globalBytes, spec.blobChunkBytes);
    const mask =
      this.mask && (this.mask.blob ??= this.transfer.offer(this.mask.bytes, spec.blobChunkBytes));
    const fakeQuant = this.quantizationAware(open.round);
    const start: RoundStart = {
      type: 'round.start',
      runId: this.id,
      round: open.round,
      modelVersion: this.version,
      temperature: open.temperature,
      alpha: open.alpha,
      localEpochs: spec.localEpochs,
      batchSize: spec.batchSize,
      learningRate: spec.learningRate,
      labelSmoothing: spec.labelSmoothing,
      proximalMu: spec.proximalMu,
      updateEncoding: spec.updateEncoding,
      topkFraction: spec.topkFraction,
      ...this.siteClipNorm(),
      ...(spec.distillation.hiddenState
        ? {
            hiddenState: {
              layer: spec.distillation.hiddenState.studentLayer,
              weight: spec.distillation.hiddenState.weight,
            },
          }
        : {}),
      model: this.globalBlob,
      ...(mask ? { mask } : {}),
      ...(fakeQuant ? { fakeQuant } : {}),
      ...(open.secure ? { secureAggregation: open.secure.settings } : {}),
    };
    site.channel.send(start);
  }

  /**
   * The round's participants: a seeded choice (run seed, round and attempt) of
   * max(minSites, ceil(fraction x ready)) ready sites, so a rerun selects the same ones.
   */
  private select(ready: SiteEntry[]): SiteEntry[] {
    const sorted = [...ready].sort((a, b) => a.channel.site.localeCompare(b.channel.site));
    const count = plannedParticipants(this.spec, sorted.length);
    const order = shuffleInPlace(
      range(sorted.length),
      seededRandom(this.spec.seed * 1_000_003 + this.nextRound * 101 + this.attempt),
    );
    return order.slice(0, count).map((i) => sorted[i]!);
  }

  /** Counts off one of the site's unanswered failed attempts of the open round, if any. */
  private takeLateAnswer(site: string): boolean {
    const late = this.lateAnswers.get(site) ?? 0;
    if (late > 0) this.lateAnswers.set(site, late - 1);
    return late > 0;
  }

  /** Checks a round.update, then pulls its blob; the fold happens when the blob is in. */
  private receiveUpdate(channel: SiteChannel, update: RoundUpdate): Result<true> {
    const open = this.open;
    const site = channel.site;
    if (
      update.runId === this.id &&
      (update.round <= this.lastClosedRound ||
        (update.round === open?.round && this.takeLateAnswer(site)))
    ) {
      // A straggler: its round (or attempt) closed without it. Refused, but the session goes on.
      channel.send({
        type: 'update.rejected',
        runId: this.id,
        round: update.round,
        code: 'update.stale_round',
      });
      this.logger.warn(`${site}: update for round ${update.round} arrived after the round closed`);
      this.audit({
        event: 'update.rejected',
        round: update.round,
        site,
        code: 'update.stale_round',
      });
      return ok(true);
    }
    if (
      !open ||
      update.runId !== this.id ||
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
    const folded = open.secure
      ? bytes.ok
        ? open.secure.round.masked(channel.site, bytes.value)
        : bytes
      : this.fold(open, channel.site, update, bytes);
    if (!folded.ok) {
      this.audit({
        event: 'update.refused',
        round: open.round,
        site: channel.site,
        code: folded.error.code,
        update: toHex(update.delta.hash),
        bytes: update.delta.bytes,
      });
      channel.refuse(folded.error.code, folded.error.message);
      return;
    }
    // Durable before the acknowledgement; a store that cannot write stops the run. A masked
    // update is useless alone (a secure round restarts rather than resumes): not kept.
    try {
      this.store.updates.save({
        runId: this.id,
        round: open.round,
        attempt: open.attempt,
        update: {
          site: channel.site,
          numExamples: update.numExamples,
          blobHash: toHex(update.delta.hash),
          bytes: bytes.ok && !open.secure ? bytes.value : new Uint8Array(0),
        },
      });
    } catch (error) {
      this.fatal(error as Error);
      return;
    }
    open.answered.add(channel.site);
    this.audit({
      event: 'update.received',
      round: open.round,
      attempt: open.attempt + 1,
      site: channel.site,
      update: toHex(update.delta.hash),
      bytes: update.delta.bytes,
    });
    channel.send({ type: 'update.accepted', runId: this.id, round: open.round });
    this.closeRoundIfAnswered();
  }

  /** Folds a plain update into the round's accumulator. */
  private fold(
    open: OpenRound,
    site: string,
    update: RoundUpdate,
    bytes: Result<Uint8Array>,
  ): Result<true> {
    // Every strategy's fold refuses NaN and infinities; the mean family in its summing pass.
    const delta = bytes.ok ? decodeTensorBlob(bytes.value, { finiteCheck: 'caller' }) : bytes;
    if (!delta.ok) return delta;
    const folded = this.strategy.fold(open.acc, {
      site,
      delta: delta.value,
      numExamples: update.numExamples,
    });
    if (!folded.ok) return folded;
    open.acc = folded.value;
    return ok(true);
  }

  /** The round's step in the privacy ledger (a released model spends; a failed round does not). */
  private spendPrivacy(
    open: OpenRound,
  ): Pick<RoundSummary, 'epsilon' | 'noise_multiplier' | 'clip_norm' | 'sampling_rate'> {
    const privacy = this.privacy;
    if (!privacy) return {};
    const epsilon = privacy.record(open.samplingRate);
    const clipNorm = (this.strategy as DpFedAvg).lastClipNorm;
    this.audit({
      event: 'privacy.spent',
      round: open.round,
      epsilon,
      delta: privacy.config.delta,
      noiseMultiplier: privacy.noiseMultiplier,
      clipNorm,
      samplingRate: open.samplingRate,
    });
    return {
      epsilon,
      noise_multiplier: privacy.noiseMultiplier,
      clip_norm: clipNorm,
      sampling_rate: open.samplingRate,
    };
  }

  /** Participants still connected that had not answered (a site whose blob is in flight counts). */
  private stragglers(open: OpenRound): number {
    return [...open.participants].filter((s) => !open.answered.has(s)).length;
  }

  /** Closes the round once no participant is still expected (all answered, or left). */
  private closeRoundIfAnswered(): void {
    const open = this.open;
    // A secure round closes when its unmasking ends (CoordinatorSecureRound), not here.
    if (open && !open.secure && [...open.participants].every((s) => open.answered.has(s))) {
      this.closeRoundOrFail('answered');
    }
  }

  private closeRoundOrFail(why: 'answered' | 'deadline'): void {
    this.closeRound(why).catch((error: Error) => this.fatal(error));
  }

  /** The run cannot go on (the store failed): stop opening rounds and end the run with it. */
  private fatal(error: Error): void {
    this.logger.error(`the run stops: ${error.message}`);
    this.stopOpenRoundTimers();
    this.open = undefined;
    this.rejectFinished(error);
  }

  /**
   * Folds the round into the global model, prunes it to the round's sparsity when the run prunes,
   * and evaluates it; the next round opens after. With fewer than minSites updates the round
   * fails instead: nothing is applied, and the same round is tried again (a fresh selection) once
   * enough sites are ready.
   */
  private async closeRound(why: 'answered' | 'deadline'): Promise<void> {
    const open = this.open;
    if (!open) return;
    const quorum = this.spec.minSites;
    const aggregated = open.answered.size >= quorum ? this.strategy.close(open.acc) : undefined;
    await this.finishRound(open, aggregated, why);
  }

  /** A secure round ended: its sum becomes the next model, or the round fails. */
  private finishSecureRound(open: OpenRound, outcome: Result<SecureSum>): void {
    if (this.open !== open) return;
    if (!outcome.ok) {
      this.audit({
        event: 'secagg.failed',
        round: open.round,
        attempt: open.attempt + 1,
        code: outcome.error.code,
      });
      this.logger.warn(`round ${open.round}: secure aggregation failed: ${outcome.error.message}`);
    }
    const survivors = outcome.ok ? outcome.value.survivors.length : 0;
    const aggregated =
      outcome.ok && survivors >= this.spec.minSites
        ? this.secureMean(outcome.value.sum, survivors)
        : undefined;
    this.finishRound(open, aggregated, outcome.ok ? 'answered' : 'secure aggregation failed').catch(
      (error: Error) => this.fatal(error),
    );
  }

  /**
   * The next model from a secure round's sum: the global model plus the unweighted mean of the
   * survivors' updates. With differential privacy the sites' noise is already in the sum.
   */
  private secureMean(sum: Float64Array, survivors: number): NamedTensor[] {
    let offset = 0;
    return this.global.map((tensor) => {
      const values = tensor.values.map((v, i) => v + sum[offset + i]! / survivors);
      offset += tensor.values.length;
      return { ...tensor, values };
    });
  }

  private async finishRound(
    open: OpenRound,
    aggregated: NamedTensor[] | undefined,
    why: string,
  ): Promise<void> {
    clearTimeout(open.deadline);
    open.secure?.round.end();
    this.open = undefined;
    const quorum = this.spec.minSites;
    if (!aggregated) {
      this.logger.warn(
        `round ${open.round} failed (${why}): ${open.answered.size} of ${quorum} required updates; retrying`,
      );
      this.store.runs.failRound({
        runId: this.id,
        round: open.round,
        attempt: open.attempt,
        outcome: {
          answered: open.answered.size,
          stragglers: this.stragglers(open),
          dropped: open.dropped.size,
        },
      });
      this.audit({
        event: 'round.failed',
        round: open.round,
        attempt: open.attempt + 1,
        updates: open.answered.size,
        quorum,
      });
      this.events.emit('roundFailed', {
        round: open.round,
        attempt: this.attempt + 1,
        updates: open.answered.size,
        quorum,
      });
      for (const site of open.participants) {
        if (!open.answered.has(site) && !open.receiving.has(site))
          this.lateAnswers.set(site, (this.lateAnswers.get(site) ?? 0) + 1);
      }
      this.attempt++;
      this.moveTo(RunState.WaitingForSites);
      this.openRoundIfQuorum();
      return;
    }
    // Set before any await: an update for this round arriving meanwhile is a straggler's.
    this.lastClosedRound = open.round;
    const pruning = this.spec.compression.pruning;
    const pruned = pruning && pruneRound(aggregated, pruning, open.round, this.mask?.tensors);
    const next = pruned?.model ?? aggregated;
    const mask: PruningMask | undefined = pruned?.mask && {
      tensors: pruned.mask,
      bytes: unwrap(encodeTensorBlob(pruned.mask, 'float16')),
    };
    const nextBytes = unwrap(encodeTensorBlob(next, 'float32'));
    const optimizerState = this.strategy.exportState?.();
    const [modelHash, optimizerHash, maskHash] = await Promise.all([
      this.store.models.writeBlob(nextBytes),
      optimizerState &&
        this.store.models.writeBlob(unwrap(encodeTensorBlob(optimizerState, 'float32'))),
      mask && this.store.models.writeBlob(mask.bytes),
    ]);
    writeWeights(this.student, next);
    const closedAt = Date.now();
    const measured = await this.evaluation.measure(this.student);
    const summary: RoundSummary = {
      round: open.round,
      rounds: this.rounds,
      attempt: open.attempt + 1,
      temperature: open.temperature,
      alpha: open.alpha,
      selected: open.selected,
      participants: open.answered.size,
      stragglers: this.stragglers(open),
      dropped: open.dropped.size,
      student_accuracy: measured.accuracy,
      student_loss: measured.loss,
      sparsity: kernelSparsity(next),
      bytes_up: this.events.bytesIn - open.bytesInAtOpen,
      bytes_down: this.events.bytesOut - open.bytesOutAtOpen,
      duration_seconds: (closedAt - open.openedAt) / 1000,
      ...this.spendPrivacy(open),
    };
    // Cancelled while the model was written and evaluated: nothing more of it is committed.
    if (this.ended) return;
    this.store.runs.commitRound({
      runId: this.id,
      round: open.round,
      attempt: open.attempt,
      summary,
      model: {
        version: this.version + 1,
        modelHash,
        ...(optimizerHash === undefined ? {} : { optimizerHash }),
        ...(maskHash === undefined ? {} : { maskHash }),
      },
    });
    this.audit({
      event: 'aggregate.committed',
      round: open.round,
      version: this.version + 1,
      modelBefore: this.globalHash,
      modelAfter: modelHash,
      ...(maskHash === undefined ? {} : { mask: maskHash, sparsity: summary.sparsity }),
    });
    this.attempt = 0;
    this.lateAnswers.clear();
    this.global = next;
    this.globalBytes = nextBytes;
    this.globalHash = modelHash;
    this.version++;
    if (this.globalBlob) this.transfer.withdraw(this.globalBlob);
    this.globalBlob = undefined;
    if (this.mask?.blob) this.transfer.withdraw(this.mask.blob);
    this.mask = mask;
    this.perRound.push(summary);
    this.logger.log(
      `round ${summary.round}/${summary.rounds}: T=${summary.temperature.toFixed(2)} alpha=${summary.alpha.toFixed(2)} ` +
        `participants=${summary.participants} student accuracy=${summary.student_accuracy.toFixed(4)}` +
        (pruned
          ? ` sparsity=${summary.sparsity.toFixed(4)} (target ${pruned.target.toFixed(4)})`
          : ''),
    );
    this.events.emit('round', summary);
    if (open.round === this.rounds) {
      await this.complete();
      return;
    }
    this.nextRound = open.round + 1;
    this.moveTo(RunState.WaitingForSites);
    this.openRoundIfQuorum();
  }

  /**
   * The last round closed: the sites are told, the final student is exported (int8 and
   * float32) and measured, and the report is stored and written.
   */
  private async complete(): Promise<void> {
    this.moveTo(RunState.Complete);
    // The run's traffic and time end here; the sites' farewells and the export come after.
    const traffic = {
      bytes_up: this.events.bytesIn,
      bytes_down: this.events.bytesOut,
      wall_seconds: (performance.now() - this.setup.startedAt) / 1000,
    };
    for (const site of this.sites.values()) {
      // The rounds it had: fewer than planned when the privacy budget ended it early.
      site.channel.send({ type: 'run.complete', runId: this.id, rounds: this.perRound.length });
    }
    const { config } = this.setup;
    const last = this.perRound[this.perRound.length - 1]!;
    const siteNames = Object.keys(this.backends).sort();
    const compression = await compressStudent({
      dir: this.identity.exportDir,
      spec: this.studentSpec,
      weights: this.global,
      student: this.student,
      evaluation: this.evaluation,
      teacher: this.teacher,
      normalizer: this.setup.normalizer,
      ...(this.spec.compression.pruning ? { sparsity: last.sparsity } : {}),
    });
    const report: RunReport = {
      run_id: this.id,
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
      ...traffic,
      backend: this.setup.backend,
      compression,
      secure_aggregation: this.secureAggregation,
      ...(this.privacy
        ? {
            privacy: {
              epsilon: this.privacy.epsilon,
              delta: this.privacy.config.delta,
              epsilon_budget: this.privacy.config.epsilon,
              noise_multiplier: this.privacy.noiseMultiplier,
              clip_norm: last.clip_norm!,
              adaptive_clipping: this.privacy.config.adaptiveClipping !== undefined,
              secure_aggregation: this.secureAggregation,
              noise: this.secureAggregation ? 'distributed' : 'central',
              rounds_completed: this.perRound.length,
              stopped_by_budget: this.stoppedByBudget,
            },
          }
        : {}),
    };
    this.store.runs.complete({ runId: this.id, report });
    for (const [format, dir] of Object.entries(compression.files)) {
      this.audit({ event: 'student.exported', format, model: await this.hashFiles(dir) });
    }
    this.events.emit('complete', report);
    const file = this.identity.reportFile;
    if (file) {
      await mkdir(path.dirname(file), { recursive: true });
      await writeFile(file, JSON.stringify(report, null, 2) + '\n');
    }
    this.resolveFinished(report);
  }

  get ended(): boolean {
    return this.state === RunState.Complete || this.state === RunState.Cancelled;
  }

  /** Frees the run's tensors; safe to call again (the run's end and the coordinator's stop). */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.stopOpenRoundTimers();
    this.student.dispose();
    if (!this.ended)
      this.rejectFinished(new Error('the coordinator stopped before the run completed'));
  }
}
