import { appendFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {
  applyNormalizer,
  BlobOutbox,
  buildModel,
  checkLabels,
  checkTensorsMatch,
  clipByL2,
  decodeKey,
  decodeTensorBlob,
  decodeTeacherKnowledge,
  encodeTensorBlob,
  FedistillError,
  identityFileSchema,
  identityKeyPair,
  type IdentityKeyPair,
  loadSodium,
  parameterCount,
  range,
  readJsonFile,
  readWeights,
  seededRandom,
  selectBackend,
  shuffleInPlace,
  toHex,
  unwrap,
  weightLayout,
  writeWeights,
  type BlobChunk,
  type BlobManifest,
  type BlobRequest,
  type CoordinatorMessage,
  type ErrorCode,
  type LabelledTable,
  type NamedTensor,
  type Result,
  type RoundStart,
  type RunWelcome,
  type Sodium,
  type TeacherKnowledge,
  type SignedTreeHead,
  verifyTreeHead,
} from '../protocol/index.js';
import { BlobPulls } from './blob-pulls.js';
import { CoordinatorConnection } from './coordinator-connection.js';
import { crossEntropy } from './distillation-loss.js';
import { loadPrivateData } from './data-sources/private-data.js';
import {
  trainLocally,
  type HiddenStateTerm,
  type LocalData,
  type TeacherTensors,
} from './local-trainer.js';
import type { SiteConfig } from './site-config.js';
import { TrainingPool } from './training-pool.js';
import { TransferCache } from './transfer-cache.js';
import { SiteSecureRound } from './secure-round.js';
import { ErrorFeedback, weightDelta } from './update-builder.js';

/** Chunk size of the update blobs a site offers. */
const UPDATE_CHUNK_BYTES = 256 * 1024;

/** Failures after which trying again can help: the coordinator was away or restarting. */
const RETRYABLE: readonly ErrorCode[] = ['session.closed', 'handshake.timeout'];

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

/** The private rows, split once into training and local validation. */
interface PrivateSplit {
  readonly train: LabelledTable;
  readonly validation: LabelledTable | undefined;
}

/** Everything the site holds for one run once the transfer set is in place. */
interface RunContext {
  readonly welcome: RunWelcome;
  readonly model: tfl.Sequential;
  readonly data: LocalData;
  readonly validation: { readonly inputs: tf.Tensor2D; readonly labels: tf.Tensor2D } | undefined;
  /** The hidden-state extractor and projection, once a round asks for them. */
  /** Worker threads training shards of the private data, when the site config asks for them. */
  pool?: TrainingPool;
  hidden?: {
    readonly layer: string;
    readonly extractor: tfl.LayersModel;
    readonly projection: tf.Variable;
  };
}

function take(table: LabelledTable, rows: readonly number[]): LabelledTable {
  const inputs = new Float32Array(rows.length * table.features);
  rows.forEach((r, i) =>
    inputs.set(
      table.inputs.subarray(r * table.features, (r + 1) * table.features),
      i * table.features,
    ),
  );
  return {
    ...table,
    rows: rows.length,
    inputs,
    labels: Int32Array.from(rows, (r) => table.labels[r]!),
  };
}

/** A seeded local validation split; it stays at the site and feeds only scalar metrics. */
export function splitPrivate(table: LabelledTable, fraction: number, seed: number): PrivateSplit {
  const count = Math.min(Math.floor(table.rows * fraction), table.rows - 1);
  if (count < 1) return { train: table, validation: undefined };
  const order = shuffleInPlace(range(table.rows), seededRandom(seed));
  return { train: take(table, order.slice(count)), validation: take(table, order.slice(0, count)) };
}

/** The signed audit-log heads the coordinator sent, one JSON per line, in the cache folder. */
export const TREE_HEADS_FILE = 'tree-heads.jsonl';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs one site through one federated run: handshake, transfer-set sync, then one local
 * training per round until the coordinator says the run is complete. When the coordinator is
 * unreachable or the connection drops, it reconnects with exponential backoff and carries on
 * (a transfer-set download resumes from the first chunk it lacks). Private data is read here;
 * only weight deltas, the example count and scalar validation metrics leave this function.
 */
export async function runSite(
  config: SiteConfig,
  log: SiteLog = () => {},
): Promise<SiteRunSummary> {
  const sodium = await loadSodium();
  const identityFile = unwrap(await readJsonFile(config.identityFile, identityFileSchema));
  const backend = unwrap(await selectBackend(config.backend));
  log(`site ${identityFile.name}: compute backend ${backend}`);
  const split = splitPrivate(
    unwrap(await loadPrivateData(config.data)),
    config.validationFraction,
    config.seed,
  );
  const run = new SiteRun(
    sodium,
    config,
    new TransferCache(sodium, config.cacheDir),
    split,
    backend,
    identityKeyPair(identityFile),
    identityFile.name,
    log,
  );
  const { initialDelayMs, maxDelayMs, maxAttempts } = config.reconnect;
  try {
    for (let failures = 0; ;) {
      const opened = await CoordinatorConnection.open({
        sodium,
        url: config.coordinator.url,
        identity: identityKeyPair(identityFile),
        pinnedCoordinatorKey: decodeKey(config.coordinator.publicKey),
      });
      let error = opened.ok ? undefined : opened.error;
      if (opened.ok) {
        log(`site ${identityFile.name}: session established with ${config.coordinator.url}`);
        failures = 0;
        const outcome = await run.session(opened.value);
        if ('summary' in outcome) return outcome.summary;
        error = outcome.dropped;
      }
      if (!error || !RETRYABLE.includes(error.code) || failures >= maxAttempts) {
        throw new FedistillError(error ?? { code: 'session.closed', message: 'the session ended' });
      }
      const delay =
        Math.min(maxDelayMs, initialDelayMs * 2 ** failures) * (0.5 + Math.random() / 2);
      failures++;
      log(
        `site ${identityFile.name}: ${error.message}; retrying in ${Math.round(delay)} ms (attempt ${failures} of ${maxAttempts})`,
      );
      await sleep(delay);
    }
  } finally {
    run.dispose();
  }
}

class SiteRun {
  private connection!: CoordinatorConnection;
  private welcome: RunWelcome | undefined;
  private context: RunContext | undefined;
  private readonly pulls: BlobPulls;
  private readonly outbox: BlobOutbox;
  /** What to do with each blob being pulled, by hash, once it is complete and verified. */
  private readonly onBlob = new Map<string, (blob: Uint8Array) => Promise<void> | void>();
  private offered: BlobManifest | undefined;
  /** The open round's secure aggregation, when the round has it. */
  private secure: SiteSecureRound | undefined;
  /** What lossy update encodings dropped, carried into the next round's update. */
  private readonly feedback = new ErrorFeedback();
  private roundsTrained = 0;
  private transferFromCache = false;
  private sessions = 0;
  private bytesSent = 0;
  private bytesReceived = 0;

  constructor(
    private readonly sodium: Sodium,
    private readonly config: SiteConfig,
    private readonly cache: TransferCache,
    private readonly split: PrivateSplit,
    private readonly backend: string,
    private readonly identity: IdentityKeyPair,
    private readonly site: string,
    private readonly log: SiteLog,
  ) {
    this.pulls = new BlobPulls(sodium);
    this.outbox = new BlobOutbox(sodium);
  }

  /** One session: until the run completes (summary) or the connection drops (the reason). */
  async session(
    connection: CoordinatorConnection,
  ): Promise<{ summary: SiteRunSummary } | { dropped: FedistillError }> {
    this.connection = connection;
    this.sessions++;
    let welcomed = false;
    try {
      for (;;) {
        const next = await connection.next();
        if (!next.ok) {
          if (next.error.code === 'session.closed')
            return { dropped: new FedistillError(next.error) };
          throw new FedistillError(next.error);
        }
        if (next.value.type === 'run.welcome') {
          if (welcomed) this.stop('protocol.unexpected_message', 'a second welcome in one session');
          welcomed = true;
        }
        const summary = await this.handle(next.value);
        if (summary) return { summary };
      }
    } finally {
      this.bytesSent += connection.bytesSent;
      this.bytesReceived += connection.bytesReceived;
      await connection.close();
    }
  }

  /** Ends the session with the reason as the site's final frame, then stops this run. */
  private stop(code: ErrorCode, message: string): never {
    void this.connection.leave(code);
    throw new FedistillError({ code, message });
  }

  private async handle(message: CoordinatorMessage): Promise<SiteRunSummary | undefined> {
    switch (message.type) {
      case 'run.welcome':
        await this.onWelcome(message);
        return undefined;
      case 'blob.chunk':
        await this.onChunk(message);
        return undefined;
      case 'blob.request':
        this.onRequest(message);
        return undefined;
      case 'round.start':
        this.onRoundStart(message);
        return undefined;
      case 'update.accepted':
        if (this.offered) this.outbox.withdraw(this.offered.hash);
        this.offered = undefined;
        return undefined;
      case 'update.rejected':
        // A straggler's update: its round closed without it. The next round starts afresh.
        this.log(
          `site ${this.site}: round ${message.round} closed before its update arrived (${message.code})`,
        );
        if (this.offered) this.outbox.withdraw(this.offered.hash);
        this.offered = undefined;
        return undefined;
      case 'audit.tree_head':
        await this.keepTreeHead(message.head);
        return undefined;
      case 'secagg.roster':
      case 'secagg.relay':
      case 'secagg.unmask':
        this.onSecureStep(message);
        return undefined;
      case 'run.complete':
        this.log(`site ${this.site}: run ${message.runId} complete after ${message.rounds} rounds`);
        await this.connection.leave('run.complete');
        return {
          site: this.site,
          runId: message.runId,
          roundsTrained: this.roundsTrained,
          backend: this.backend,
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

  /**
   * Keeps a signed head of the coordinator's audit log, once its signature checks against the
   * pinned coordinator key: the site's own record of the history it was shown.
   */
  private async keepTreeHead(head: SignedTreeHead): Promise<void> {
    const verified = verifyTreeHead(
      this.sodium,
      decodeKey(this.config.coordinator.publicKey),
      head,
    );
    if (!verified.ok) return this.stop(verified.error.code, verified.error.message);
    await mkdir(this.config.cacheDir, { recursive: true });
    await appendFile(path.join(this.config.cacheDir, TREE_HEADS_FILE), JSON.stringify(head) + '\n');
  }

  private pull(manifest: BlobManifest, then: (blob: Uint8Array) => Promise<void> | void): void {
    this.onBlob.set(toHex(manifest.hash), then);
    this.connection.send(this.pulls.start(manifest));
  }

  private async onWelcome(welcome: RunWelcome): Promise<void> {
    const sameRun = this.welcome?.runId === welcome.runId;
    if (parameterCount(welcome.student) > this.config.limits.maxParameters) {
      this.stop(
        'site.limits_exceeded',
        `the student has ${parameterCount(welcome.student)} parameters, the limit is ${this.config.limits.maxParameters}`,
      );
    }
    this.welcome = welcome;
    if (sameRun && this.context) {
      // Back after a dropped connection: the site is ready as it was.
      this.sendReady(welcome);
      return;
    }
    this.disposeContext();
    const cached = await this.cache.load(welcome.teacher);
    if (cached) {
      this.transferFromCache = true;
      await this.becomeReady(cached, welcome);
      return;
    }
    const onTransferSet = async (bytes: Uint8Array): Promise<void> => {
      const knowledge = decodeTeacherKnowledge(bytes, welcome.teacher);
      if (!knowledge.ok) return this.stop(knowledge.error.code, knowledge.error.message);
      await this.cache.store(welcome.teacher, bytes);
      await this.becomeReady(knowledge.value, welcome);
    };
    const resumed = this.pulls.resume(welcome.teacher.blob.hash);
    if (resumed) {
      this.log(`site ${this.site}: resuming the transfer set from chunk ${resumed.from}`);
      this.onBlob.set(toHex(welcome.teacher.blob.hash), onTransferSet);
      this.connection.send(resumed);
    } else {
      this.pull(welcome.teacher.blob, onTransferSet);
    }
  }

  private async onChunk(chunk: BlobChunk): Promise<void> {
    const accepted = this.pulls.accept(chunk);
    if (!accepted.ok) return this.stop(accepted.error.code, accepted.error.message);
    if (accepted.value.next) this.connection.send(accepted.value.next);
    if (accepted.value.blob) {
      const key = toHex(chunk.hash);
      const then = this.onBlob.get(key)!;
      this.onBlob.delete(key);
      await then(accepted.value.blob);
    }
  }

  /** The coordinator pulls this site's update; nothing else is offered. */
  private onRequest(request: BlobRequest): void {
    const planned = this.outbox.plan(request.hash, request.from, request.count);
    if (!planned.ok) return this.stop(planned.error.code, planned.error.message);
    for (const index of planned.value) {
      this.connection.send({
        type: 'blob.chunk',
        hash: request.hash,
        index,
        data: this.outbox.chunk(request.hash, index)!,
      });
    }
  }

  private sendReady(welcome: RunWelcome): void {
    this.connection.send({
      type: 'site.ready',
      transferHash: welcome.teacher.blob.hash,
      backend: this.backend,
    });
  }

  private async becomeReady(knowledge: TeacherKnowledge, welcome: RunWelcome): Promise<void> {
    this.context = this.prepareRun(welcome, knowledge);
    this.context.pool = await this.startPool(welcome, knowledge);
    this.sendReady(welcome);
    const teacher =
      knowledge.mode === 'transfer-set'
        ? `${knowledge.rows} transfer rows`
        : `${knowledge.classes} class-mean teacher logits`;
    this.log(
      `site ${this.site}: ready, ${this.split.train.rows} training and ${this.split.validation?.rows ?? 0} validation rows, ${teacher}`,
    );
  }

  /**
   * The worker pool, where the config asks for more than one worker and the backend is a CPU
   * one (a GPU is not shared between threads). Each worker gets a shard of the normalised rows.
   */
  private async startPool(
    welcome: RunWelcome,
    knowledge: TeacherKnowledge,
  ): Promise<TrainingPool | undefined> {
    const { workers } = this.config.parallelism;
    if (workers < 2) return undefined;
    if (this.backend !== 'wasm' && this.backend !== 'cpu') {
      this.log(
        `site ${this.site}: ${workers} training workers asked for, but ${this.backend} trains on one device; using one`,
      );
      return undefined;
    }
    const { normalizer, student } = welcome;
    const pool = await TrainingPool.start({
      workers,
      backend: this.backend,
      spec: student,
      inputs: applyNormalizer(this.split.train.inputs, normalizer),
      labels: this.split.train.labels,
      teacher:
        knowledge.mode === 'class-logits'
          ? { kind: 'class-logits', matrix: knowledge.matrix }
          : {
              kind: 'transfer-set',
              inputs: applyNormalizer(knowledge.inputs, normalizer),
              logits: knowledge.logits,
              rows: knowledge.rows,
            },
    });
    this.log(`site ${this.site}: training on ${pool.size} worker threads`);
    return pool;
  }

  private prepareRun(welcome: RunWelcome, knowledge: TeacherKnowledge): RunContext {
    const { student, normalizer } = welcome;
    const { train, validation } = this.split;
    const sizesAgree =
      student.classes === knowledge.classes &&
      normalizer.mean.length === student.inputs &&
      (knowledge.mode === 'class-logits' || knowledge.features === student.inputs);
    if (!sizesAgree)
      this.stop(
        'schema.invalid',
        'the student spec, normalizer and teacher data disagree on their sizes',
      );
    if (train.features !== student.inputs) {
      this.stop(
        'data.invalid',
        `the private data has ${train.features} features, the run expects ${student.inputs}`,
      );
    }
    const labels = checkLabels(train, student.classes, 'private data');
    if (!labels.ok) this.stop(labels.error.code, labels.error.message);
    const asTensors = (table: LabelledTable) => ({
      inputs: tf.tensor2d(applyNormalizer(table.inputs, normalizer), [table.rows, table.features]),
      labels: tf.tidy(() =>
        tf.cast(tf.oneHot(tf.tensor1d(table.labels, 'int32'), student.classes), 'float32'),
      ) as tf.Tensor2D,
    });
    const privateData = asTensors(train);
    const validationData =
      validation && checkLabels(validation, student.classes, 'validation').ok
        ? asTensors(validation)
        : undefined;
    const teacher: TeacherTensors =
      knowledge.mode === 'class-logits'
        ? {
            kind: 'class-logits',
            matrix: tf.tensor2d(knowledge.matrix, [knowledge.classes, knowledge.classes]),
          }
        : {
            kind: 'transfer-set',
            inputs: tf.tensor2d(applyNormalizer(knowledge.inputs, normalizer), [
              knowledge.rows,
              knowledge.features,
            ]),
            logits: tf.tensor2d(knowledge.logits, [knowledge.rows, knowledge.classes]),
            ...(knowledge.hiddenWidth > 0
              ? { hidden: tf.tensor2d(knowledge.hidden, [knowledge.rows, knowledge.hiddenWidth]) }
              : {}),
          };
    return {
      welcome,
      model: buildModel(student, 0),
      data: { privateInputs: privateData.inputs, privateLabels: privateData.labels, teacher },
      validation: validationData,
    };
  }

  /**
   * The hidden-state term for this run: an extractor sharing the student's weights up to the
   * named layer, and a projection to the teacher's width, made once and kept across rounds.
   */
  private hiddenStateTerm(
    context: RunContext,
    spec: { layer: string; weight: number },
  ): HiddenStateTerm {
    const teacher = context.data.teacher;
    if (teacher.kind !== 'transfer-set' || !teacher.hidden) {
      return this.stop(
        'protocol.unexpected_message',
        'hidden-state distillation without teacher features',
      );
    }
    if (!context.hidden || context.hidden.layer !== spec.layer) {
      let layer: ReturnType<tfl.LayersModel['getLayer']>;
      try {
        layer = context.model.getLayer(spec.layer);
      } catch {
        return this.stop('schema.invalid', `the student has no layer ${spec.layer}`);
      }
      const output = layer.output as tfl.SymbolicTensor;
      const width = output.shape[output.shape.length - 1]!;
      const teacherWidth = teacher.hidden.shape[1];
      context.hidden = {
        layer: spec.layer,
        extractor: tfl.model({ inputs: context.model.inputs, outputs: output }),
        projection: tf.variable(
          tf.randomNormal(
            [width, teacherWidth],
            0,
            Math.sqrt(2 / (width + teacherWidth)),
            'float32',
            17,
          ),
        ),
      };
    }
    return {
      extractor: context.hidden.extractor,
      projection: context.hidden.projection,
      weight: spec.weight,
    };
  }

  private onRoundStart(start: RoundStart): void {
    const context = this.context;
    if (!context || start.runId !== context.welcome.runId) {
      return this.stop('protocol.unexpected_message', 'a round started before the site was ready');
    }
    const { limits } = this.config;
    if (start.localEpochs > limits.maxLocalEpochs || start.batchSize > limits.maxBatchSize) {
      return this.stop(
        'site.limits_exceeded',
        `round ${start.round} asks for ${start.localEpochs} epochs of batch ${start.batchSize}; the limits are ${limits.maxLocalEpochs} and ${limits.maxBatchSize}`,
      );
    }
    this.secure = start.secureAggregation && this.startSecureRound(context, start);
    this.pull(start.model, (modelBytes) => {
      if (!start.mask) return this.trainRound(context, start, modelBytes);
      this.pull(start.mask, (maskBytes) => this.trainRound(context, start, modelBytes, maskBytes));
    });
  }

  /** Starts the round's SecAgg+ part: fresh round keys, signed and advertised. */
  private startSecureRound(context: RunContext, start: RoundStart): SiteSecureRound {
    const secure = new SiteSecureRound(this.sodium, {
      site: this.site,
      identity: this.identity,
      runId: start.runId,
      round: start.round,
      settings: start.secureAggregation!,
      dimension: parameterCount(context.welcome.student),
    });
    const keys = secure.keys();
    if (!keys.ok) return this.stop(keys.error.code, keys.error.message);
    this.connection.send({
      type: 'secagg.keys',
      runId: start.runId,
      round: start.round,
      keys: keys.value,
    });
    return secure;
  }

  /** The coordinator's SecAgg+ steps: relay the roster's shares, take ours, answer the unmask. */
  private onSecureStep(
    message: Extract<
      CoordinatorMessage,
      { type: 'secagg.roster' | 'secagg.relay' | 'secagg.unmask' }
    >,
  ): void {
    const secure = this.secure;
    if (!secure) {
      return this.stop('protocol.unexpected_message', `${message.type} outside a secure round`);
    }
    const { runId, round } = message;
    if (message.type === 'secagg.roster') {
      const shares = secure.share(message.roster);
      if (!shares.ok) return this.stop(shares.error.code, shares.error.message);
      this.connection.send({ type: 'secagg.shares', runId, round, shares: shares.value });
    } else if (message.type === 'secagg.relay') {
      const received = secure.receive(message.shares);
      if (!received.ok) return this.stop(received.error.code, received.error.message);
    } else {
      // An honest site never gives away both shares of one peer: such a request ends it.
      const response = secure.unmask(message.request);
      if (!response.ok) return this.stop(response.error.code, response.error.message);
      this.connection.send({
        type: 'secagg.unmask_response',
        runId,
        round,
        response: response.value,
      });
    }
  }

  /** Decodes a tensor blob the coordinator sent and checks it has the student's layout. */
  private studentTensors(context: RunContext, bytes: Uint8Array, what: string): NamedTensor[] {
    const tensors = decodeTensorBlob(bytes);
    if (!tensors.ok) return this.stop(tensors.error.code, `${what}: ${tensors.error.message}`);
    const matches = checkTensorsMatch(weightLayout(context.welcome.student), tensors.value);
    if (!matches.ok) return this.stop(matches.error.code, `${what}: ${matches.error.message}`);
    return tensors.value;
  }

  private async trainRound(
    context: RunContext,
    start: RoundStart,
    modelBytes: Uint8Array,
    maskBytes?: Uint8Array,
  ): Promise<void> {
    const global = this.studentTensors(context, modelBytes, 'global model');
    const mask = maskBytes ? this.studentTensors(context, maskBytes, 'pruning mask') : undefined;
    writeWeights(context.model, global);
    const plan = {
      temperature: start.temperature,
      alpha: start.alpha,
      epochs: start.localEpochs,
      batchSize: start.batchSize,
      learningRate: start.learningRate,
      labelSmoothing: start.labelSmoothing,
      proximalMu: start.proximalMu,
      ...(mask ? { mask } : {}),
      ...(start.fakeQuant
        ? {
            fakeQuant: {
              scheme: start.fakeQuant,
              kernels: weightLayout(context.welcome.student).map((s) => s.name.endsWith('/kernel')),
            },
          }
        : {}),
      seed: start.round,
    };
    if (context.pool && !start.hiddenState) {
      // The hidden-state projection lives in this thread, so those rounds train here.
      writeWeights(context.model, await context.pool.train(global, plan));
    } else {
      await trainLocally(context.model, context.data, {
        ...plan,
        ...(start.hiddenState
          ? { hiddenState: this.hiddenStateTerm(context, start.hiddenState) }
          : {}),
      });
    }
    const raw = weightDelta(await readWeights(context.model, context.welcome.student), global);
    const delta = start.clipNorm === undefined ? raw : clipByL2(raw, start.clipNorm).delta;
    const secure = this.secure;
    if (secure) {
      // Masking waits for the neighbours' shares, which arrive as messages: the session's
      // message loop must go on meanwhile, so the rest of this round runs detached.
      void secure.masked(delta).then((masked) => this.sendUpdate(context, start, masked, secure));
      return;
    }
    // float32 is lossless; every other encoding carries what it dropped into the next round.
    const encoded =
      start.updateEncoding === 'float32'
        ? encodeTensorBlob(delta, 'float32')
        : this.feedback.encode(delta, start.updateEncoding, start.topkFraction);
    await this.sendUpdate(context, start, encoded);
  }

  /** Offers the round's update blob and announces it (a secure round's: the masked vector). */
  private async sendUpdate(
    context: RunContext,
    start: RoundStart,
    encoded: Result<Uint8Array>,
    secure?: SiteSecureRound,
  ): Promise<void> {
    // A secure round superseded meanwhile (its attempt failed, a new one started): dropped.
    if (secure && this.secure !== secure) return;
    if (!encoded.ok) return this.stop(encoded.error.code, encoded.error.message);
    if (this.offered) this.outbox.withdraw(this.offered.hash);
    this.offered = this.outbox.offer(encoded.value, UPDATE_CHUNK_BYTES);
    // A secure round reveals nothing of one site: no example count, no local metrics.
    const metrics = secure ? undefined : await this.validate(context);
    this.connection.send({
      type: 'round.update',
      runId: start.runId,
      round: start.round,
      baseVersion: start.modelVersion,
      numExamples: secure ? 1 : this.split.train.rows,
      delta: this.offered,
      ...(metrics ? { metrics } : {}),
    });
    this.roundsTrained++;
    this.log(
      `site ${this.site}: round ${start.round} trained (T=${start.temperature.toFixed(2)}, alpha=${start.alpha.toFixed(2)}` +
        (start.fakeQuant ? `, kernels fake-quantized ${start.fakeQuant})` : ')') +
        (metrics ? `, local validation accuracy ${metrics.validationAccuracy.toFixed(4)}` : ''),
    );
  }

  /** Accuracy and cross-entropy of the locally trained model on the site's validation rows. */
  private async validate(
    context: RunContext,
  ): Promise<{ validationAccuracy: number; validationLoss: number } | undefined> {
    const validation = context.validation;
    if (!validation) return undefined;
    const [accuracy, loss] = tf.tidy(() => {
      const logits = context.model.predict(validation.inputs) as tf.Tensor2D;
      const correct = tf.equal(tf.argMax(logits, -1), tf.argMax(validation.labels, -1));
      return [tf.mean(tf.cast(correct, 'float32')), crossEntropy(validation.labels, logits)];
    });
    const [validationAccuracy, validationLoss] = await Promise.all([accuracy.data(), loss.data()]);
    tf.dispose([accuracy, loss]);
    return { validationAccuracy: validationAccuracy[0]!, validationLoss: validationLoss[0]! };
  }

  private disposeContext(): void {
    if (!this.context) return;
    this.context.model.dispose();
    const { data } = this.context;
    tf.dispose([
      data.privateInputs,
      data.privateLabels,
      ...(data.teacher.kind === 'class-logits'
        ? [data.teacher.matrix]
        : [
            data.teacher.inputs,
            data.teacher.logits,
            ...(data.teacher.hidden ? [data.teacher.hidden] : []),
          ]),
    ]);
    this.context.hidden?.projection.dispose();
    void this.context.pool?.close();
    if (this.context.validation) tf.dispose(Object.values(this.context.validation));
    this.context = undefined;
  }

  dispose(): void {
    this.disposeContext();
  }
}
