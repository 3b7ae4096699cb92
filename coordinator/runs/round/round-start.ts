import type { BlobManifest, RoundStart, SecureRound } from '../../../protocol/index.js';
import type { RunSpec } from '../run-spec.js';

/** The fake-quantization scheme of a round in the quantization-aware tail of the run. */
function quantizationAware(
  spec: Pick<RunSpec, 'compression' | 'rounds'>,
  round: number,
): 'int8' | 'int8-channel' | undefined {
  const qat = spec.compression.quantizationAware;
  return qat && round > spec.rounds - qat.finalRounds ? qat.scheme : undefined;
}

/** What an attempt's round.start says besides the run's fixed settings. */
export interface RoundStartFields {
  readonly runId: string;
  readonly round: number;
  readonly modelVersion: number;
  readonly temperature: number;
  readonly alpha: number;
  /** The global model and its pruning mask, as offered for download. */
  readonly model: BlobManifest;
  readonly mask?: BlobManifest;
  /** The L2 norm sites clip their updates to, if any (PrivacyPlan.siteClipNorm). */
  readonly clipNorm?: number;
  readonly secureAggregation?: SecureRound;
}

/** The round.start every participant of an attempt gets: schedule values, settings, model. */
export function roundStartFor(spec: RunSpec, fields: RoundStartFields): RoundStart {
  const { mask, clipNorm, secureAggregation } = fields;
  const fakeQuant = quantizationAware(spec, fields.round);
  const hidden = spec.distillation.hiddenState;
  return {
    type: 'round.start',
    runId: fields.runId,
    round: fields.round,
    modelVersion: fields.modelVersion,
    temperature: fields.temperature,
    alpha: fields.alpha,
    localEpochs: spec.localEpochs,
    batchSize: spec.batchSize,
    learningRate: spec.learningRate,
    labelSmoothing: spec.labelSmoothing,
    proximalMu: spec.proximalMu,
    updateEncoding: spec.updateEncoding,
    topkFraction: spec.topkFraction,
    ...(clipNorm === undefined ? {} : { clipNorm }),
    ...(hidden ? { hiddenState: { layer: hidden.studentLayer, weight: hidden.weight } } : {}),
    model: fields.model,
    ...(mask ? { mask } : {}),
    ...(fakeQuant ? { fakeQuant } : {}),
    ...(secureAggregation ? { secureAggregation } : {}),
  };
}
