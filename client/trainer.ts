import type * as tfl from '@tensorflow/tfjs-layers';
import type { NamedTensor, Result, RoundStart } from '../protocol/index.js';
import type { LocalTrainingPlan } from './local-trainer.js';

/** The hidden-state term as a round asks for it: a student layer and the term's weight. */
export type HiddenStateRequest = NonNullable<RoundStart['hiddenState']>;

/** One round's local training: the plan, with the hidden-state term as the round names it. */
export type RoundPlan = Omit<LocalTrainingPlan, 'hiddenState'> & {
  readonly hiddenState?: HiddenStateRequest;
};

/**
 * Local training for one run. Two implementations: in this thread (`InThreadTrainer`), or on a
 * pool of worker threads, each training a shard of the private rows (`PoolTrainer`). Both take
 * their tensors from the same `localTensors` (local-data.ts), so only the threads differ.
 */
export interface Trainer {
  /** The run's student; after `train` it holds the round's trained weights (validation reads it). */
  readonly model: tfl.LayersModel;
  /**
   * Trains one round from the global weights and returns the trained ones. Fails with
   * `protocol.unexpected_message` for a hidden-state round without teacher features, and
   * `schema.invalid` when the round names a layer the student lacks, or one without a single
   * vector per row.
   */
  train(global: readonly NamedTensor[], plan: RoundPlan): Promise<Result<NamedTensor[]>>;
  /** Frees the tensors and ends any worker threads. */
  close(): void;
}
