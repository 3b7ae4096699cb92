import { orderSplit } from './data-sources/feature-order.js';
import type { FederationKeys } from './federation-keys.js';
import {
  decodeKey,
  decodeTeacherKnowledge,
  FedistillError,
  parameterCount,
  toHex,
  type BlobChunk,
  type BlobManifest,
  type CoordinatorMessage,
  type ErrorCode,
  type IdentityKeyPair,
  type RunWelcome,
  type SiteMessage,
  type Sodium,
  type TeacherKnowledge,
} from '../protocol/index.js';
import { BlobPulls, type BlobLanded } from './blob-pulls.js';
import type { CoordinatorConnection } from './coordinator-connection.js';
import type { PrivateSplit } from './data-sources/private-split.js';
import {
  encodePrivateTexts,
  isTextSplit,
  type PrivateTextSplit,
} from './data-sources/private-texts.js';
import type { PrivacyLedger } from './privacy-ledger.js';
import { closeRunContext, openRunContext, type RunContext } from './run-context.js';
import { RoundHandler, type SessionLink } from './round-handler.js';
import type { SiteConfig } from './site-config.js';
import type { TransferCache } from './transfer-cache.js';
import { keepTreeHead } from './tree-heads.js';

/**
 * Failures after which trying again can help: the coordinator was away or restarting, or it
 * still holds this site's previous session (one an edge node held when it died ends once the
 * leader takes that node for dead).
 */
export const RETRYABLE_CODES: readonly ErrorCode[] = [
  'session.closed',
  'handshake.timeout',
  'session.duplicate',
];

export interface SiteRunSummary {
  readonly site: string;
  readonly runId: string;
  readonly roundsTrained: number;
  readonly backend: string;
  readonly transferFromCache: boolean;
  readonly sessions: number;
  readonly bytesSent: number;
  readonly bytesReceived: number;
}

export type SiteLog = (line: string) => void;

/** The part of a coordinator connection the loop uses; a test can stand in for it. */
export type SiteConnection = Pick<
  CoordinatorConnection,
  'next' | 'send' | 'leave' | 'close' | 'bytesSent' | 'bytesReceived'
>;

export interface SessionLoopOptions {
  readonly sodium: Sodium;
  readonly config: SiteConfig;
  readonly cache: TransferCache;
  /** The site's own privacy ledger (privacy-ledger.ts), opened from its cache folder. */
  readonly ledger: PrivacyLedger;
  /** The private rows, or texts that the run's tokenizer turns into rows. */
  readonly split: PrivateSplit | PrivateTextSplit;
  /** The compute backend in use, as the site reports it. */
  readonly backend: string;
  readonly identity: IdentityKeyPair;
  /** The site's enrolled name. */
  readonly site: string;
  /** The federation's enrolled keys, when the site pinned them. */
  readonly federation?: FederationKeys;
  readonly log: SiteLog;
}

/**
 * A site's part of one run, over as many sessions as it takes: each session reads the
 * coordinator's messages in order and dispatches them. What the site knows of the run (its
 * context, the transfer set, the rounds' error feedback) outlives a dropped connection.
 */
export class SessionLoop implements SessionLink {
  private connection!: SiteConnection;
  private welcome: RunWelcome | undefined;
  /** The private split in the run's feature order, once the welcome named the features. */
  private split: PrivateSplit | undefined;
  private context: RunContext | undefined;
  private readonly pulls: BlobPulls;
  private readonly rounds: RoundHandler;
  private transferFromCache = false;
  /** Set when a detached part of a round failed: the run stops with it. */
  private aborted: { readonly error: unknown } | undefined;
  private sessions = 0;
  private bytesSent = 0;
  private bytesReceived = 0;

  constructor(private readonly options: SessionLoopOptions) {
    this.pulls = new BlobPulls(options.sodium);
    this.rounds = new RoundHandler({
      sodium: options.sodium,
      site: options.site,
      identity: options.identity,
      limits: options.config.limits,
      privacy: options.config.privacy,
      ledger: options.ledger,
      ...(options.federation ? { federation: options.federation } : {}),
      trainingRows: options.split.train.labels.length,
      link: this,
      log: (line) => this.say(line),
    });
  }

