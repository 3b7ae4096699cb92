import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Logger } from '@nestjs/common';
import {
  BlobOutbox,
  fail,
  ok,
  toHex,
  unwrap,
  type BlobManifest,
  type CoordinatorMessage,
  type ErrorCode,
  type Result,
  type RoundStart,
  type RoundUpdate,
  type RunState,
  type RunWelcome,
  type Sodium,
} from '../../protocol/index.js';
import { prepareWorkspace } from '../../cli/demo/workspace.js';
import { loadCoordinatorConfig } from '../../coordinator/config/coordinator-config.js';
import type { CoordinatorSetup } from '../../coordinator/coordinator-setup.js';
import { prepareSetup } from '../../coordinator/coordinator.js';
import { EvaluationService } from '../../coordinator/evaluation/evaluation.service.js';
import {
  CoordinatorEvents,
  type AuditEvent,
  type RoundFailure,
} from '../../coordinator/events/coordinator-events.js';
import { RunConductor } from '../../coordinator/runs/run-conductor.js';
import type { RunDeps } from '../../coordinator/runs/run-deps.js';
import type { RoundSummary } from '../../coordinator/runs/run-report.js';
import { runSpecHash, runSpecSchema, type RunSpecInput } from '../../coordinator/runs/run-spec.js';
import type { SiteChannel } from '../../coordinator/runs/site-channel.js';
import { openSqliteStore } from '../../coordinator/store/sqlite/open-sqlite-store.js';
import type { CoordinatorStore } from '../../coordinator/store/store.js';
import type { PreparedTeacher } from '../../coordinator/teacher/prepared-teacher.js';
import { TeacherService } from '../../coordinator/teacher/teacher.service.js';
import { TransferService, type PullWatch } from '../../coordinator/transfer/transfer.service.js';
import { handDelta, updateFor } from '../../harness/hand-site.js';
import { ManualClock } from './manual-clock.js';

/** Sites enrolled in every harness run: site-1 … site-5. */
export const HARNESS_SITES = 5;

/** The value of every weight of a test site's delta: finite, and far from zero. */

/**
 * What every harness run shares in one test process, read once: the demo workspace (bundled
 * breast-cancer data split as the demo splits it, fresh keys), the coordinator's setup, the
 * held-out evaluator and the teacher's soft labels. None of it changes during a run.
 */
interface SharedParts {
  readonly dir: string;
  readonly setup: CoordinatorSetup;
  readonly evaluation: EvaluationService;
  readonly teacher: PreparedTeacher;
  readonly baseRun: RunSpecInput;
}

let shared: Promise<SharedParts> | undefined;

async function prepareShared(): Promise<SharedParts> {
  // The run's parts log through Nest's logger; the tests read outcomes, not log lines.
  Logger.overrideLogger(false);
  const dir = await mkdtemp(path.join(tmpdir(), 'fedistill-conductor-'));
  const workspace = await prepareWorkspace(dir, {
    sites: HARNESS_SITES,
    rounds: 2,
    seed: 7,
    cacheDir: path.join(dir, 'cache'),
  });
  const config = await loadCoordinatorConfig(workspace.coordinatorConfigFile);
  const setup = await prepareSetup(config, performance.now());
  const evaluation = new EvaluationService(setup);
  const baseRun = config.run!;
  const prepared = unwrap(
    await new TeacherService(setup, evaluation, new TransferService(setup)).prepare(
      runSpecSchema.parse(baseRun),
    ),
  );
  // The soft labels and figures of the real teacher; without loadModel, the run's report does
  // not load and time the teacher model again, which no round rule needs.
  const teacher: PreparedTeacher = { descriptor: prepared.descriptor, summary: prepared.summary };
  return { dir, setup, evaluation, teacher, baseRun };
}

/** Removes what the shared parts wrote; for the test file's `after`. */
export async function disposeSharedParts(): Promise<void> {
  const parts = await shared;
  shared = undefined;
  if (!parts) return;
  parts.evaluation.dispose();
  await rm(parts.dir, { recursive: true, force: true });
}

/**
 * A test double of the transport only: the coordinator's outbox is a real BlobOutbox, and a
 * pull returns the bytes the test site offered under that manifest, verified by nothing but
 * the lookup (the real TransferService's chunking and checks have their own tests). Sites never
 * download the model here: they answer round.start at once. A withholding site's pull gets no
 * bytes: it holds its slot until the round code's watch stops it or the session ends.
 */
