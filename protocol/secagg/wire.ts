import { z } from 'zod';
import { binarySchema } from '../binary.js';
import { MAX_SHARES } from './shamir.js';

/**
 * The SecAgg+ payloads, as plain objects of strings, numbers and Uint8Array so they travel in
 * MessagePack. Each type is inferred from its schema; the same schema parses on both sides.
 */
export const SECAGG_KEY_BYTES = 32;
export const SECAGG_SIGNATURE_BYTES = 64;
/** Plaintext of one encrypted share: index (1 byte) || self-mask seed share || mask-key share. */
export const SHARE_PLAINTEXT_BYTES = 1 + 32 + 32;
/** XChaCha20-Poly1305: nonce (24) || ciphertext || tag (16). */
export const SHARE_CIPHERTEXT_BYTES = 24 + SHARE_PLAINTEXT_BYTES + 16;

const site = z.string().min(1).max(64);
const bytesOf = (length: number) =>
  binarySchema.refine((b) => b.length === length, { message: `must be ${length} bytes` });

/** site -> coordinator -> its neighbours: the round's two X25519 keys, signed by the site. */
export const advertisedKeysSchema = z
  .object({
    site,
    /** X25519 key for the pairwise mask seeds. */
    maskPublicKey: bytesOf(SECAGG_KEY_BYTES),
    /** X25519 key for encrypting shares to this site. */
    encryptionPublicKey: bytesOf(SECAGG_KEY_BYTES),
    /** Shamir commitment to the self-mask seed b_u. */
    selfMaskCommitment: bytesOf(32),
    /** Shamir commitment to the mask secret key. */
    maskKeyCommitment: bytesOf(32),
    /** Ed25519 over the round context and every field above. */
    signature: bytesOf(SECAGG_SIGNATURE_BYTES),
  })
  .strict();

/** coordinator -> site: who is in the round, and the advertised keys of the site's neighbours. */
export const keyRosterSchema = z
  .object({
    participants: z.array(site).min(2).max(100_000),
    keys: z.array(advertisedKeysSchema).max(MAX_SHARES),
  })
  .strict();

/** site -> coordinator -> `to`: one neighbour's shares, end-to-end encrypted. */
export const encryptedShareSchema = z
  .object({ from: site, to: site, ciphertext: bytesOf(SHARE_CIPHERTEXT_BYTES) })
  .strict();

/** site -> coordinator: the masked, quantized update (uint32 little-endian). */
export const maskedInputSchema = z
  .object({
    site,
    masked: binarySchema.refine((b) => b.length % 4 === 0, { message: 'must be uint32 values' }),
  })
  .strict();

const siteList = z.array(site).max(100_000);

/** coordinator -> survivors: the survivor set (sorted) each is asked to sign before unmasking. */
export const survivorSetSchema = z.object({ survivors: siteList }).strict();

/** survivor -> coordinator -> survivors: an Ed25519 signature on the round and survivor set. */
export const survivorSignatureSchema = z
  .object({ site, signature: bytesOf(SECAGG_SIGNATURE_BYTES) })
  .strict();

/**
 * coordinator -> signers: who sent a masked input (the signed set), who shared keys but did
 * not, and the survivors' signatures on that set, which each site checks before it answers.
 */
export const unmaskRequestSchema = z
  .object({
    survivors: siteList,
    dropped: siteList,
    signatures: z.array(survivorSignatureSchema).max(100_000),
  })
  .strict();

const revealedShareSchema = z.object({ owner: site, share: bytesOf(32) }).strict();

/** survivor -> coordinator: b shares of surviving neighbours, key shares of dropped ones. */
export const unmaskResponseSchema = z
  .object({
    site,
    selfMaskShares: z.array(revealedShareSchema).max(MAX_SHARES),
    maskKeyShares: z.array(revealedShareSchema).max(MAX_SHARES),
  })
  .strict();

export type AdvertisedKeys = z.infer<typeof advertisedKeysSchema>;
export type KeyRoster = z.infer<typeof keyRosterSchema>;
export type EncryptedShare = z.infer<typeof encryptedShareSchema>;
export type MaskedInput = z.infer<typeof maskedInputSchema>;
export type SurvivorSet = z.infer<typeof survivorSetSchema>;
export type SurvivorSignature = z.infer<typeof survivorSignatureSchema>;
export type UnmaskRequest = z.infer<typeof unmaskRequestSchema>;
export type RevealedShare = z.infer<typeof revealedShareSchema>;
export type UnmaskResponse = z.infer<typeof unmaskResponseSchema>;
