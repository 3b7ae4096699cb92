import { performance } from 'node:perf_hooks';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';

/**
 * Milliseconds per example of `model.predict` at one batch size on the active backend: the
 * median of `repeats` timed calls after three untimed ones (kernels compile and caches warm on
 * the first calls). Each call waits for its result, so asynchronous backends are timed whole.
 */
export async function latencyPerExample(
  model: tfl.LayersModel,
  features: number,
  batch: number,
  repeats = 15,
): Promise<number> {
  const inputs = sampleInputs(model, features, batch);
  const once = async (): Promise<number> => {
    const start = performance.now();
    const output = model.predict(inputs) as tf.Tensor;
    await output.data();
    output.dispose();
    return performance.now() - start;
  };
  try {
    for (let i = 0; i < 3; i++) await once();
    const times: number[] = [];
    for (let i = 0; i < repeats; i++) times.push(await once());
    times.sort((a, b) => a - b);
    return times[Math.floor(times.length / 2)]! / batch;
  } finally {
    inputs.dispose();
  }
}

/** Rows the model accepts: token ids below its vocabulary for a text model, else N(0, 1) values. */
function sampleInputs(model: tfl.LayersModel, features: number, batch: number): tf.Tensor2D {
  const embedding = model.layers.find((layer) => layer.getClassName() === 'Embedding');
  if (!embedding) return tf.randomNormal([batch, features], 0, 1, 'float32', 7);
  const vocabulary = embedding.getConfig().inputDim as number;
  return tf.tidy(() => tf.floor(tf.randomUniform([batch, features], 0, vocabulary, 'float32', 7)));
}

/** Milliseconds per example at batch 1 and at batch 256, as the report gives them. */
export interface LatencyFigures {
  readonly batch_1: number;
  readonly batch_256: number;
}

export async function measureLatency(
  model: tfl.LayersModel,
  features: number,
): Promise<LatencyFigures> {
  return {
    batch_1: await latencyPerExample(model, features, 1),
    batch_256: await latencyPerExample(model, features, 256),
  };
}
