import { parentPort } from 'node:worker_threads';
import type * as tfl from '@tensorflow/tfjs-layers';
import {
  buildModel,
  readWeights,
  selectBackend,
  writeWeights,
  type BackendChoice,
  type NamedTensor,
  type StudentSpec,
} from '../protocol/index.js';
import { localTensors, type LocalArrays } from './local-data.js';
import { trainLocally, type LocalData, type LocalTrainingPlan } from './local-trainer.js';

/** What the pool sends a worker once per run: its shard of the private rows, and the teacher. */
export interface WorkerInit {
  readonly type: 'init';
  readonly backend: BackendChoice;
  readonly spec: StudentSpec;
  readonly data: LocalArrays;
}

/** One round for one worker: start from the global weights, train on the shard. */
export interface WorkerTrain {
  readonly type: 'train';
  readonly global: readonly NamedTensor[];
  readonly plan: Omit<LocalTrainingPlan, 'hiddenState'>;
}

export type WorkerReply =
  | { readonly type: 'ready' }
  | {
      readonly type: 'trained';
      readonly weights: NamedTensor[];
      readonly steps: number;
      readonly meanLoss: number;
    }
  | { readonly type: 'error'; readonly message: string };

/**
 * A training worker thread of the site's pool (training-pool.ts). wasm has one thread in Node,
 * so a pool of workers, each with its own wasm instance, is how local training uses more cores.
 */
let state: { spec: StudentSpec; model: tfl.LayersModel; data: LocalData } | undefined;

function reply(message: WorkerReply): void {
  parentPort!.postMessage(message);
}

async function init(message: WorkerInit): Promise<void> {
  const backend = await selectBackend(message.backend);
  if (!backend.ok) return reply({ type: 'error', message: backend.error.message });
  const { spec } = message;
  state = { spec, model: buildModel(spec, 0), data: localTensors(message.data, spec) };
  reply({ type: 'ready' });
}

async function train(message: WorkerTrain): Promise<void> {
  if (!state) return reply({ type: 'error', message: 'train before init' });
  writeWeights(state.model, message.global);
  const result = await trainLocally(state.model, state.data, message.plan);
  reply({ type: 'trained', weights: await readWeights(state.model, state.spec), ...result });
}

parentPort?.on('message', (message: WorkerInit | WorkerTrain) => {
  const run = message.type === 'init' ? init(message) : train(message);
  run.catch((error: Error) => reply({ type: 'error', message: error.message }));
});
