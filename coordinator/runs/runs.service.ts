import { randomUUID } from 'node:crypto';
import path from 'node:path';
import {
  Inject,
  Injectable,
  Logger,
  type OnModuleDestroy,
  type OnModuleInit,
} from '@nestjs/common';
import {
  fail,
  FedistillError,
  isTerminalRunState,
  ok,
  parseWith,
  unwrap,
  type Result,
  type RunWelcome,
  type SiteMessage,
} from '../../protocol/index.js';
import { COORDINATOR_SETUP, type CoordinatorSetup } from '../coordinator-setup.js';
import type { SiteSessionHost } from '../gateway/site-session-host.js';
import type { EdgePartials } from './round/edge-partials.js';
import { EvaluationService } from '../evaluation/evaluation.service.js';
import { CoordinatorEvents } from '../events/coordinator-events.js';
import { SitesService } from '../sites/sites.service.js';
import { COORDINATOR_STORE, type CoordinatorStore, type StoredRun } from '../store/store.js';
import { publicLabelNeeds } from '../teacher/public-labels.js';
import { TeacherService } from '../teacher/teacher.service.js';
import { TransferService } from '../transfer/transfer.service.js';
import { PrivacyPlan } from '../privacy/privacy-plan.js';
import type { PreparedTeacher } from '../teacher/prepared-teacher.js';
import { RunConductor } from './run-conductor.js';
import type { LiveRunStatus, RunDeps } from './run-deps.js';
import type { RunReport } from './run-report.js';
import {
  modelSpecOf,
  teacherAt,
  runSpecHash,
  runSpecSchema,
  studentSpecOf,
  type RunSpec,
} from './run-spec.js';
import type { SiteChannel } from './site-channel.js';

/** A run as the API shows it: what the store holds, and the live state of the active run. */
export interface RunStatus {
  readonly id: string;
  readonly state: StoredRun['state'];
  readonly spec: RunSpec;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly roundsClosed: number;
  readonly modelVersion: number;
  readonly live?: LiveRunStatus;
}

/**
 * The coordinator's runs. One run is active at a time: sites that connect while none is wait
 * in the lobby and are welcomed when one starts. A run comes from the config file (started at
 * boot) or from the API (created, then started); a run the store shows as running or paused
 * is resumed at boot, whichever way it came.
 */
