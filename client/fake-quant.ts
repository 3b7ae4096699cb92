import * as tf from '@tensorflow/tfjs-core';

/** Symmetric int8 like the tensor codec's: scale max|w|/127 per tensor or per output channel. */
export type FakeQuantScheme = 'int8' | 'int8-channel';

/**
 * `w` rounded to the int8 grid it would be exported on: round(w / s) * s, clipped to
 * [-127, 127] steps, with s = max|w| / 127 over the tensor, or over each output channel (the
 * last axis). A tensor (or channel) of zeros stays zero.
 */
export function fakeQuantize(w: tf.Tensor, scheme: FakeQuantScheme): tf.Tensor {
  return tf.tidy(() => {
    const axes = scheme === 'int8' ? undefined : w.shape.map((_, i) => i).slice(0, -1);
    const maxAbs = tf.max(tf.abs(w), axes, scheme === 'int8-channel');
    const scale = tf.div(maxAbs, 127);
    // A zero scale would divide by zero; such a tensor (or channel) is all zeros anyway.
    const safe = tf.where(tf.equal(scale, 0), tf.onesLike(scale), scale);
    return tf.mul(tf.clipByValue(tf.round(tf.div(w, safe)), -127, 127), safe);
  });
}
