import { fail, ok, type Result } from '../errors.js';
import type { Sodium } from '../sodium.js';
import { encodeFields } from './round-context.js';
import { parseWith } from '../parse.js';
import { advertisedKeysSchema, type AdvertisedKeys } from './wire.js';

/**
 * A site's round keys: two ephemeral X25519 pairs (Bonawitz et al. 2017, AdvertiseKeys: one to
 * mask, one to encrypt shares), signed with the site's long-term Ed25519 identity together
 * with the round context and the Shamir commitments, so a coordinator that relays them can
 * neither substitute a key nor move them to another round.
 */
const ADVERTISE_LABEL = 'fedistill/1 secagg keys';
const PAIRWISE_LABEL = 'fedistill/1 secagg pairwise mask seed';

export type UnsignedKeys = Omit<AdvertisedKeys, 'signature'>;

function signedBytes(contextHash: Uint8Array, keys: UnsignedKeys): Uint8Array {
  return encodeFields(
    ADVERTISE_LABEL,
    contextHash,
    keys.site,
    keys.maskPublicKey,
    keys.encryptionPublicKey,
    keys.selfMaskCommitment,
    keys.maskKeyCommitment,
  );
}

export function signRoundKeys(
  sodium: Sodium,
  contextHash: Uint8Array,
  keys: UnsignedKeys,
  identitySecretKey: Uint8Array,
): AdvertisedKeys {
  const signature = sodium.crypto_sign_detached(signedBytes(contextHash, keys), identitySecretKey);
  return { ...keys, signature };
}

/** Checks the shape and the signature of `raw` against the site's identity key. */
export function verifyRoundKeys(
  sodium: Sodium,
  contextHash: Uint8Array,
  raw: unknown,
  identityPublicKey: Uint8Array | undefined,
): Result<AdvertisedKeys> {
  const parsed = parseWith(advertisedKeysSchema, raw, 'secagg.bad_key', 'advertised keys');
  if (!parsed.ok) return parsed;
  const keys = parsed.value;
  if (identityPublicKey === undefined) {
    return fail('secagg.unknown_site', `no identity key for ${keys.site}`);
  }
  const { signature, ...unsigned } = keys;
  let valid: boolean;
  try {
    valid = sodium.crypto_sign_verify_detached(
      signature,
      signedBytes(contextHash, unsigned),
      identityPublicKey,
    );
  } catch {
    valid = false;
  }
  if (!valid) {
    return fail('secagg.bad_signature', `the round keys of ${keys.site} are not signed by it`);
  }
  return ok(keys);
}

/** X25519, or undefined when the peer key gives an all-zero (low-order) result. */
export function sharedSecret(
  sodium: Sodium,
  secretKey: Uint8Array,
  peerPublicKey: Uint8Array,
): Uint8Array | undefined {
  try {
    return sodium.crypto_scalarmult(secretKey, peerPublicKey);
  } catch {
    return undefined;
  }
}

/**
 * s_uv = BLAKE2b-256(keyed by X25519(sk_u, pk_v); label || context || both names and mask
 * keys in name order). Both ends get the same 32 bytes; the context makes it per round.
 */
export function pairwiseSeed(
  sodium: Sodium,
  contextHash: Uint8Array,
  own: { readonly site: string; readonly secretKey: Uint8Array; readonly publicKey: Uint8Array },
  peer: { readonly site: string; readonly publicKey: Uint8Array },
): Result<Uint8Array> {
  const dh = sharedSecret(sodium, own.secretKey, peer.publicKey);
  if (dh === undefined) {
    return fail('secagg.bad_key', `the mask key of ${peer.site} is a low-order point`);
  }
  const [first, second] =
    own.site < peer.site ? [own, peer] : [peer, { site: own.site, publicKey: own.publicKey }];
  const seed = sodium.crypto_generichash(
    32,
    encodeFields(
      PAIRWISE_LABEL,
      contextHash,
      first.site,
      first.publicKey,
      second.site,
      second.publicKey,
    ),
    dh,
  );
  sodium.memzero(dh);
  return ok(seed);
}

/** The sign with which `site` adds the mask it shares with `peer`: + for the lower name. */
export function pairwiseSign(site: string, peer: string): 1 | -1 {
  return site < peer ? 1 : -1;
}
