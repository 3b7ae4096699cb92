import type * as tfl from '@tensorflow/tfjs-layers';
import {
  encodeTensorBlob,
  unwrap,
  writeWeights,
  type NamedTensor,
} from '../../../protocol/index.js';
import type { AggregationStrategy } from '../../aggregation/strategy.js';
import { kernelSparsity } from '../../compression/pruning-mask.js';
import { pruneRound } from '../../compression/round-pruning.js';
import type { HeldOutEvaluator } from '../../evaluation/held-out-evaluator.js';
import type { PrivacyPlan, PrivacySpent } from '../../privacy/privacy-plan.js';
import type { CoordinatorStore } from '../../store/store.js';
import type { StoredTensors } from '../global-model.js';
import type { RoundSummary } from '../run-report.js';
import type { RunSpec } from '../run-spec.js';
import type { RoundLedger } from './round-ledger.js';

/** A round that closed with a new model, ready to be committed. */
export interface ClosedRound {
  readonly summary: RoundSummary;
  /** The round's privacy spending, with differential privacy. */
  readonly spent?: PrivacySpent;
  readonly model: StoredTensors;
  readonly mask?: StoredTensors;
  readonly optimizerHash?: string;
  /** The schedule's sparsity for the round, when the run prunes. */
  readonly pruneTarget?: number;
}

/** What closing a round needs: the run's parts, and the moment and traffic at its close. */
export interface RoundCloseContext {
  readonly spec: RunSpec;
  readonly strategy: AggregationStrategy<unknown>;
  readonly privacy: PrivacyPlan;
  readonly store: CoordinatorStore;
  /** The run's student model: the new weights are written into it and evaluated there. */
  readonly student: tfl.LayersModel;
  readonly evaluation: HeldOutEvaluator;
  /** The mask the round was trained under: what it pruned stays pruned. */
  readonly previousMask?: readonly NamedTensor[];
  readonly now: () => number;
  readonly traffic: () => { bytesIn: number; bytesOut: number };
}

/**
 * Turns an attempt's aggregate into the next model: prunes it to the round's sparsity when the
 * run prunes, stores model, optimizer state and mask as blobs, evaluates it on the held-out
 * split, and spends the round's privacy. Nothing is committed here: the caller commits the
 * round unless the run was cancelled meanwhile.
 */
export async function closeRound(
  ledger: RoundLedger,
  aggregated: NamedTensor[],
  context: RoundCloseContext,
): Promise<ClosedRound> {
  const { spec, store } = context;
  const pruning = spec.compression.pruning;
  const pruned = pruning && pruneRound(aggregated, pruning, ledger.round, context.previousMask);
  const next = pruned?.model ?? aggregated;
  const maskBytes = pruned?.mask && unwrap(encodeTensorBlob(pruned.mask, 'float16'));
  const nextBytes = unwrap(encodeTensorBlob(next, 'float32'));
  const optimizerState = context.strategy.exportState?.();
  const [modelHash, optimizerHash, maskHash] = await Promise.all([
    store.models.writeBlob(nextBytes),
    optimizerState && store.models.writeBlob(unwrap(encodeTensorBlob(optimizerState, 'float32'))),
    maskBytes && store.models.writeBlob(maskBytes),
  ]);
  writeWeights(context.student, next);
  const closedAt = context.now();
  const measured = await context.evaluation.measure(context.student);
  const { info } = ledger;
  const traffic = context.traffic();
  const spent = context.privacy.spend();
  const summary: RoundSummary = {
    round: info.round,
    rounds: spec.rounds,
    attempt: info.attempt + 1,
    temperature: info.temperature,
    alpha: info.alpha,
    selected: info.selected,
    participants: ledger.answered.size,
    stragglers: ledger.stragglers,
    dropped: ledger.dropped.size,
    student_accuracy: measured.accuracy,
    student_loss: measured.loss,
    sparsity: kernelSparsity(next),
    bytes_up: traffic.bytesIn - info.bytesInAtOpen,
    bytes_down: traffic.bytesOut - info.bytesOutAtOpen,
    duration_seconds: (closedAt - info.openedAt) / 1000,
    ...spent,
  };
  return {
    summary,
    ...(spent ? { spent } : {}),
    model: { tensors: next, bytes: nextBytes, hash: modelHash },
    ...(pruned?.mask && maskBytes && maskHash
      ? { mask: { tensors: pruned.mask, bytes: maskBytes, hash: maskHash } }
      : {}),
    ...(optimizerHash === undefined ? {} : { optimizerHash }),
    ...(pruned ? { pruneTarget: pruned.target } : {}),
  };
}
