import type * as tfl from '@tensorflow/tfjs-layers';
import {
  ok,
  readWeights,
  writeWeights,
  type BackendChoice,
  type NamedTensor,
  type Result,
  type StudentSpec,
} from '../protocol/index.js';
import { InThreadTrainer } from './in-thread-trainer.js';
import type { LocalArrays } from './local-data.js';
import type { RoundPlan, Trainer } from './trainer.js';
import { TrainingPool } from './training-pool.js';

/** Trains on worker threads, one shard of the private rows each (training-pool.ts). */
export class PoolTrainer implements Trainer {
  private constructor(
    private readonly pool: TrainingPool,
    /** Holds the model, and trains the hidden-state rounds: their projection lives here. */
    private readonly local: InThreadTrainer,
    private readonly spec: StudentSpec,
  ) {}

  static async start(options: {
    readonly workers: number;
    readonly backend: BackendChoice;
    readonly spec: StudentSpec;
    readonly data: LocalArrays;
  }): Promise<PoolTrainer> {
    const { spec, data } = options;
    const local = new InThreadTrainer({ spec, data });
    try {
      const pool = await TrainingPool.start({
        workers: options.workers,
        backend: options.backend,
        spec,
        inputs: data.inputs,
        labels: data.labels,
        // The workers never train hidden-state rounds, so they need no teacher features.
        teacher:
          data.teacher.kind === 'class-logits'
            ? data.teacher
            : {
                kind: 'transfer-set',
                inputs: data.teacher.inputs,
                logits: data.teacher.logits,
                rows: data.teacher.rows,
              },
      });
      return new PoolTrainer(pool, local, spec);
    } catch (error) {
      local.close();
      throw error;
    }
  }

  get model(): tfl.LayersModel {
    return this.local.model;
  }

  get size(): number {
    return this.pool.size;
  }

  async train(global: readonly NamedTensor[], plan: RoundPlan): Promise<Result<NamedTensor[]>> {
    const { hiddenState, ...rest } = plan;
    if (hiddenState) return this.local.train(global, plan);
    writeWeights(this.model, await this.pool.train(global, rest));
    return ok(await readWeights(this.model, this.spec));
  }

  close(): void {
    this.local.close();
    void this.pool.close();
  }
}
