import { checkRoundIdentities, type FederationKeys } from './federation-keys.js';
import {
  checkTensorsMatch,
  decodeTensorBlob,
  parameterCount,
  weightLayout,
  type BlobChunk,
  type BlobManifest,
  type BlobRequest,
  type CoordinatorMessage,
  type ErrorCode,
  type IdentityKeyPair,
  type NamedTensor,
  type Result,
  type RoundStart,
  type SiteMessage,
  type Sodium,
  type StudentSpec,
} from '../protocol/index.js';
import type { BlobLanded } from './blob-pulls.js';
import { validateLocally } from './local-validation.js';
import { admitRound, ownNoiseMultiplier, siteDelta } from './privacy-guard.js';
import type { PrivacyLedger } from './privacy-ledger.js';
import type { RunContext } from './run-context.js';
import { SiteSecureRound } from './secure-round.js';
import type { SiteConfig } from './site-config.js';
import type { RoundPlan } from './trainer.js';
import { buildUpdate, ErrorFeedback } from './update-builder.js';
import { UpdateOffer } from './update-offer.js';

/** What the round handler needs of the session it runs in (session-loop.ts). */
export interface SessionLink {
  send(message: SiteMessage): void;
  /** Ends the session with the reason as the site's final frame, then stops this run. */
  stop(code: ErrorCode, message: string): never;
  /** A detached part of a round failed: the session ends and the run stops with `error`. */
  abort(error: unknown): void;
  /** Pulls a blob from the coordinator; `then` gets it once complete and verified. */
  pull(manifest: BlobManifest, then: BlobLanded): void;
}

export interface RoundHandlerOptions {
  readonly sodium: Sodium;
  readonly site: string;
  readonly identity: IdentityKeyPair;
  readonly limits: SiteConfig['limits'];
  /** The federation's enrolled keys, when the site pinned them: secure rounds are checked. */
  readonly federation?: FederationKeys;
  /** The site's own floor and budget; without them the ledger only reports. */
  readonly privacy: SiteConfig['privacy'];
  /** Every secure attempt this site masked into, across runs. */
  readonly ledger: PrivacyLedger;
  /** The private training rows: a plain round's example count. */
  readonly trainingRows: number;
  readonly link: SessionLink;
  readonly log: (line: string) => void;
}

type SecureStep = Extract<
  CoordinatorMessage,
  { type: 'secagg.roster' | 'secagg.relay' | 'secagg.survivors' | 'secagg.unmask' }
>;

/** The local training plan a round asks for. */
function roundPlan(
  start: RoundStart,
  student: StudentSpec,
  mask: readonly NamedTensor[] | undefined,
): RoundPlan {
  return {
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
            kernels: weightLayout(student).map((s) => s.name.endsWith('/kernel')),
          },
        }
      : {}),
    ...(start.hiddenState ? { hiddenState: start.hiddenState } : {}),
    seed: start.round,
  };
}

/**
 * A site's rounds, across sessions: it checks a round against the site's limits, pulls the
 * global model (and pruning mask), trains, builds and offers the update, and takes part in the
 * round's secure aggregation. The error-feedback residual lives here, from round to round.
 */
export class RoundHandler {
  /** The open round's secure aggregation, when the round has it. */
  private secure: SiteSecureRound | undefined;
  /** What lossy update encodings dropped, carried into the next round's update. */
  private readonly feedback = new ErrorFeedback();
  private readonly offer: UpdateOffer;
  private trained = 0;

  constructor(private readonly options: RoundHandlerOptions) {
    this.offer = new UpdateOffer(options.sodium);
  }

  get roundsTrained(): number {
    return this.trained;
  }

  /** The coordinator pulls this site's update. */
  serve(request: BlobRequest): Result<BlobChunk[]> {
    return this.offer.chunks(request);
  }

  /** The coordinator's answer to the last update: the offer is withdrawn either way. */
  answered(
    message: Extract<CoordinatorMessage, { type: 'update.accepted' | 'update.rejected' }>,
  ): void {
    if (message.type === 'update.rejected') {
      // A straggler's update: its round closed without it. The next round starts afresh.
      this.options.log(`round ${message.round} closed before its update arrived (${message.code})`);
    }
    this.offer.withdraw();
  }

  start(context: RunContext | undefined, start: RoundStart): void {
    const { link, limits } = this.options;
    if (!context || start.runId !== context.welcome.runId) {
      return link.stop('protocol.unexpected_message', 'a round started before the site was ready');
    }
    if (start.localEpochs > limits.maxLocalEpochs || start.batchSize > limits.maxBatchSize) {
      return link.stop(
        'site.limits_exceeded',
        `round ${start.round} asks for ${start.localEpochs} epochs of batch ${start.batchSize}; the limits are ${limits.maxLocalEpochs} and ${limits.maxBatchSize}`,
      );
    }
    const dimension = parameterCount(context.welcome.student);
    const { federation } = this.options;
    if (start.secureAggregation && federation) {
      const known = checkRoundIdentities(federation, start.secureAggregation);
      if (!known.ok) return link.stop(known.error.code, known.error.message);
    }
    const admitted = admitRound(this.options.privacy, this.options.ledger, start, dimension);
    if (!admitted.ok) return link.stop(admitted.error.code, admitted.error.message);
    this.secure = start.secureAggregation && this.startSecureRound(context, start);
    link.pull(start.model, (modelBytes) => {
      if (!start.mask) return this.trainRound(context, start, modelBytes);
      link.pull(start.mask, (maskBytes) => this.trainRound(context, start, modelBytes, maskBytes));
    });
  }

