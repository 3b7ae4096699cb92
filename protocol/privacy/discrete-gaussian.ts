import { randomFillSync } from 'node:crypto';
import { fail, ok, type Result } from '../errors.js';

/**
 * An exact sampler of the discrete Gaussian N_Z(0, sigma²), P[X = x] ∝ exp(-x²/(2 sigma²)) on
 * the integers: Canonne, Kamath and Steinke 2020 ("The Discrete Gaussian for Differential
 * Privacy", arXiv 2004.00010), Algorithms 1 to 3. Every decision compares random integers with
 * exact rationals, so no floating-point rounding shapes the distribution (the attacks of Mironov
 * 2012 and Jin et al. 2022 read the secret out of the gaps and the slopes that doubles leave).
 * Integers below 2^53 stay in numbers, larger ones in bigints: both are exact.
 */

/** Fills its argument with random bytes; runs use `cryptoBytes`, tests a seeded stream. */
export type ByteSource = (into: Uint8Array) => void;

/** The OS CSPRNG: noise the attacker cannot predict, which the DP guarantee assumes. */
export const cryptoBytes: ByteSource = (into) => {
  randomFillSync(into);
};

/**
 * sigma² up to 2^60 (sigma up to 2^30 grid units): then the Laplace scale t = floor(sigma) + 1
 * and every candidate the sampler returns stay exact in a double (a candidate above 2^53 would
 * need about 2^23 successive heads at odds e^-1).
 */
export const MAX_DISCRETE_SIGMA2 = 2 ** 60;

/** One syscall per 1,024 words. */
const POOL_BYTES = 4096;
const WORD = 2 ** 32;
const WORD_BIG = 1n << 32n;

/** Random 32-bit words, bits and exact coins from a byte source, fetched in batches. */
export class RandomWords {
  private readonly bytes = new Uint8Array(POOL_BYTES);
  private readonly view = new DataView(this.bytes.buffer);
  private next = POOL_BYTES;
  private bits = 0;
  private bitsLeft = 0;

  constructor(private readonly fill: ByteSource) {}

  word(): number {
    if (this.next === POOL_BYTES) {
      this.fill(this.bytes);
      this.next = 0;
    }
    const w = this.view.getUint32(this.next);
    this.next += 4;
    return w;
  }

  bit(): number {
    if (this.bitsLeft === 0) {
      this.bits = this.word();
      this.bitsLeft = 32;
    }
    this.bitsLeft--;
    const b = this.bits & 1;
    this.bits >>>= 1;
    return b;
  }

  /** Uniform in [0, m) for an integer 1 <= m <= 2^32: rejection, so no modulo bias. */
  below(m: number): number {
    const limit = WORD - (WORD % m);
    for (;;) {
      const w = this.word();
      if (w < limit) return w % m;
    }
  }

  /**
   * Bernoulli(num/den) for integers 0 <= num <= den: U < num/den for a uniform U in [0, 1),
   * whose binary digits are drawn 32 at a time only until they decide (one word but for odds
   * of 2^-32).
   */
  bernoulli(num: bigint, den: bigint): boolean {
    if (num === 0n) return false;
    if (den <= WORD_BIG) return this.below(Number(den)) < Number(num);
    let rest = num; // the undecided part of num/den, scaled by the words drawn so far
    for (;;) {
      const diff = (rest << 32n) - BigInt(this.word()) * den;
      if (diff >= den) return true; // the word's whole interval lies below num/den
      if (diff <= 0n) return false;
      rest = diff;
    }
  }

  /** Bernoulli(exp(-num/den)) for integers num >= 0, den >= 1: CKS Algorithm 1. */
  bernoulliExpNeg(num: bigint, den: bigint): boolean {
    // exp(-gamma) = exp(-1)^floor(gamma) * exp(-frac(gamma)): independent trials, all must pass.
    for (let k = num / den; k > 0n; k--) if (!this.bernoulliExpNegUnit(1n, 1n)) return false;
    const frac = num % den;
    return frac === 0n || this.bernoulliExpNegUnit(frac, den);
  }

