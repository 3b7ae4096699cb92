import { HASH_BYTES } from './constants.js';
import type { Sodium } from './sodium.js';

/** BLAKE2b-256, the one content hash of the protocol (payloads, chunks, caches). */
export function contentHash(sodium: Sodium, data: Uint8Array): Uint8Array {
  return sodium.crypto_generichash(HASH_BYTES, data, null);
}

export function toHex(data: Uint8Array): string {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('hex');
}
