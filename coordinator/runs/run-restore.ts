import { decodeTensorBlob, unwrap, type NamedTensor } from '../../protocol/index.js';
import type { CoordinatorStore, OpenRoundRecord, StoredRun } from '../store/store.js';
import type { StoredTensors } from './global-model.js';
import type { RoundSummary } from './run-report.js';

/** What a restarted coordinator reads back of a run it was running. */
export interface RestoredRun {
  readonly model: StoredTensors;
  readonly mask?: StoredTensors;
  /** The server optimizer's state after the model's version, when it keeps one. */
  readonly optimizerState?: NamedTensor[];
  readonly closedRounds: RoundSummary[];
  /** The sampling rate of every attempt the privacy ledger was charged for, in order. */
  readonly spentRates: number[];
  /** The attempt that was open, with the updates it acknowledged. */
  readonly open?: OpenRoundRecord;
}

/** Reads a run's last committed model, optimizer state, mask, closed rounds and open attempt. */
export async function readRestoredRun(
  store: CoordinatorStore,
  run: StoredRun,
): Promise<RestoredRun> {
  const stored = await store.models.get({ runId: run.id, version: run.modelVersion });
  const read = async (hash: string): Promise<StoredTensors> => {
    const bytes = await store.models.readBlob(hash);
    return { tensors: unwrap(decodeTensorBlob(bytes)), bytes, hash };
  };
  const model = await read(stored.modelHash);
  const mask = stored.maskHash === undefined ? undefined : await read(stored.maskHash);
  const optimizer =
    stored.optimizerHash === undefined ? undefined : await read(stored.optimizerHash);
  const open = await store.runs.openRoundOf(run);
  const attempts = await store.runs.roundAttempts(run.id);
  return {
    model,
    ...(mask ? { mask } : {}),
    ...(optimizer ? { optimizerState: optimizer.tensors } : {}),
    closedRounds: await store.runs.closedRounds(run.id),
    spentRates: attempts.flatMap((attempt) =>
      attempt.state !== 'open' && attempt.summary?.sampling_rate !== undefined
        ? [attempt.summary.sampling_rate]
        : [],
    ),
    ...(open ? { open } : {}),
  };
}
