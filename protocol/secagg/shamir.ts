import { fail, ok, type Result } from '../errors.js';
import type { Sodium } from '../sodium.js';

/**
 * Shamir t-of-n secret sharing (Shamir 1979), byte by byte over GF(2^8) with the AES polynomial
 * x^8 + x^4 + x^3 + x + 1.
 *
 * Why GF(2^8) and not GF(p): every byte of a 32-byte secret is its own field element, so a
 * secret of any length splits with no encoding into limbs, no modular bias and no bigint
 * arithmetic, and a share is exactly as long as the secret. The cost is at most 255 shares
 * (x = 1..255; x = 0 is the secret itself), which SecAgg+ never nears: shares go only to a
 * site's k neighbours, and k is logarithmic in the number of sites.
 *
 * Multiplication on secret values is a branch-free shift-and-add (no table indexed by a secret
 * byte, so no cache-timing leak). Inverses are taken only of share indices, which are public.
 *
 * Reconstruction from fewer than t shares does not fail by itself: Lagrange interpolation of
 * any t-1 points yields some byte string. Every sharing therefore comes with a commitment
 * (BLAKE2b-256 of a label and the secret) and `combineShares` checks it, so wrong or too few
 * shares are reported as `secagg.commitment_mismatch` instead of returning garbage.
 */

/** The largest share index, so the most shares of one secret. */
export const MAX_SHARES = 255;
export const COMMITMENT_BYTES = 32;
const COMMITMENT_LABEL = new TextEncoder().encode('fedistill/1 secagg shamir commitment');

export interface ShamirShare {
  /** The x coordinate, 1..255 (never 0: f(0) is the secret). */
  readonly index: number;
  /** f(index), byte by byte; as long as the secret. */
  readonly value: Uint8Array;
}

export interface Sharing {
  readonly shares: readonly ShamirShare[];
  readonly commitment: Uint8Array;
}

/** a * b in GF(2^8), constant time in both arguments. */
export function gfMultiply(a: number, b: number): number {
  let product = 0;
  for (let bit = 0; bit < 8; bit++) {
    product ^= -(b & 1) & a;
    a = ((a << 1) ^ (-((a >> 7) & 1) & 0x11b)) & 0xff;
    b >>= 1;
  }
  return product;
}

/** a^-1 in GF(2^8) as a^254; only ever applied to public share indices. */
function gfInverse(a: number): number {
  let result = 1;
  let base = a;
  for (let e = 254; e > 0; e >>= 1) {
    if (e & 1) result = gfMultiply(result, base);
    base = gfMultiply(base, base);
  }
  return result;
}

export function shamirCommitment(sodium: Sodium, secret: Uint8Array): Uint8Array {
  const input = new Uint8Array(COMMITMENT_LABEL.length + secret.length);
  input.set(COMMITMENT_LABEL);
  input.set(secret, COMMITMENT_LABEL.length);
  const commitment = sodium.crypto_generichash(COMMITMENT_BYTES, input, null);
  sodium.memzero(input);
  return commitment;
}

/**
 * Splits `secret` into shares 1..`shares`, any `threshold` of which rebuild it. `randomBytes`
 * supplies the polynomial coefficients (tests inject a fixed source; production uses
 * libsodium's).
 */
export function splitSecret(
  sodium: Sodium,
  secret: Uint8Array,
  options: { readonly threshold: number; readonly shares: number },
  randomBytes: (length: number) => Uint8Array = (n) => sodium.randombytes_buf(n),
): Result<Sharing> {
  const { threshold, shares } = options;
  if (!Number.isInteger(shares) || shares < 1 || shares > MAX_SHARES) {
    return fail('secagg.bad_parameters', `share count ${shares} is not in 1..${MAX_SHARES}`);
  }
  if (!Number.isInteger(threshold) || threshold < 1 || threshold > shares) {
    return fail('secagg.bad_parameters', `threshold ${threshold} is not in 1..${shares}`);
  }
  const length = secret.length;
  // coefficients[(j - 1) * length + b] is the x^j coefficient of byte b's polynomial.
  const coefficients = randomBytes((threshold - 1) * length);
  const out: ShamirShare[] = [];
  for (let x = 1; x <= shares; x++) {
    const value = new Uint8Array(length);
    for (let b = 0; b < length; b++) {
      // Horner: (((a_{t-1} x + a_{t-2}) x + ...) x + secret
      let y = 0;
      for (let j = threshold - 1; j >= 1; j--) {
        y = gfMultiply(y, x) ^ coefficients[(j - 1) * length + b]!;
      }
      value[b] = gfMultiply(y, x) ^ secret[b]!;
    }
    out.push({ index: x, value });
  }
  sodium.memzero(coefficients);
  return ok({ shares: out, commitment: shamirCommitment(sodium, secret) });
}

/**
 * Rebuilds a secret from at least `threshold` shares (the first `threshold` are used) and
 * checks it against `commitment`. Fewer shares: `secagg.insufficient_shares`. Shares that are
 * wrong, from another secret, or fewer than the real threshold: `secagg.commitment_mismatch`.
 */
export function combineShares(
  sodium: Sodium,
  shares: readonly ShamirShare[],
  options: { readonly threshold: number; readonly commitment: Uint8Array },
): Result<Uint8Array> {
  const { threshold, commitment } = options;
  if (shares.length < threshold || threshold < 1) {
    return fail(
      'secagg.insufficient_shares',
      `${shares.length} shares, the threshold is ${threshold}`,
    );
  }
  const used = shares.slice(0, threshold);
  const length = used[0]!.value.length;
  const seen = new Set<number>();
  for (const share of used) {
    if (!Number.isInteger(share.index) || share.index < 1 || share.index > MAX_SHARES) {
      return fail('secagg.bad_share', `share index ${share.index} is not in 1..${MAX_SHARES}`);
    }
    if (seen.has(share.index)) return fail('secagg.bad_share', `share ${share.index} twice`);
    if (share.value.length !== length) {
      return fail('secagg.bad_share', `share ${share.index} has ${share.value.length} bytes`);
    }
    seen.add(share.index);
  }
  // Lagrange basis at 0: l_i = prod_{j != i} x_j / (x_j - x_i); minus is XOR in GF(2^8).
  const basis = used.map((share) => {
    let numerator = 1;
    let denominator = 1;
    for (const other of used) {
      if (other.index === share.index) continue;
      numerator = gfMultiply(numerator, other.index);
      denominator = gfMultiply(denominator, other.index ^ share.index);
    }
    return gfMultiply(numerator, gfInverse(denominator));
  });
  const secret = new Uint8Array(length);
  for (let b = 0; b < length; b++) {
    let y = 0;
    for (let i = 0; i < used.length; i++) y ^= gfMultiply(basis[i]!, used[i]!.value[b]!);
    secret[b] = y;
  }
  if (
    commitment.length !== COMMITMENT_BYTES ||
    !sodium.memcmp(shamirCommitment(sodium, secret), commitment)
  ) {
    sodium.memzero(secret);
    return fail(
      'secagg.commitment_mismatch',
      `the secret rebuilt from shares ${used.map((s) => s.index).join(',')} does not match its commitment`,
    );
  }
  return ok(secret);
}
