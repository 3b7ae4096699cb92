import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { applyNormalizer } from '../../protocol/index.js';
import { COORDINATOR_SETUP, type CoordinatorSetup } from '../coordinator-setup.js';

/** Accuracy on the held-out split, which never leaves the coordinator. */
@Injectable()
export class EvaluationService implements OnModuleDestroy {
  private readonly inputs: tf.Tensor2D;
  private readonly labels: Int32Array;
  readonly rows: number;
  readonly majorityClassRate: number;

  constructor(@Inject(COORDINATOR_SETUP) setup: CoordinatorSetup) {
    const { heldOut, normalizer, config } = setup;
    this.rows = heldOut.rows;
    this.labels = heldOut.labels;
    this.inputs = tf.tensor2d(applyNormalizer(heldOut.inputs, normalizer), [
      heldOut.rows,
      heldOut.features,
    ]);
    const counts = new Array<number>(config.data.classes).fill(0);
    for (const label of heldOut.labels) counts[label]!++;
    this.majorityClassRate = Math.max(...counts) / heldOut.rows;
  }

  async accuracy(model: tfl.LayersModel): Promise<number> {
    const predictedTensor = tf.tidy(() => tf.argMax(model.predict(this.inputs) as tf.Tensor2D, -1));
    const predicted = await predictedTensor.data();
    predictedTensor.dispose();
    let correct = 0;
    for (let i = 0; i < this.rows; i++) if (predicted[i] === this.labels[i]) correct++;
    return correct / this.rows;
  }

  onModuleDestroy(): void {
    this.inputs.dispose();
  }
}