type RunTransfer = RunDeps['transfer'];

/** A site's update pulls as the transport saw them. */
export interface SitePulls {
  started: number;
  inFlight: number;
  /** The most in flight at once. */
  most: number;
}

class InProcessTransfer implements RunTransfer {
  private readonly outbox: BlobOutbox;
  /** What each site offered, by blob hash (hex). */
  private readonly offered = new Map<string, Uint8Array>();
  /** Sites whose update pulls get no chunk. */
  readonly withholding = new Set<string>();
  private readonly counts = new Map<string, SitePulls>();
  private readonly watches = new Map<string, PullWatch>();

  constructor(sodium: Sodium) {
    this.outbox = new BlobOutbox(sodium);
  }

  offer(bytes: Uint8Array, chunkBytes: number): BlobManifest {
    return this.outbox.offer(bytes, chunkBytes);
  }

  withdraw(manifest: BlobManifest): void {
    this.outbox.withdraw(manifest.hash);
  }

  serve(): Result<true> {
    return ok(true);
  }

  accept(): Result<true> {
    return ok(true);
  }

  /** A site offers an update blob; the coordinator's pull of it gets these bytes. */
  siteOffers(manifest: BlobManifest, bytes: Uint8Array): void {
    this.offered.set(toHex(manifest.hash), bytes);
  }

  /** The site's update pulls so far. */
  pulls(site: string): SitePulls {
    return { ...(this.counts.get(site) ?? { started: 0, inFlight: 0, most: 0 }) };
  }

  /** A chunk of the site's withheld update arrives after all: its pull is not idle. */
  trickle(site: string): void {
    this.watches.get(site)!.progress();
  }

  async pull(
    channel: SiteChannel,
    manifest: BlobManifest,
    maxBytes: number,
    watch: PullWatch,
  ): Promise<Result<Uint8Array>> {
    const count = this.counts.get(channel.site) ?? { started: 0, inFlight: 0, most: 0 };
    this.counts.set(channel.site, count);
    count.started++;
    count.most = Math.max(count.most, ++count.inFlight);
    try {
      return await this.receive(channel, manifest, maxBytes, watch);
    } finally {
      count.inFlight--;
    }
  }

  private async receive(
    channel: SiteChannel,
    manifest: BlobManifest,
    maxBytes: number,
    watch: PullWatch,
  ): Promise<Result<Uint8Array>> {
    await Promise.resolve();
    const bytes = this.offered.get(toHex(manifest.hash));
    if (manifest.bytes > maxBytes) return fail('blob.too_large', `${manifest.bytes} bytes`);
    if ((channel as TestSite).closed) return fail('session.closed', 'the site left');
    if (!this.withholding.has(channel.site)) {
      return bytes ? ok(bytes) : fail('blob.unrequested', 'nothing offered under that hash');
    }
    this.watches.set(channel.site, watch);
    // It holds a slot and has been asked for its chunks.
    watch.progress();
    return new Promise((resolve) => {
      void watch.stop.then((error) => resolve({ ok: false, error }));
      channel.onClose(() => resolve(fail('session.closed', 'the site left')));
    });
  }
}

/** What the coordinator said to a site about one of its updates. */
export type Verdict = 'accepted' | ErrorCode | `refused: ${ErrorCode}`;

/**
 * An in-memory site session: it records what the conductor sends it, and ends as the gateway
 * ends a session: a refusal or a drop leaves the run (siteLeft), then its close listeners run.
 */
export class TestSite implements SiteChannel {
  readonly sent: CoordinatorMessage[] = [];
  refusal: ErrorCode | undefined;
  closed = false;
  welcome: RunWelcome | undefined;
  private readonly closeListeners: (() => void)[] = [];
  private readonly waiters: (() => void)[] = [];
  /** How many update verdicts have been read. */
  private verdictsRead = 0;

  constructor(
    readonly site: string,
    private readonly run: ConductorHarness,
  ) {}

  send(message: CoordinatorMessage): void {
    if (this.closed) return;
    this.sent.push(message);
    this.wake();
  }

  refuse(code: ErrorCode): void {
    if (this.closed) return;
    this.refusal = code;
    this.close();
  }

  backlogged(): boolean {
    return false;
  }

  onDrain(): void {}

  onClose(closed: () => void): void {
    if (this.closed) closed();
    else this.closeListeners.push(closed);
  }

