import * as tf from '@tensorflow/tfjs-core';
import type { WasmBackendLike } from './wasm-conv-backprop.js';

/**
 * tfjs's wasm backend has no UnsortedSegmentSum kernel, which the gradient of a gather (an
 * Embedding layer's lookup) needs, so a text student could not train there. This registers one:
 *
 *   out[s, j] = sum over i with segmentIds[i] = s of x[i, j],
 *
 * with x's leading dimensions (as many as segmentIds has) flattened into i and the rest into j.
 * Ids outside [0, numSegments) are dropped, as the cpu backend does. Checked against the cpu
 * kernel in tests/protocol/wasm-segment-sum.test.ts.
 */
export function registerWasmUnsortedSegmentSum(): void {
  if (tf.getKernel('UnsortedSegmentSum', 'wasm')) return;
  tf.registerKernel({
    kernelName: 'UnsortedSegmentSum',
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { x, segmentIds } = inputs as { x: tf.TensorInfo; segmentIds: tf.TensorInfo };
      const { numSegments } = attrs as unknown as tf.UnsortedSegmentSumAttrs;
      const wasm = backend as unknown as WasmBackendLike;
      const values = wasm.readSync(x.dataId) as Float32Array | Int32Array;
      const ids = wasm.readSync(segmentIds.dataId) as Int32Array;
      const inner = x.shape.slice(segmentIds.shape.length).reduce((a, b) => a * b, 1);
      const out =
        x.dtype === 'int32'
          ? new Int32Array(numSegments * inner)
          : new Float32Array(numSegments * inner);
      for (let i = 0; i < ids.length; i++) {
        const s = ids[i]!;
        if (s < 0 || s >= numSegments) continue;
        for (let j = 0; j < inner; j++) out[s * inner + j]! += values[i * inner + j]!;
      }
      const shape = [numSegments, ...x.shape.slice(segmentIds.shape.length)];
      return wasm.makeOutput(shape, x.dtype, undefined, out);
    },
  });
}