  /** One session: until the run completes (summary) or the connection drops (the reason). */
  async serve(
    connection: SiteConnection,
  ): Promise<{ summary: SiteRunSummary } | { dropped: FedistillError }> {
    this.connection = connection;
    this.sessions++;
    let welcomed = false;
    try {
      for (;;) {
        const next = await connection.next();
        if (!next.ok) {
          if (this.aborted) throw this.aborted.error;
          if (RETRYABLE_CODES.includes(next.error.code))
            return { dropped: new FedistillError(next.error) };
          throw new FedistillError(next.error);
        }
        if (next.value.type === 'run.welcome') {
          if (welcomed) this.stop('protocol.unexpected_message', 'a second welcome in one session');
          welcomed = true;
        }
        const summary = await this.dispatch(next.value);
        if (summary) return { summary };
      }
    } finally {
      this.bytesSent += connection.bytesSent;
      this.bytesReceived += connection.bytesReceived;
      await connection.close();
    }
  }

  send(message: SiteMessage): void {
    this.connection.send(message);
  }

  stop(code: ErrorCode, message: string): never {
    void this.connection.leave(code);
    throw new FedistillError({ code, message });
  }

  abort(error: unknown): void {
    this.aborted ??= { error };
    void (error instanceof FedistillError
      ? this.connection.leave(error.code)
      : this.connection.close());
  }

  pull(manifest: BlobManifest, then: BlobLanded): void {
    this.send(this.pulls.start(manifest, then));
  }

  private say(line: string): void {
    this.options.log(`site ${this.options.site}: ${line}`);
  }

  private async dispatch(message: CoordinatorMessage): Promise<SiteRunSummary | undefined> {
    switch (message.type) {
      case 'run.welcome':
        await this.onWelcome(message);
        return undefined;
      case 'blob.chunk':
        await this.onChunk(message);
        return undefined;
      case 'blob.request': {
        const chunks = this.rounds.serve(message);
        if (!chunks.ok) return this.stop(chunks.error.code, chunks.error.message);
        for (const chunk of chunks.value) this.send(chunk);
        return undefined;
      }
      case 'round.start':
        this.rounds.start(this.context, message);
        return undefined;
      case 'update.accepted':
      case 'update.rejected':
        this.rounds.answered(message);
        return undefined;
      case 'audit.tree_head': {
        const { sodium, config } = this.options;
        const kept = await keepTreeHead(
          {
            sodium,
            coordinatorKey: decodeKey(config.coordinator.publicKey),
            cacheDir: config.cacheDir,
          },
          message.head,
        );
        if (!kept.ok) return this.stop(kept.error.code, kept.error.message);
        return undefined;
      }
      case 'secagg.roster':
      case 'secagg.relay':
      case 'secagg.survivors':
      case 'secagg.unmask':
        this.rounds.secureStep(message);
        return undefined;
      case 'run.complete':
        this.say(`run ${message.runId} complete after ${message.rounds} rounds`);
        await this.connection.leave('run.complete');
        return {
          site: this.options.site,
          runId: message.runId,
          roundsTrained: this.rounds.roundsTrained,
          backend: this.options.backend,
          transferFromCache: this.transferFromCache,
          sessions: this.sessions,
          bytesSent: this.bytesSent + this.connection.bytesSent,
          bytesReceived: this.bytesReceived + this.connection.bytesReceived,
        };
      default: {
        const unreachable: never = message;
        return unreachable;
      }
    }
  }