  /** Joins the run (the gateway's admission): the welcome, or why not. */
  join(): Result<RunWelcome> {
    const joined = this.run.conductor.siteJoined(this);
    if (joined.ok) this.welcome = joined.value;
    return joined;
  }

  /** Says ready, holding the transfer set the welcome named. */
  ready(): Result<true> {
    return this.deliver({
      type: 'site.ready',
      transferHash: this.welcome!.teacher.blob.hash,
      backend: 'test',
    });
  }

  /** Every round.start this session was sent, in order. */
  get starts(): RoundStart[] {
    return this.sent.filter((m): m is RoundStart => m.type === 'round.start');
  }

  /** The last round.start this session was sent. */
  get start(): RoundStart {
    const start = this.starts.at(-1);
    if (!start) throw new Error(`${this.site} was sent no round.start`);
    return start;
  }

  /**
   * Answers `start` (the last one by default) with a delta of HAND_DELTA_VALUE everywhere, as
   * an honest site would; `fields` replaces what an honest site would put in the update.
   */
  answer(
    start: RoundStart = this.start,
    fields: Partial<Pick<RoundUpdate, 'runId' | 'round' | 'baseVersion'>> = {},
  ): Result<true> {
    const bytes = handDelta(this.welcome!.student);
    // A fresh outbox per update: each answer is its own blob, as a real site's would be.
    const manifest = new BlobOutbox(this.run.sodium).offer(bytes, 64 * 1024);
    this.run.transfer.siteOffers(manifest, bytes);
    return this.deliver(updateFor(start, manifest, fields));
  }

  /** Answers and waits for the coordinator's word on the update. */
  async answered(start?: RoundStart, fields?: Parameters<TestSite['answer']>[1]): Promise<Verdict> {
    this.answer(start, fields);
    return this.verdict();
  }

