import { Worker } from 'node:worker_threads';
import type { BackendChoice, NamedTensor, StudentSpec } from '../protocol/index.js';
import type { LocalArrays } from './local-data.js';
import type { LocalTrainingPlan } from './local-trainer.js';
import type { WorkerInit, WorkerReply, WorkerTrain } from './training-worker.js';

/**
 * Data-parallel local training over worker threads: the private rows are split into one shard
 * per worker; each round every worker trains from the global weights on its shard, and the
 * result is the average of their weights, weighted by shard size (local SGD with one
 * synchronisation per round, as FedAvg does across sites). Worth it where cores are free:
 * bench/client measures the gain.
 */
export class TrainingPool {
  private constructor(
    private readonly workers: Worker[],
    private readonly shardRows: number[],
  ) {}

  static async start(
    options: LocalArrays & {
      readonly workers: number;
      readonly backend: BackendChoice;
      readonly spec: StudentSpec;
    },
  ): Promise<TrainingPool> {
    const { spec, labels } = options;
    const rows = labels.length;
    const count = Math.max(1, Math.min(options.workers, rows));
    const workers: Worker[] = [];
    const shardRows: number[] = [];
    try {
      for (let w = 0; w < count; w++) {
        const from = Math.floor((w * rows) / count);
        const to = Math.floor(((w + 1) * rows) / count);
        const worker = new Worker(new URL('./training-worker.js', import.meta.url));
        workers.push(worker);
        shardRows.push(to - from);
        const init: WorkerInit = {
          type: 'init',
          backend: options.backend,
          spec,
          data: {
            inputs: options.inputs.slice(from * spec.inputs, to * spec.inputs),
            labels: labels.slice(from, to),
            teacher: options.teacher,
          },
        };
        await ask(worker, init);
      }
    } catch (error) {
      await Promise.all(workers.map((w) => w.terminate()));
      throw error;
    }
    return new TrainingPool(workers, shardRows);
  }

  get size(): number {
    return this.workers.length;
  }

  /** One round on every worker at once; returns the shard-weighted mean of their weights. */
  async train(
    global: readonly NamedTensor[],
    plan: Omit<LocalTrainingPlan, 'hiddenState'>,
  ): Promise<NamedTensor[]> {
    const results = await Promise.all(
      this.workers.map((worker, w) =>
        ask(worker, { type: 'train', global, plan: { ...plan, seed: plan.seed * 1000 + w } }),
      ),
    );
    const total = this.shardRows.reduce((a, b) => a + b, 0);
    return global.map((tensor, i) => {
      const values = new Float32Array(tensor.values.length);
      results.forEach((reply, w) => {
        if (reply.type !== 'trained') return;
        const share = this.shardRows[w]! / total;
        const trained = reply.weights[i]!.values;
        for (let j = 0; j < values.length; j++) values[j]! += share * trained[j]!;
      });
      return { name: tensor.name, shape: tensor.shape, values };
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

/** Sends one message and waits for the worker's reply; a worker error rejects. */
function ask(
  worker: Worker,
  message: WorkerInit | WorkerTrain,
): Promise<Extract<WorkerReply, { type: 'ready' | 'trained' }>> {
  return new Promise((resolve, reject) => {
    const onMessage = (reply: WorkerReply): void => {
      worker.off('error', onError);
      if (reply.type === 'error') reject(new Error(`training worker: ${reply.message}`));
      else resolve(reply);
    };
    const onError = (error: Error): void => {
      worker.off('message', onMessage);
      reject(error);
    };
    worker.once('message', onMessage);
    worker.once('error', onError);
    worker.postMessage(message);
  });
}
