import { readFile } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import {
  applyNormalizer,
  BlobOutbox,
  buildModel,
  checkTensorsMatch,
  decodeKey,
  decodeTensorBlob,
  decodeTransferSet,
  encodeTensorBlob,
  FedistillError,
  identityFileSchema,
  identityKeyPair,
  loadSodium,
  parseLabelledCsv,
  readJsonFile,
  readWeights,
  selectBackend,
  toHex,
  unwrap,
  weightLayout,
  writeWeights,
  type BlobChunk,
  type BlobManifest,
  type BlobRequest,
  type CoordinatorMessage,
  type NamedTensor,
  type ErrorCode,
  type RoundStart,
  type RunWelcome,
  type Sodium,
  type TransferSet,
} from '../protocol/index.js';
import { BlobPulls } from './blob-pulls.js';
import { CoordinatorConnection } from './coordinator-connection.js';
import { trainLocally, type LocalData } from './local-trainer.js';
import type { SiteConfig } from './site-config.js';
import { TransferCache } from './transfer-cache.js';
import { clipByL2, ErrorFeedback, weightDelta } from './update-builder.js';

/** Chunk size of the update blobs a site offers. */
const UPDATE_CHUNK_BYTES = 256 * 1024;

export interface SiteRunSummary {
  readonly site: string;
  readonly runId: string;
  readonly roundsTrained: number;
  readonly backend: string;
  readonly transferFromCache: boolean;
  readonly bytesSent: number;
  readonly bytesReceived: number;
}

export type SiteLog = (line: string) => void;

/** Everything the site holds for one run once the transfer set is in place. */
interface RunContext {
  readonly welcome: RunWelcome;
  readonly model: tfl.Sequential;
  readonly data: LocalData;
  readonly privateRows: number;
}

/**
 * Runs one site through one federated run: handshake, transfer-set sync, then one local
 * training per round until the coordinator says the run is complete. Private data is read
 * here and only the weight delta and the example count leave this function.
 */
export async function runSite(
  config: SiteConfig,
  log: SiteLog = () => {},
): Promise<SiteRunSummary> {
  const sodium = await loadSodium();
  const identityFile = unwrap(await readJsonFile(config.identityFile, identityFileSchema));
  const backend = unwrap(await selectBackend(config.backend));
  log(`site ${identityFile.name}: compute backend ${backend}`);
  const privateCsv = await readFile(config.privateData, 'utf8');
  const connection = unwrap(
    await CoordinatorConnection.open({
      sodium,
      url: config.coordinator.url,
      identity: identityKeyPair(identityFile),
      pinnedCoordinatorKey: decodeKey(config.coordinator.publicKey),
    }),
  );
  log(`site ${identityFile.name}: session established with ${config.coordinator.url}`);
  const run = new SiteRun(
    sodium,
    connection,
    new TransferCache(sodium, config.cacheDir),
    privateCsv,
    backend,
    identityFile.name,
    log,
  );
  try {
    return await run.loop();
  } finally {
    await connection.close();
    run.dispose();
  }
}

class SiteRun {
  private welcome: RunWelcome | undefined;
  private context: RunContext | undefined;
  private readonly pulls: BlobPulls;
  private readonly outbox: BlobOutbox;
  /** What to do with each blob being pulled, by hash, once it is complete and verified. */
  private readonly onBlob = new Map<string, (blob: Uint8Array) => Promise<void> | void>();
  private offered: BlobManifest | undefined;
  /** What lossy update encodings dropped, carried into the next round's update. */
  private readonly feedback = new ErrorFeedback();
  private roundsTrained = 0;
  private transferFromCache = false;

  constructor(
    private readonly sodium: Sodium,
    private readonly connection: CoordinatorConnection,
    private readonly cache: TransferCache,
    private readonly privateCsv: string,
    private readonly backend: string,
    private readonly site: string,
    private readonly log: SiteLog,
  ) {
    this.pulls = new BlobPulls(sodium);
    this.outbox = new BlobOutbox(sodium);
  }

  async loop(): Promise<SiteRunSummary> {
    for (;;) {
      const next = await this.connection.next();
      if (!next.ok) throw new FedistillError(next.error);
      const summary = await this.handle(next.value);
      if (summary) return summary;
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
      case 'run.complete':
        this.log(`site ${this.site}: run ${message.runId} complete after ${message.rounds} rounds`);
        await this.connection.leave('run.complete');
        return {
          site: this.site,
          runId: message.runId,
          roundsTrained: this.roundsTrained,
          backend: this.backend,
          transferFromCache: this.transferFromCache,
          bytesSent: this.connection.bytesSent,
          bytesReceived: this.connection.bytesReceived,
        };
      default: {
        const unreachable: never = message;
        return unreachable;
      }
    }
  }

  private pull(manifest: BlobManifest, then: (blob: Uint8Array) => Promise<void> | void): void {
    this.onBlob.set(toHex(manifest.hash), then);
    this.connection.send(this.pulls.start(manifest));
  }

