import { randomFillSync } from 'node:crypto';
import type { NamedTensor } from './tensor-codec.js';

/**
 * The Gaussian mechanism on the mean of clipped updates (DP-FedAvg, McMahan et al. 2018,
 * arXiv 1710.06963): each site's update is clipped to L2 norm C (`clipByL2` in protocol), the
 * coordinator averages m of them and adds N(0, sigma²) to every coordinate. Clipping happens
 * where the update is built; this file holds the noise.
 */

/** Uniform doubles in [0, 1). Injected so that tests can replay a seed; runs use `cryptoUniform`. */
export type UniformSource = () => number;

/** 32-bit words fetched from the OS per refill: one syscall per 512 doubles. */
const CRYPTO_BATCH_WORDS = 1024;

/**
 * Uniform doubles from the OS CSPRNG with all 53 mantissa bits filled. The DP guarantee assumes
 * noise the attacker cannot predict, so a seeded generator must never reach a run.
 */
export function cryptoUniform(): UniformSource {
  const words = new Uint32Array(CRYPTO_BATCH_WORDS);
  let next = CRYPTO_BATCH_WORDS;
  return () => {
    if (next === CRYPTO_BATCH_WORDS) {
      randomFillSync(words);
      next = 0;
    }
    const high = words[next++]! >>> 5; // 27 bits
    const low = words[next++]! >>> 6; // 26 bits
    return (high * 2 ** 26 + low) / 2 ** 53;
  };
}

/**
 * The noise standard deviation for the mean of m updates clipped to C with noise multiplier z:
 * one site moves the sum by at most C, so the mean by C/m (Flower's compute_stdv).
 */
export function noiseStddev(
  noiseMultiplier: number,
  clipNorm: number,
  sampledSites: number,
): number {
  return (noiseMultiplier * clipNorm) / sampledSites;
}

/** `length` independent N(0, stddev²) samples by the Box–Muller transform, two per uniform pair. */
export function gaussianNoise(
  length: number,
  stddev: number,
  uniform: UniformSource,
): Float64Array {
  const out = new Float64Array(length);
  for (let i = 0; i < length; i += 2) {
    // 1 − u lies in (0, 1], so the log is finite.
    const radius = stddev * Math.sqrt(-2 * Math.log(1 - uniform()));
    const angle = 2 * Math.PI * uniform();
    out[i] = radius * Math.cos(angle);
    if (i + 1 < length) out[i + 1] = radius * Math.sin(angle);
  }
  return out;
}

/** New tensors: each value plus its own N(0, stddev²) draw. */
export function addGaussianNoise(
  tensors: readonly NamedTensor[],
  stddev: number,
  uniform: UniformSource,
): NamedTensor[] {
  return tensors.map((t) => {
    const noise = gaussianNoise(t.values.length, stddev, uniform);
    return { ...t, values: t.values.map((v, i) => v + noise[i]!) };
  });
}
