import { fail, ok, type Result } from '../errors.js';
import type { Sodium } from '../sodium.js';
import { encodeFields } from './round-context.js';
import { sharedSecret } from './round-keys.js';
import { SHARE_CIPHERTEXT_BYTES, SHARE_PLAINTEXT_BYTES } from './wire.js';

/**
 * Shares travel through the coordinator sealed end to end: XChaCha20-Poly1305 under a key
 * derived from X25519 of the sender's and recipient's share-encryption keys, with the
 * direction (sender key first) in the derivation and the round context, sender and recipient
 * as associated data. The coordinator can drop a share but cannot read it, send it to another
 * site (the key differs), swap sender or recipient, or replay it in another round (the AD
 * differs); each fails to decrypt.
 */
const BOX_KEY_LABEL = 'fedistill/1 secagg share key';
const BOX_AD_LABEL = 'fedistill/1 secagg share';
const NONCE_BYTES = 24;

interface Party {
  readonly site: string;
  readonly publicKey: Uint8Array;
}

function boxKey(
  sodium: Sodium,
  contextHash: Uint8Array,
  secretKey: Uint8Array,
  peerPublicKey: Uint8Array,
  sender: Party,
  recipient: Party,
): Uint8Array | undefined {
  const dh = sharedSecret(sodium, secretKey, peerPublicKey);
  if (dh === undefined) return undefined;
  const key = sodium.crypto_generichash(
    32,
    encodeFields(
      BOX_KEY_LABEL,
      contextHash,
      sender.site,
      sender.publicKey,
      recipient.site,
      recipient.publicKey,
    ),
    dh,
  );
  sodium.memzero(dh);
  return key;
}

const associatedData = (contextHash: Uint8Array, from: string, to: string): Uint8Array =>
  encodeFields(BOX_AD_LABEL, contextHash, from, to);

export function sealShare(
  sodium: Sodium,
  contextHash: Uint8Array,
  sender: Party & { readonly secretKey: Uint8Array },
  recipient: Party,
  plaintext: Uint8Array,
): Result<Uint8Array> {
  const key = boxKey(sodium, contextHash, sender.secretKey, recipient.publicKey, sender, recipient);
  if (key === undefined) {
    return fail('secagg.bad_key', `the encryption key of ${recipient.site} is a low-order point`);
  }
  const nonce = sodium.randombytes_buf(NONCE_BYTES);
  const sealed = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(
    plaintext,
    associatedData(contextHash, sender.site, recipient.site),
    null,
    nonce,
    key,
  );
  sodium.memzero(key);
  const out = new Uint8Array(NONCE_BYTES + sealed.length);
  out.set(nonce);
  out.set(sealed, NONCE_BYTES);
  return ok(out);
}

export function openShare(
  sodium: Sodium,
  contextHash: Uint8Array,
  sender: Party,
  recipient: Party & { readonly secretKey: Uint8Array },
  ciphertext: Uint8Array,
): Result<Uint8Array> {
  if (ciphertext.length !== SHARE_CIPHERTEXT_BYTES) {
    return fail('secagg.share_rejected', `a share from ${sender.site} of the wrong length`);
  }
  const key = boxKey(sodium, contextHash, recipient.secretKey, sender.publicKey, sender, recipient);
  if (key === undefined) {
    return fail('secagg.bad_key', `the encryption key of ${sender.site} is a low-order point`);
  }
  try {
    const plaintext = sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(
      null,
      ciphertext.subarray(NONCE_BYTES),
      associatedData(contextHash, sender.site, recipient.site),
      ciphertext.subarray(0, NONCE_BYTES),
      key,
    );
    if (plaintext.length !== SHARE_PLAINTEXT_BYTES) {
      return fail('secagg.share_rejected', `a share from ${sender.site} of the wrong length`);
    }
    return ok(plaintext);
  } catch {
    return fail(
      'secagg.share_rejected',
      `the share from ${sender.site} to ${recipient.site} does not decrypt (tampered, misrouted or replayed)`,
    );
  } finally {
    sodium.memzero(key);
  }
}
