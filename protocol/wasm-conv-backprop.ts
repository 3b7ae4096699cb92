import * as tf from '@tensorflow/tfjs-core';

/**
 * tfjs's wasm backend has no Conv2DBackpropFilter kernel, so it cannot train convolutional
 * layers. This registers one, built from kernels wasm does have: the filter gradient is itself
 * a convolution,
 *
 *   dW[kh, kw, ci, co] = sum over b, oh, ow of x_padded[b, oh*s + kh, ow*s + kw, ci] * dy[b, oh, ow, co],
 *
 * which is conv2d(x_padded as [ci, H, W, b], dy as [oh, ow, b, co], stride 1, dilation s),
 * giving [ci, kh, kw, co] to transpose into [kh, kw, ci, co]. Checked against the cpu
 * backend's kernel in tests/protocol/wasm-conv-backprop.test.ts. NHWC only, as the students are.
 */
/** The parts of tfjs's wasm backend a kernel registered from outside it uses. */
export interface WasmBackendLike {
  readSync(dataId: tf.DataId): tf.backend_util.BackendValues;
  makeOutput(
    shape: number[],
    dtype: tf.DataType,
    memoryOffset?: number,
    values?: tf.backend_util.BackendValues,
  ): tf.TensorInfo;
}

let registered = false;

export function registerWasmConv2DBackpropFilter(): void {
  if (registered || tf.getKernel('Conv2DBackpropFilter', 'wasm')) return;
  registered = true;
  tf.registerKernel({
    kernelName: 'Conv2DBackpropFilter',
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { x, dy } = inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
      const { strides, pad, dataFormat, dimRoundingMode, filterShape } =
        attrs as unknown as tf.Conv2DBackpropFilterAttrs;
      if (dataFormat !== 'NHWC')
        throw new Error(`Conv2DBackpropFilter on wasm supports NHWC only, not ${dataFormat}`);
      const info = tf.backend_util.computeConv2DInfo(
        x.shape as [number, number, number, number],
        filterShape,
        strides,
        1,
        pad,
        dimRoundingMode,
      );
      const wasm = backend as unknown as WasmBackendLike;
      const values = tf.tidy(() => {
        const input = tf.tensor4d(
          wasm.readSync(x.dataId) as Float32Array,
          x.shape as [number, number, number, number],
        );
        const grad = tf.tensor4d(
          wasm.readSync(dy.dataId) as Float32Array,
          dy.shape as [number, number, number, number],
        );
        const { top, bottom, left, right } = info.padInfo;
        const padded = tf.pad(input, [
          [0, 0],
          [Math.max(top, 0), Math.max(bottom, 0)],
          [Math.max(left, 0), Math.max(right, 0)],
          [0, 0],
        ]);
        const asBatchOfChannels = tf.transpose(padded, [3, 1, 2, 0]);
        const asFilter = tf.transpose(grad, [1, 2, 0, 3]);
        const product = tf.conv2d(asBatchOfChannels, asFilter, 1, 'valid', 'NHWC', [
          info.strideHeight,
          info.strideWidth,
        ]);
        // Rows and columns past the last full stride (a 'valid' remainder) are not weights.
        const trimmed = tf.slice(
          product,
          [0, 0, 0, 0],
          [-1, info.filterHeight, info.filterWidth, -1],
        );
        return tf.transpose(trimmed, [1, 2, 0, 3]).dataSync() as Float32Array;
      });
      return wasm.makeOutput([...info.filterShape], 'float32', undefined, values);
    },
  });
}