  /** For gamma = num/den in [0, 1]: the least K with Bernoulli(gamma/K) = 0 is odd w.p. e^-gamma. */
  private bernoulliExpNegUnit(num: bigint, den: bigint): boolean {
    let k = 1n;
    while (this.bernoulli(num, den * k)) k++;
    return (k & 1n) === 1n;
  }
}

/** floor(sqrt(n)) for a bigint n >= 0, by Newton's iteration from above. */
function isqrt(n: bigint): bigint {
  if (n < 2n) return n;
  let x = 1n << BigInt(Math.ceil(n.toString(2).length / 2));
  for (;;) {
    const y = (x + n / x) >> 1n;
    if (y >= x) return x;
    x = y;
  }
}

/** A double as the exact fraction num/den (den a power of two): doubling a double is exact. */
function exactFraction(x: number): { num: bigint; den: bigint } {
  let den = 1n;
  while (!Number.isInteger(x)) {
    x *= 2;
    den *= 2n;
  }
  return { num: BigInt(x), den };
}

/** Draws from N_Z(0, sigma²), sigma² given as a double and read as the exact rational it is. */
export class DiscreteGaussian {
  private readonly random: RandomWords;
  /** sigma² = a / b. */
  private readonly a: bigint;
  private readonly b: bigint;
  /** The Laplace proposal's scale, floor(sigma) + 1. */
  private readonly t: number;
  private readonly tBig: bigint;
  /** The acceptance exponent's denominator, 2 a b t². */
  private readonly acceptDen: bigint;

  static create(sigma2: number, bytes: ByteSource = cryptoBytes): Result<DiscreteGaussian> {
    if (!(sigma2 > 0 && sigma2 <= MAX_DISCRETE_SIGMA2)) {
      return fail('config.invalid', `discrete Gaussian sigma² ${sigma2} is not in (0, 2^60]`);
    }
    return ok(new DiscreteGaussian(sigma2, bytes));
  }

  private constructor(sigma2: number, bytes: ByteSource) {
    this.random = new RandomWords(bytes);
    const { num, den } = exactFraction(sigma2);
    this.a = num;
    this.b = den;
    // floor(sqrt(a/b)) = floor(sqrt(floor(a/b))).
    this.tBig = isqrt(num / den) + 1n;
    this.t = Number(this.tBig);
    this.acceptDen = 2n * num * den * this.tBig * this.tBig;
  }

  /** One draw (CKS Algorithm 3): a discrete Laplace proposal of scale t, kept w.p. exp(-gamma). */
  sample(): number {
    for (;;) {
      const y = this.laplace();
      // gamma = (|y| - sigma²/t)² / (2 sigma²) = (|y| t b - a)² / (2 a b t²).
      const gap = BigInt(Math.abs(y)) * this.tBig * this.b - this.a;
      if (this.random.bernoulliExpNeg(gap * gap, this.acceptDen)) return y;
    }
  }

  /** `length` independent draws. */
  samples(length: number): Float64Array {
    const out = new Float64Array(length);
    for (let i = 0; i < length; i++) out[i] = this.sample();
    return out;
  }

  /** P[Y = y] ∝ exp(-|y|/t) on the integers (CKS Algorithm 2 with s = 1). */
  private laplace(): number {
    const { t, tBig, random } = this;
    for (;;) {
      const u = random.below(t);
      if (!random.bernoulliExpNeg(BigInt(u), tBig)) continue;
      let v = 0;
      while (random.bernoulliExpNeg(1n, 1n)) v++;
      const x = u + t * v;
      const negative = random.bit() === 1;
      if (negative && x === 0) continue; // else 0 would be drawn twice as often
      return negative ? -x : x;
    }
  }
}
