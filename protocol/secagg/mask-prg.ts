import type { Sodium } from '../sodium.js';

/**
 * The mask generator: PRG(seed) = randombytes_buf_deterministic(4d, seed), the ChaCha20-IETF
 * keystream keyed by all 32 bytes of the seed (nonce "LibsodiumDRG", counter 0), read as d
 * little-endian uint32 values. Masks add and subtract mod 2^32.
 *
 * Not Flower's pseudo_rand_gen, which folds the seed into a 32-bit MT19937 state (2^32 seeds,
 * not a CSPRNG): here every mask has 256 bits of seed and a stream cipher behind it.
 */
export const MASK_SEED_BYTES = 32;

const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** PRG(seed) as `length` uint32 values (little-endian bytes, whatever the host's order). */
export function maskVector(sodium: Sodium, seed: Uint8Array, length: number): Uint32Array {
  if (seed.length !== MASK_SEED_BYTES) {
    throw new Error(`a mask seed is ${MASK_SEED_BYTES} bytes, not ${seed.length}`);
  }
  return bytesToUint32(sodium.randombytes_buf_deterministic(4 * length, seed));
}

/** target += sign * PRG(seed), element-wise mod 2^32. */
export function applyMask(sodium: Sodium, target: Uint32Array, seed: Uint8Array, sign: 1 | -1) {
  const mask = maskVector(sodium, seed, target.length);
  if (sign === 1) {
    for (let i = 0; i < target.length; i++) target[i] = (target[i]! + mask[i]!) >>> 0;
  } else {
    for (let i = 0; i < target.length; i++) target[i] = (target[i]! - mask[i]!) >>> 0;
  }
}

/** a += b mod 2^32, in place. */
export function addInto(a: Uint32Array, b: Uint32Array): void {
  for (let i = 0; i < a.length; i++) a[i] = (a[i]! + b[i]!) >>> 0;
}

/** Little-endian bytes of a uint32 vector, the wire form of a masked input. */
export function uint32ToBytes(values: Uint32Array): Uint8Array {
  if (HOST_LITTLE_ENDIAN) {
    return new Uint8Array(values.buffer, values.byteOffset, values.byteLength).slice();
  }
  const out = new Uint8Array(values.length * 4);
  const view = new DataView(out.buffer);
  values.forEach((v, i) => view.setUint32(4 * i, v, true));
  return out;
}

/** A uint32 vector from little-endian bytes (a length that is not a multiple of 4 is a bug). */
export function bytesToUint32(bytes: Uint8Array): Uint32Array {
  if (bytes.length % 4 !== 0) throw new Error(`${bytes.length} bytes is not a uint32 vector`);
  const length = bytes.length / 4;
  if (HOST_LITTLE_ENDIAN) {
    if (bytes.byteOffset % 4 === 0) return new Uint32Array(bytes.buffer, bytes.byteOffset, length);
    // A copy: a Node Buffer's slice() is a view into its shared pool, not one.
    return new Uint32Array(new Uint8Array(bytes).buffer, 0, length);
  }
  const out = new Uint32Array(length);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < length; i++) out[i] = view.getUint32(4 * i, true);
  return out;
}
