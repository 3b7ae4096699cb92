import * as tf from '@tensorflow/tfjs-core';

/**
 * tfjs-core's gradient of Tile adds one slice of dy per repetition: a kernel call for each of
 * the batch x length copies that tfjs-layers' LayerNormalization tiles its gain and bias into,
 * 32,768 calls a step for an encoder on batches of 64 rows of 128 tokens (about 19 s on wasm).
 * The same sum in one reduction: dy of shape [r0 s0, r1 s1, ...] viewed as [r0, s0, r1, s1, ...]
 * and summed over every r axis. Checked against tfjs's own gradient in
 * tests/protocol/tile-gradient.test.ts.
 */
export function registerTileGradient(): void {
  tf.registerGradient({
    kernelName: 'Tile',
    inputsToSave: ['x'],
    gradFunc: (dy, saved, attrs) => {
      const [x] = saved as [tf.Tensor];
      const { reps } = attrs as unknown as tf.TileAttrs;
      return {
        x: () => {
          const paired = x.shape.flatMap((size, axis) => [reps[axis]!, size]);
          const repetitionAxes = x.shape.map((_, axis) => 2 * axis);
          return tf.sum(tf.reshape(dy as tf.Tensor, paired), repetitionAxes);
        },
      };
    },
  });
}