  /**
   * The coordinator's word on this site's oldest update not yet looked at: 'accepted', the code
   * of an update.rejected, or 'refused: <code>' when it ended the session instead. Waits for it
   * (a pull settles in the microtasks after the update).
   */
  async verdict(): Promise<Verdict> {
    for (;;) {
      const replies = this.sent.filter(
        (m) => m.type === 'update.accepted' || m.type === 'update.rejected',
      );
      const reply = replies[this.verdictsRead];
      if (reply) {
        this.verdictsRead++;
        return reply.type === 'update.accepted' ? 'accepted' : reply.code;
      }
      if (this.refusal) return `refused: ${this.refusal}`;
      if (this.closed) throw new Error(`${this.site} left without a verdict`);
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  /** The connection drops without a farewell, as a crashed site's would. */
  drop(): void {
    this.close();
  }

  /** One validated message, handled as the gateway handles it: an error ends the session. */
  private deliver(message: Parameters<RunConductor['handle']>[1]): Result<true> {
    const handled = this.run.conductor.handle(this, message);
    if (!handled.ok) this.refuse(handled.error.code);
    return handled;
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    this.run.conductor.siteLeft(this);
    for (const listener of this.closeListeners.splice(0)) listener();
    this.wake();
  }

  private wake(): void {
    for (const waiter of this.waiters.splice(0)) waiter();
  }
}

/**
 * Wraps the store's run part so that every state the run's stored state was set to is
 * recorded, in order, once the change that set it committed. The store commits the changes of
 * one tick together, so reading the state after each would miss the ones set in passing.
 */
function recordingStates(store: CoordinatorStore, runId: string, states: RunState[]): void {
  const runs = store.runs;
  const setTo = (key: string | symbol, arg: { runId?: string; state?: RunState }) => {
    if (arg.runId !== runId) return undefined;
    if (key === 'create') return 'created';
    if (key === 'start') return 'waiting-for-sites';
    return key === 'setState' || key === 'complete' ? arg.state : undefined;
  };
  (store as { runs: CoordinatorStore['runs'] }).runs = new Proxy(runs, {
    get(target, key) {
      const value: unknown = Reflect.get(target, key, target);
      if (typeof value !== 'function') return value;
      return async (...args: unknown[]) => {
        const arg = (args[0] ?? {}) as { id?: string; runId?: string; state?: RunState };
        const state = setTo(key, { ...arg, runId: arg.runId ?? arg.id });
        const result: unknown = await value.apply(target, args);
        if (state && state !== states.at(-1)) states.push(state);
        return result;
      };
    },
  });
}

/**
 * One RunConductor built from real parts without sockets: a real SQLite store in a temp
 * folder, real libsodium, the demo workspace's setup, a real held-out evaluator and events,
 * the real teacher's soft labels, a ManualClock, and in-memory sessions (TestSite).
 */
export class ConductorHarness {
  /** The run's stored state after every change, from `created` on. */
  readonly states: RunState[] = [];
  readonly closed: RoundSummary[] = [];
  readonly failed: RoundFailure[] = [];
  /** Every event the run sent to the audit log, in order. */
  readonly audits: AuditEvent[] = [];
  readonly conductor: RunConductor;
  private readonly sites = new Map<string, TestSite>();

  private constructor(
    readonly clock: ManualClock,
    readonly events: CoordinatorEvents,
    readonly store: CoordinatorStore,
    readonly transfer: InProcessTransfer,
    readonly sodium: Sodium,
    readonly runId: string,
    private readonly dir: string,
    conduct: (harness: ConductorHarness) => RunConductor,
  ) {
    recordingStates(store, runId, this.states);
    events.on('round', (summary) => this.closed.push(summary));
    events.on('roundFailed', (failure) => this.failed.push(failure));
    events.on('audit', (event) => this.audits.push(event));
    this.conductor = conduct(this);
  }

  /** A started run of `run` over the shared workspace; run.rounds defaults to 2. */
  static async start(run: Partial<RunSpecInput> = {}): Promise<ConductorHarness> {
    shared ??= prepareShared();
    const parts = await shared;
    const { setup, evaluation, teacher } = parts;
    const spec = runSpecSchema.parse({ ...parts.baseRun, ...run });
    const dir = await mkdtemp(path.join(tmpdir(), 'fedistill-run-'));
    const store = openSqliteStore({ sodium: setup.sodium, file: path.join(dir, 'store.sqlite') });
    const registry = setup.allowList.sites.map((s) => ({
      name: s.name,
      publicKey: s.publicKey,
      state: 'enrolled' as const,
    }));
    await store.sites.sync(registry);
    const runId = 'run-under-test';
    const specHash = runSpecHash(setup.sodium, spec, setup.config.data, setup.publicSplitBytes);
    const clock = new ManualClock();
    const events = new CoordinatorEvents();
    const transfer = new InProcessTransfer(setup.sodium);
    const harness = new ConductorHarness(
      clock,
      events,
      store,
      transfer,
      setup.sodium,
      runId,
      dir,
      () =>
        new RunConductor(
          {
            ...{ setup, evaluation, events, transfer, store, clock },
            registry: {
              enrolledCount: registry.length,
              publicKeys: () => new Map(registry.map((s) => [s.name, s.publicKey])),
            },
          },
          { id: runId, specHash, exportDir: path.join(dir, 'exports') },
          spec,
          teacher,
        ),
    );
    await store.runs.create({ id: runId, specHash, spec });
    await harness.conductor.start();
    return harness;
  }

  /** The site's session: the open one, or a new one once the last has closed. */
  site(name: string): TestSite {
    let site = this.sites.get(name);
    if (!site || site.closed) {
      site = new TestSite(name, this);
      this.sites.set(name, site);
    }
    return site;
  }

  /** The named sites join and say ready, in order; each must be welcomed. */
  ready(...names: string[]): TestSite[] {
    return names.map((name) => {
      const site = this.site(name);
      unwrap(site.join());
      unwrap(site.ready());
      return site;
    });
  }

  /** The run's state as the store holds it, once what was asked of it so far is committed. */
  async storedState(): Promise<RunState> {
    return (await this.store.runs.get(this.runId))!.state;
  }

  /** Resolves when round `round` closes with a new model. Call before what should close it. */
  roundClosed(round: number): Promise<RoundSummary> {
    return new Promise((resolve) => {
      const check = (summary: RoundSummary): void => {
        if (summary.round !== round) return;
        this.events.off('round', check);
        resolve(summary);
      };
      this.events.on('round', check);
    });
  }

  /** Resolves with the next failed attempt. Call before what should fail it. */
  nextFailure(): Promise<RoundFailure> {
    return new Promise((resolve) => this.events.once('roundFailed', resolve));
  }

  async dispose(): Promise<void> {
    this.conductor.dispose();
    await this.store.close();
    await rm(this.dir, { recursive: true, force: true });
  }
}