  private async onWelcome(welcome: RunWelcome): Promise<void> {
    if (this.welcome) this.stop('protocol.unexpected_message', 'a second welcome arrived');
    this.welcome = welcome;
    const cached = await this.cache.load(welcome.transferSet);
    if (cached) {
      this.transferFromCache = true;
      this.becomeReady(cached, welcome);
      return;
    }
    this.pull(welcome.transferSet.blob, async (bytes) => {
      const set = decodeTransferSet(bytes, welcome.transferSet);
      if (!set.ok) return this.stop(set.error.code, set.error.message);
      await this.cache.store(welcome.transferSet, bytes);
      this.becomeReady(set.value, welcome);
    });
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

  private becomeReady(set: TransferSet, welcome: RunWelcome): void {
    this.context = prepareRun(welcome, set, this.privateCsv, (code, message) =>
      this.stop(code, message),
    );
    this.connection.send({
      type: 'site.ready',
      transferHash: welcome.transferSet.blob.hash,
      backend: this.backend,
    });
    this.log(
      `site ${this.site}: ready, ${this.context.privateRows} private rows, ${set.rows} transfer rows`,
    );
  }

  private onRoundStart(start: RoundStart): void {
    const context = this.context;
    if (!context || start.runId !== context.welcome.runId) {
      return this.stop('protocol.unexpected_message', 'a round started before the site was ready');
    }
    this.pull(start.model, (modelBytes) => {
      if (!start.mask) return this.trainRound(context, start, modelBytes);
      this.pull(start.mask, (maskBytes) => this.trainRound(context, start, modelBytes, maskBytes));
    });
  }

  /** Decodes a tensor blob the coordinator sent and checks it has the student's layout. */
  private studentTensors(context: RunContext, bytes: Uint8Array, what: string): NamedTensor[] {
    const tensors = decodeTensorBlob(bytes);
    if (!tensors.ok) return this.stop(tensors.error.code, `${what}: ${tensors.error.message}`);
    const matches = checkTensorsMatch(weightLayout(context.welcome.student), tensors.value);
    if (!matches.ok) return this.stop(matches.error.code, `${what}: ${matches.error.message}`);
    return tensors.value;
  }

  private trainRound(
    context: RunContext,
    start: RoundStart,
    modelBytes: Uint8Array,
    maskBytes?: Uint8Array,
  ): void {
    const global = this.studentTensors(context, modelBytes, 'global model');
    const mask = maskBytes ? this.studentTensors(context, maskBytes, 'pruning mask') : undefined;
    writeWeights(context.model, global);
    trainLocally(context.model, context.data, {
      temperature: start.temperature,
      alpha: start.alpha,
      epochs: start.localEpochs,
      batchSize: start.batchSize,
      learningRate: start.learningRate,
      labelSmoothing: start.labelSmoothing,
      proximalMu: start.proximalMu,
      ...(mask ? { mask } : {}),
      seed: start.round,
    });
    const raw = weightDelta(readWeights(context.model, context.welcome.student), global);
    const delta = start.clipNorm === undefined ? raw : clipByL2(raw, start.clipNorm).delta;
    // float32 is lossless; every other encoding carries what it dropped into the next round.
    const encoded =
      start.updateEncoding === 'float32'
        ? encodeTensorBlob(delta, 'float32')
        : this.feedback.encode(delta, start.updateEncoding, start.topkFraction);
    if (!encoded.ok) return this.stop(encoded.error.code, encoded.error.message);
    if (this.offered) this.outbox.withdraw(this.offered.hash);
    this.offered = this.outbox.offer(encoded.value, UPDATE_CHUNK_BYTES);
    this.connection.send({
      type: 'round.update',
      runId: start.runId,
      round: start.round,
      baseVersion: start.modelVersion,
      numExamples: context.privateRows,
      delta: this.offered,
    });
    this.roundsTrained++;
    this.log(
      `site ${this.site}: round ${start.round} trained (T=${start.temperature.toFixed(2)}, alpha=${start.alpha.toFixed(2)})`,
    );
  }

  dispose(): void {
    if (!this.context) return;
    this.context.model.dispose();
    tf.dispose(Object.values(this.context.data));
  }
}

type Stop = (code: ErrorCode, message: string) => never;

function prepareRun(
  welcome: RunWelcome,
  set: TransferSet,
  privateCsv: string,
  stop: Stop,
): RunContext {
  const { student, normalizer } = welcome;
  if (
    student.inputs !== set.features ||
    normalizer.mean.length !== set.features ||
    student.classes !== set.classes
  ) {
    stop('schema.invalid', 'the student spec, normalizer and transfer set disagree on their sizes');
  }
  const table = parseLabelledCsv(privateCsv, student.classes);
  if (!table.ok) return stop(table.error.code, `private data: ${table.error.message}`);
  if (table.value.features !== student.inputs) {
    stop(
      'data.invalid',
      `private data has ${table.value.features} features, the run expects ${student.inputs}`,
    );
  }
  const data: LocalData = {
    privateInputs: tf.tensor2d(applyNormalizer(table.value.inputs, normalizer), [
      table.value.rows,
      student.inputs,
    ]),
    privateLabels: tf.tidy(() =>
      tf.cast(tf.oneHot(tf.tensor1d(table.value.labels, 'int32'), student.classes), 'float32'),
    ) as tf.Tensor2D,
    transferInputs: tf.tensor2d(applyNormalizer(set.inputs, normalizer), [set.rows, set.features]),
    teacherLogits: tf.tensor2d(set.logits, [set.rows, set.classes]),
  };
  return { welcome, model: buildModel(student, 0), data, privateRows: table.value.rows };
}