@Injectable()
export class RunsService implements SiteSessionHost, OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('Runs');
  private active: RunConductor | undefined;
  private starting = false;
  /** Sessions waiting for a run to start. */
  private readonly lobby = new Set<SiteChannel>();
  /** The run each session was welcomed into. */
  private readonly sessionRun = new WeakMap<SiteChannel, RunConductor>();
  private readonly deps: RunDeps;
  private resolveFirst!: (report: RunReport) => void;
  private rejectFirst!: (error: Error) => void;
  /** Settles with the first run this process starts or resumes. */
  readonly firstFinished: Promise<RunReport>;
  /** The run started or resumed at boot, if any, and its teacher (the CLI prints its figures). */
  boot: { id: string; teacher: PreparedTeacher } | undefined;
  /** Edge nodes that fold for this leader: attached once it serves them. */
  private edges: EdgePartials | undefined;

  constructor(
    @Inject(COORDINATOR_SETUP) private readonly setup: CoordinatorSetup,
    @Inject(COORDINATOR_STORE) private readonly store: CoordinatorStore,
    private readonly teacher: TeacherService,
    private readonly sitesService: SitesService,
    evaluation: EvaluationService,
    private readonly events: CoordinatorEvents,
    transfer: TransferService,
  ) {
    this.deps = {
      setup,
      evaluation,
      events,
      transfer,
      store,
      registry: sitesService,
      edges: () => this.edges,
    };
    // Every signed head of the audit log goes to every site with a session, in a run or not.
    events.on('treeHead', (head) => {
      const message = { type: 'audit.tree_head', head } as const;
      for (const channel of this.lobby) channel.send(message);
      this.active?.broadcast(message);
    });
    this.firstFinished = new Promise((resolve, reject) => {
      this.resolveFirst = resolve;
      this.rejectFirst = reject;
    });
    this.firstFinished.catch(() => undefined);
  }

  /** From the next attempt on, plain attempts let these edge nodes fold partial sums. */
  attachEdges(edges: EdgePartials): void {
    this.edges = edges;
  }

  async onModuleInit(): Promise<void> {
    const configured = this.setup.config.run;
    const active = await this.store.runs.active();
    const hash = configured && this.hash(configured);
    if (active) {
      if (configured && (active.specHash !== hash || (configured.id ?? active.id) !== active.id)) {
        throw new FedistillError({
          code: 'config.invalid',
          message: `the store ${this.setup.config.storeFile} has run ${active.id} still ${active.state}, with other settings than the config's run; cancel it (fedistill run cancel) or use another store`,
          path: ['run'],
        });
      }
      this.logger.log(`run ${active.id} was ${active.state} when the coordinator stopped`);
      this.boot = { id: active.id, teacher: unwrap(await this.launch(active, active, true)) };
      return;
    }
    if (!configured) return;
    // The config's run ended under another process (a standby that takes over after the
    // leader finished it): there is nothing to resume, and the API and dashboard serve it.
    const ended =
      configured.id === undefined ? undefined : await this.store.runs.get(configured.id);
    if (ended && ended.specHash === hash && isTerminalRunState(ended.state)) {
      this.logger.log(`run ${ended.id} is ${ended.state}; no run to resume`);
      return;
    }
    const created = unwrap(await this.create(configured));
    this.boot = { id: created.id, teacher: unwrap(await this.launch(created, undefined, true)) };
  }

  private hash(spec: RunSpec): string {
    const { sodium, config, publicSplitBytes } = this.setup;
    return runSpecHash(sodium, spec, config.data, publicSplitBytes);
  }

  /** Checks a run spec and stores the run, not started. */
  async create(input: unknown): Promise<Result<StoredRun>> {
    const parsed = parseWith(runSpecSchema, input, 'config.invalid', 'run spec');
    if (!parsed.ok) return parsed;
    const spec = parsed.value;
    // A config's paths are resolved against its folder; an API spec has no folder to speak of.
    if (spec.teacher.source === 'logits' && !path.isAbsolute(spec.teacher.file)) {
      return fail(
        'config.invalid',
        `teacher.file must be an absolute path on the coordinator's machine, not ${spec.teacher.file}`,
        ['teacher', 'file'],
      );
    }
    const { features } = this.setup.publicSplit;
    const { classes } = this.setup.config.data;
    const needs = this.setup.publicLabels ? [] : publicLabelNeeds(spec);
    if (needs.length > 0) {
      // Every field at fault in the message; the path of the first, as schema errors give it.
      const message = needs.map((need) => need.message).join('; ');
      return fail('config.invalid', message, needs[0]!.path);
    }
    const data = { inputs: features, classes, vocabulary: this.setup.text?.vocabulary };
    const student = studentSpecOf(spec, data);
    if (!student.ok) return student;
    if (spec.teacher.source === 'model') {
      const teacher = modelSpecOf(spec.teacher, data, teacherAt);
      if (!teacher.ok) return teacher;
    }
    const enrolled = this.sitesService.enrolledCount;
    if (spec.minSites > enrolled) {
      return fail(
        'config.invalid',
        `minSites is ${spec.minSites} but only ${enrolled} sites are enrolled`,
        ['minSites'],
      );
    }
    const privacy = PrivacyPlan.create(spec, enrolled);
    if (!privacy.ok) return privacy;
    const id = spec.id ?? randomUUID();
    if (await this.store.runs.get(id))
      return fail('config.invalid', `a run ${id} exists already`, ['id']);
    await this.store.runs.create({ id, specHash: this.hash(spec), spec });
    this.events.emit('audit', { event: 'run.created', run: id, spec: this.hash(spec) });
    return ok((await this.store.runs.get(id))!);
  }

  /** Starts a created run: its teacher is prepared, then waiting sites are welcomed. */
  async start(id: string): Promise<Result<RunStatus>> {
    const stored = await this.store.runs.get(id);
    if (!stored) return fail('run.unknown', `no run ${id}`);
    if (stored.state !== 'created') {
      return fail('run.illegal_transition', `run ${id} is ${stored.state}, not created`);
    }
    // A run that is complete and only exporting its student no longer holds the coordinator.
    if ((this.active && !this.active.ended) || this.starting) {
      return fail(
        'run.illegal_transition',
        `run ${this.active?.id ?? 'another'} is active; one run at a time`,
      );
    }
    const launched = await this.launch(stored);
    if (!launched.ok) {
      // The code and file only: a message about a file's lines may echo what they hold.
      this.logger.warn(`run ${id} did not start: ${launched.error.code}`);
      return launched;
    }
    return ok((await this.status(id))!);
  }

  /** Runs one run; the run started at boot also writes the config's report file. */
  private async launch(
    stored: StoredRun,
    resumed?: StoredRun,
    atBoot = false,
  ): Promise<Result<PreparedTeacher>> {
    this.starting = true;
    try {
      const spec = unwrap(parseWith(runSpecSchema, stored.spec, 'config.invalid', 'stored run'));
      const prepared = await this.teacher.prepare(spec);
      if (!prepared.ok) return prepared;
      const teacher = prepared.value;
      const run = new RunConductor(
        this.deps,
        {
          id: stored.id,
          specHash: stored.specHash,
          ...(atBoot ? { reportFile: this.setup.config.reportFile } : {}),
          exportDir:
            (atBoot ? this.setup.config.exportDir : undefined) ??
            path.join(path.dirname(this.setup.config.storeFile), 'exports', stored.id),
        },
        spec,
        teacher,
      );
      await run.start(resumed);
      this.active = run;
      this.events.emit('audit', {
        event: resumed ? 'run.resumed_after_restart' : 'run.started',
        run: stored.id,
      });
      const ended = (): void => {
        if (this.active === run) this.active = undefined;
        run.dispose();
      };
      run.finished.then(
        (report) => {
          ended();
          this.resolveFirst(report);
        },
        (error: Error) => {
          ended();
          this.rejectFirst(error);
        },
      );
      for (const channel of [...this.lobby]) this.welcome(run, channel);
      return ok(teacher);
    } finally {
      this.starting = false;
    }
  }

  private welcome(run: RunConductor, channel: SiteChannel): void {
    this.lobby.delete(channel);
    const joined = this.join(run, channel);
    if (!joined.ok) channel.refuse(joined.error.code, joined.error.message);
    else channel.send(joined.value);
  }

  private join(run: RunConductor, channel: SiteChannel): Result<RunWelcome> {
    const joined = run.siteJoined(channel);
    if (joined.ok) this.sessionRun.set(channel, run);
    return joined;
  }

  /**
   * An authenticated site joins: the welcome of the active run for the gateway to send, or
   * undefined while no run is active (the site waits; the welcome comes when one starts).
   */
  siteJoined(channel: SiteChannel): Result<RunWelcome | undefined> {
    if (this.active && !this.active.ended) return this.join(this.active, channel);
    this.lobby.add(channel);
    return ok(undefined);
  }

  siteLeft(channel: SiteChannel): void {
    this.lobby.delete(channel);
    this.sessionRun.get(channel)?.siteLeft(channel);
  }

  handle(channel: SiteChannel, message: SiteMessage): Result<true> {
    const run = this.sessionRun.get(channel);
    if (run) return run.handle(channel, message);
    if (message.type === 'site.leave') return ok(true);
    return fail('protocol.unexpected_message', `${message.type} while no run is active`);
  }

  private live(id: string): RunConductor | undefined {
    return this.active?.id === id ? this.active : undefined;
  }

  pause(id: string): Promise<Result<RunStatus>> {
    return this.control(id, 'run.paused', (run) => run.pause());
  }

  resume(id: string): Promise<Result<RunStatus>> {
    return this.control(id, 'run.resumed', (run) => run.resume());
  }

  /** Cancels the active run, or a run created and not started. */
  async cancel(id: string): Promise<Result<RunStatus>> {
    const stored = await this.store.runs.get(id);
    if (stored?.state === 'created') {
      await this.store.runs.setState({ runId: id, state: 'cancelled' });
      this.events.emit('audit', { event: 'run.cancelled', run: id });
      return ok((await this.status(id))!);
    }
    return this.control(id, 'run.cancelled', (run) => run.cancel());
  }

  private async control(
    id: string,
    event: string,
    act: (run: RunConductor) => Promise<Result<true>>,
  ): Promise<Result<RunStatus>> {
    const stored = await this.store.runs.get(id);
    if (!stored) return fail('run.unknown', `no run ${id}`);
    const run = this.live(id);
    if (!run) return fail('run.illegal_transition', `run ${id} is ${stored.state}, not active`);
    const done = await act(run);
    if (!done.ok) return done;
    this.events.emit('audit', { event, run: id });
    return ok((await this.status(id))!);
  }

  async status(id: string): Promise<RunStatus | undefined> {
    const stored = await this.store.runs.get(id);
    return stored && this.statusOf(stored);
  }

  private statusOf(stored: StoredRun): RunStatus {
    const live = this.live(stored.id);
    return {
      id: stored.id,
      state: stored.state,
      spec: stored.spec as RunSpec,
      createdAt: stored.createdAt,
      updatedAt: stored.updatedAt,
      roundsClosed: stored.lastClosedRound,
      modelVersion: stored.modelVersion,
      ...(live ? { live: live.status() } : {}),
    };
  }

  async list(): Promise<RunStatus[]> {
    return (await this.store.runs.list()).map((run) => this.statusOf(run));
  }

  async get(id: string): Promise<Result<RunStatus>> {
    const status = await this.status(id);
    return status ? ok(status) : fail('run.unknown', `no run ${id}`);
  }

  async report(id: string): Promise<Result<unknown>> {
    const run = await this.store.runs.get(id);
    if (!run) return fail('run.unknown', `no run ${id}`);
    const report = await this.store.runs.report(id);
    return report === undefined
      ? fail(
          'run.illegal_transition',
          `run ${id} is ${run.state}; a report comes when it completes`,
        )
      : ok(report);
  }

  /** Which sites hold a session now, and in which run. */
  connectedSites(): Map<string, { runId?: string }> {
    const connected = new Map<string, { runId?: string }>();
    for (const channel of this.lobby) connected.set(channel.site, {});
    for (const entry of this.active?.status().sites ?? []) {
      connected.set(entry.site, { runId: this.active!.id });
    }
    return connected;
  }

  onModuleDestroy(): void {
    this.active?.dispose();
  }
}
