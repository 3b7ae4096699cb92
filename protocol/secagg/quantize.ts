import { fail, ok, type Result } from '../errors.js';

/**
 * Fixed point in Z_2^32 for masked sums (Flower's SecAgg+ quantizer, with the overflow check
 * made a refusal instead of a warning):
 *
 *   q(x) = round((clip(x, -c, c) + c) * L / (2c))   in [0, L]
 *   sum of n inputs in [0, n L], exact mod 2^32 only while n L <= 2^32 - 1
 *   dequantized sum = S * 2c / L - n c
 *
 * Error bound, per coordinate of the sum of n vectors, against the sum of the CLIPPED values:
 *   nearest rounding:    n * c / L        (half a step per input)
 *   stochastic rounding: n * 2c / L       (under one step per input; unbiased in expectation)
 * plus floating-point slack of n * c * 2^-40 for the double arithmetic, far below a step.
 * Values outside [-c, c] also lose their excess to clipping, which no bound here covers.
 *
 * With distributed DP each site adds integer noise in grid units to its q(x), modulo 2^32, so a
 * summand or the sum may leave [0, n L]. The sum is decoded centred: as the integer nearest to
 * n L / 2 that is congruent to it mod 2^32, exact while the noisy sum stays within 2^31 steps
 * of n L / 2. Summands are not clamped to [0, L] after the noise: that would cut the noise of
 * exactly the coordinates at the edge, so the sum would no longer be the analysed mechanism.
 */
export const QUANTIZATION_MODULUS = 2 ** 32;

export interface QuantizationParams {
  /** Values are clipped to [-clip, clip]. */
  readonly clip: number;
  /** Quantization levels L: a value maps to an integer in [0, L]. */
  readonly levels: number;
  /** The most inputs that may be summed; sites * levels <= 2^32 - 1. */
  readonly sites: number;
}

export type Rounding =
  | { readonly kind: 'nearest' }
  /** Rounds up with probability equal to the fraction; `random` returns uniform [0, 1). */
  | { readonly kind: 'stochastic'; readonly random: () => number };

/**
 * Checks the parameters. `levels` defaults to the most that `sites` inputs allow without
 * wrapping mod 2^32, floor((2^32 - 1) / sites); larger levels are refused.
 */
export function quantizationParams(options: {
  readonly clip: number;
  readonly sites: number;
  readonly levels?: number;
}): Result<QuantizationParams> {
  const { clip, sites } = options;
  if (!Number.isFinite(clip) || clip <= 0) {
    return fail('secagg.bad_parameters', `clip ${clip} is not a positive number`);
  }
  if (!Number.isInteger(sites) || sites < 1) {
    return fail('secagg.bad_parameters', `sites ${sites} is not a positive integer`);
  }
  const levels = options.levels ?? Math.floor((QUANTIZATION_MODULUS - 1) / sites);
  if (!Number.isInteger(levels) || levels < 1) {
    return fail('secagg.bad_parameters', `levels ${levels} is not a positive integer`);
  }
  if (sites * levels > QUANTIZATION_MODULUS - 1) {
    return fail(
      'secagg.bad_parameters',
      `${sites} sites x ${levels} levels could overflow 2^32; at most ${Math.floor((QUANTIZATION_MODULUS - 1) / sites)} levels for ${sites} sites`,
    );
  }
  return ok({ clip, levels, sites });
}

/** Quantizes clip(x) into [0, L]; NaN or infinity is refused (`update.non_finite`). */
export function quantize(
  values: Float32Array | Float64Array,
  params: QuantizationParams,
  rounding: Rounding,
): Result<Uint32Array> {
  const { clip, levels } = params;
  const scale = levels / (2 * clip);
  const out = new Uint32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const x = values[i]!;
    if (!Number.isFinite(x)) return fail('update.non_finite', `value ${i} is ${x}`, [i]);
    const scaled = (Math.min(clip, Math.max(-clip, x)) + clip) * scale;
    let q: number;
    if (rounding.kind === 'nearest') {
      q = Math.round(scaled);
    } else {
      const floor = Math.floor(scaled);
      q = floor + (rounding.random() < scaled - floor ? 1 : 0);
    }
    out[i] = Math.min(levels, Math.max(0, q));
  }
  return ok(out);
}

/** Adds integer noise (grid units, |noise| < 2^53) to each quantized value, modulo 2^32. */
export function addModular(values: Uint32Array, noise: () => number): Uint32Array {
  const out = new Uint32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const r = (values[i]! + noise()) % QUANTIZATION_MODULUS;
    out[i] = r < 0 ? r + QUANTIZATION_MODULUS : r;
  }
  return out;
}

/**
 * The sum of `count` quantized inputs back in floats, S * 2c / L - count * c, with S read
 * centred on count L / 2 (see the top of this file); without noise S lies in [0, count L],
 * which the centred reading returns unchanged.
 */
export function dequantizeSum(
  sum: Uint32Array,
  params: QuantizationParams,
  count: number,
): Result<Float64Array> {
  if (!Number.isInteger(count) || count < 1 || count > params.sites) {
    return fail('secagg.bad_parameters', `count ${count} is not in 1..${params.sites}`);
  }
  const step = (2 * params.clip) / params.levels;
  const offset = count * params.clip;
  // Rounded up, so that [centre - 2^31, centre + 2^31) still holds all of [0, count L].
  const centre = Math.ceil((count * params.levels) / 2);
  const half = QUANTIZATION_MODULUS / 2;
  const out = new Float64Array(sum.length);
  for (let i = 0; i < sum.length; i++) {
    const diff = (sum[i]! - centre + QUANTIZATION_MODULUS) % QUANTIZATION_MODULUS;
    const s = centre + (diff >= half ? diff - QUANTIZATION_MODULUS : diff);
    out[i] = s * step - offset;
  }
  return ok(out);
}

/**
 * The largest absolute error, per coordinate, of `dequantizeSum` over `count` inputs against
 * the plain sum of the clipped values (see the bound at the top of this file).
 */
export function quantizationErrorBound(
  params: QuantizationParams,
  count: number,
  rounding: Rounding['kind'],
): number {
  const step = (2 * params.clip) / params.levels;
  const perInput = rounding === 'nearest' ? step / 2 : step;
  return count * perInput + count * params.clip * 2 ** -40;
}
