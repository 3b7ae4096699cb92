import type { CnnSpec } from '../protocol/index.js';

/** The small MNIST CNN used by the CNN test and bench/client: two 5x5 convs, 32 dense units. */
export const SMALL_MNIST_CNN: CnnSpec = {
  kind: 'cnn',
  inputs: 784,
  image: [28, 28, 1],
  conv: [
    { filters: 8, kernel: 5 },
    { filters: 16, kernel: 5 },
  ],
  dense: [32],
  classes: 10,
};