  private async onWelcome(welcome: RunWelcome): Promise<void> {
    const { config } = this.options;
    const sameRun = this.welcome?.runId === welcome.runId;
    if (parameterCount(welcome.student) > config.limits.maxParameters) {
      this.stop(
        'site.limits_exceeded',
        `the student has ${parameterCount(welcome.student)} parameters, the limit is ${config.limits.maxParameters}`,
      );
    }
    const source = this.options.split;
    if (isTextSplit(source) !== (welcome.tokenizer !== undefined)) {
      this.stop(
        'data.invalid',
        welcome.tokenizer
          ? "the run is over text, and this site's data source names no texts (text, or a folder)"
          : 'this site holds texts, and the run is over numeric rows',
      );
    }
    if (isTextSplit(source) && welcome.tokenizer && !(sameRun && this.split)) {
      // The texts become the run's token ids first; the tokenizer is pulled like any blob.
      const { blob, length } = welcome.tokenizer;
      this.pull(blob, async (bytes) => {
        this.split = await encodePrivateTexts(source, bytes, length);
        this.say(
          `tokenizer ${toHex(blob.hash).slice(0, 16)}: texts encoded to ${length} token ids`,
        );
        await this.takeWelcome(welcome, this.split, false);
      });
      return;
    }
    await this.takeWelcome(welcome, isTextSplit(source) ? this.split! : source, sameRun);
  }

  /** The welcome's rows are in place (token ids for text): the site readies its run. */
  private async takeWelcome(
    welcome: RunWelcome,
    rows: PrivateSplit,
    sameRun: boolean,
  ): Promise<void> {
    const { cache } = this.options;
    const ordered = orderSplit(rows, welcome.features);
    if (!ordered.ok) this.stop(ordered.error.code, ordered.error.message);
    this.split = ordered.value;
    this.welcome = welcome;
    if (sameRun && this.context) {
      // Back after a dropped connection: the site is ready as it was.
      this.sendReady(welcome);
      return;
    }
    this.closeContext();
    const cached = await cache.load(welcome.teacher);
    if (cached) {
      this.transferFromCache = true;
      await this.becomeReady(cached, welcome);
      return;
    }
    const onTransferSet = async (bytes: Uint8Array): Promise<void> => {
      const knowledge = decodeTeacherKnowledge(bytes, welcome.teacher);
      if (!knowledge.ok) return this.stop(knowledge.error.code, knowledge.error.message);
      await cache.store(welcome.teacher, bytes);
      await this.becomeReady(knowledge.value, welcome);
    };
    const resumed = this.pulls.resume(welcome.teacher.blob.hash, onTransferSet);
    if (resumed) {
      this.say(`resuming the transfer set from chunk ${resumed.from}`);
      this.send(resumed);
    } else {
      this.pull(welcome.teacher.blob, onTransferSet);
    }
  }

  private async onChunk(chunk: BlobChunk): Promise<void> {
    const accepted = this.pulls.accept(chunk);
    if (!accepted.ok) return this.stop(accepted.error.code, accepted.error.message);
    if (accepted.value.next) this.send(accepted.value.next);
    const landed = accepted.value.blob;
    if (landed) await landed.then(landed.bytes);
  }

  private sendReady(welcome: RunWelcome): void {
    this.send({
      type: 'site.ready',
      transferHash: welcome.teacher.blob.hash,
      backend: this.options.backend,
    });
  }

  private async becomeReady(knowledge: TeacherKnowledge, welcome: RunWelcome): Promise<void> {
    const { backend, config } = this.options;
    const split = this.split!;
    const opened = await openRunContext({
      welcome,
      knowledge,
      split,
      backend,
      workers: config.parallelism.workers,
      log: (line) => this.say(line),
    });
    if (!opened.ok) return this.stop(opened.error.code, opened.error.message);
    this.context = opened.value;
    this.sendReady(welcome);
    const teacher =
      knowledge.mode === 'transfer-set'
        ? `${knowledge.rows} transfer rows`
        : `${knowledge.classes} class-mean teacher logits`;
    this.say(
      `ready, ${split.train.rows} training and ${split.validation?.rows ?? 0} validation rows, ${teacher}`,
    );
  }

  private closeContext(): void {
    if (this.context) closeRunContext(this.context);
    this.context = undefined;
  }

  dispose(): void {
    this.closeContext();
  }
}