  /** Starts the round's SecAgg+ part: fresh round keys, signed and advertised. */
  private startSecureRound(context: RunContext, start: RoundStart): SiteSecureRound {
    const { sodium, site, identity, link } = this.options;
    const secure = new SiteSecureRound(sodium, {
      site,
      identity,
      runId: start.runId,
      round: start.round,
      settings: start.secureAggregation!,
      dimension: parameterCount(context.welcome.student),
    });
    const keys = secure.keys();
    if (!keys.ok) return link.stop(keys.error.code, keys.error.message);
    link.send({ type: 'secagg.keys', runId: start.runId, round: start.round, keys: keys.value });
    return secure;
  }

  /**
   * The coordinator's SecAgg+ steps: relay the roster's shares, take ours, sign the survivor
   * set, answer the unmask.
   */
  secureStep(message: SecureStep): void {
    const { link } = this.options;
    const secure = this.secure;
    if (!secure) {
      return link.stop('protocol.unexpected_message', `${message.type} outside a secure round`);
    }
    const { runId, round } = message;
    if (message.type === 'secagg.roster') {
      const shares = secure.share(message.roster);
      if (!shares.ok) return link.stop(shares.error.code, shares.error.message);
      link.send({ type: 'secagg.shares', runId, round, shares: shares.value });
    } else if (message.type === 'secagg.relay') {
      const received = secure.receive(message.shares);
      if (!received.ok) return link.stop(received.error.code, received.error.message);
    } else if (message.type === 'secagg.survivors') {
      const signature = secure.signSurvivors(message.set);
      if (!signature.ok) return link.stop(signature.error.code, signature.error.message);
      link.send({ type: 'secagg.signature', runId, round, signature: signature.value });
    } else {
      // An honest site never gives away both shares of one peer: such a request ends it.
      const response = secure.unmask(message.request);
      if (!response.ok) return link.stop(response.error.code, response.error.message);
      link.send({ type: 'secagg.unmask_response', runId, round, response: response.value });
    }
  }

  /** Decodes a tensor blob the coordinator sent and checks it has the student's layout. */
  private studentTensors(context: RunContext, bytes: Uint8Array, what: string): NamedTensor[] {
    const { link } = this.options;
    const tensors = decodeTensorBlob(bytes);
    if (!tensors.ok) return link.stop(tensors.error.code, `${what}: ${tensors.error.message}`);
    const matches = checkTensorsMatch(weightLayout(context.welcome.student), tensors.value);
    if (!matches.ok) return link.stop(matches.error.code, `${what}: ${matches.error.message}`);
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
    const plan = roundPlan(start, context.welcome.student, mask);
    const trained = await context.trainer.train(global, plan);
    if (!trained.ok) return this.options.link.stop(trained.error.code, trained.error.message);
    const secure = this.secure;
    const update = buildUpdate({
      trained: trained.value,
      global,
      clipNorm: start.clipNorm,
      encoding: start.updateEncoding,
      topkFraction: start.topkFraction,
      feedback: this.feedback,
      secure,
    });
    if (secure) {
      // Masking waits for the neighbours' shares, which arrive as messages: the session's
      // message loop must go on meanwhile, so the rest of this round runs detached.
      update
        .then((masked) => this.sendUpdate(context, start, masked, secure))
        .catch((error: unknown) => this.options.link.abort(error));
      return;
    }
    await this.sendUpdate(context, start, await update);
  }

  /** Offers the round's update blob and announces it (a secure round's: the masked vector). */
  private async sendUpdate(
    context: RunContext,
    start: RoundStart,
    encoded: Result<Uint8Array>,
    secure?: SiteSecureRound,
  ): Promise<void> {
    const { link, log, ledger, privacy } = this.options;
    if (secure && encoded.ok) {
      // Masked: counted before it can leave, whatever becomes of the attempt (a coordinator
      // may learn a sum and still declare the attempt failed).
      await ledger.record({
        runId: start.runId,
        round: start.round,
        attempt: start.secureAggregation!.attempt,
        noiseMultiplier: ownNoiseMultiplier(start, parameterCount(context.welcome.student)),
        delta: siteDelta(privacy),
        at: new Date().toISOString(),
      });
    }
    // A secure round superseded meanwhile (its attempt failed, a new one started): dropped.
    if (secure && this.secure !== secure) return;
    if (!encoded.ok) return link.stop(encoded.error.code, encoded.error.message);
    const delta = this.offer.offer(encoded.value);
    // A secure round reveals nothing of one site: no example count, no local metrics.
    const metrics =
      secure || !context.validation
        ? undefined
        : await validateLocally(context.trainer.model, context.validation);
    link.send({
      type: 'round.update',
      runId: start.runId,
      round: start.round,
      baseVersion: start.modelVersion,
      numExamples: secure ? 1 : this.options.trainingRows,
      delta,
      ...(metrics ? { metrics } : {}),
    });
    this.trained++;
    log(
      `round ${start.round} trained (T=${start.temperature.toFixed(2)}, alpha=${start.alpha.toFixed(2)}` +
        (start.fakeQuant ? `, kernels fake-quantized ${start.fakeQuant})` : ')') +
        (metrics ? `, local validation accuracy ${metrics.validationAccuracy.toFixed(4)}` : ''),
    );
  }
}
