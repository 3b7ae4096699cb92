import { z } from 'zod';
import { PUBLIC_KEY_BYTES } from './constants.js';
import type { IdentityKeyPair } from './handshake.js';
import type { Sodium } from './sodium.js';

/**
 * Long-term Ed25519 identities on disk. Keys are base64 in JSON so an operator can read, diff
 * and paste the public half; the secret file is written 0600 and never leaves its owner.
 */
const base64Key = (bytes: number) =>
  z
    .string()
    .regex(/^[A-Za-z0-9+/]+={0,2}$/, 'must be base64')
    .refine((s) => Buffer.from(s, 'base64').length === bytes, `must decode to ${bytes} bytes`);

const name = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'lower-case letters, digits, ".", "_" or "-", at most 64');

export const identityFileSchema = z
  .object({
    kind: z.literal('fedistill.identity'),
    name,
    publicKey: base64Key(PUBLIC_KEY_BYTES),
    secretKey: base64Key(64),
  })
  .strict();

export const publicKeyFileSchema = z
  .object({ kind: z.literal('fedistill.public-key'), name, publicKey: base64Key(PUBLIC_KEY_BYTES) })
  .strict();

/** A site on the allow-list: its name and Ed25519 public key. */
export const enrolledSiteSchema = z
  .object({ name, publicKey: base64Key(PUBLIC_KEY_BYTES) })
  .strict();

/**
 * The coordinator's allow-list: the enrolled sites, and the keys revoked from them (kept so a
 * revoked key is refused as revoked, not merely unknown, and so the auditor sees when).
 */
export const allowListSchema = z
  .object({
    kind: z.literal('fedistill.allow-list'),
    sites: z.array(enrolledSiteSchema),
    revoked: z
      .array(enrolledSiteSchema.extend({ revokedAt: z.iso.datetime() }).strict())
      .default([]),
  })
  .strict()
  .superRefine((list, ctx) => {
    const names = new Set<string>();
    const keys = new Set<string>();
    list.sites.forEach((site, i) => {
      if (names.has(site.name)) {
        ctx.addIssue({
          code: 'custom',
          message: `duplicate site ${site.name}`,
          path: ['sites', i, 'name'],
        });
      }
      if (keys.has(site.publicKey)) {
        ctx.addIssue({ code: 'custom', message: 'duplicate key', path: ['sites', i, 'publicKey'] });
      }
      names.add(site.name);
      keys.add(site.publicKey);
    });
    list.revoked.forEach((entry, i) => {
      if (keys.has(entry.publicKey)) {
        ctx.addIssue({
          code: 'custom',
          message: `a key of ${entry.name} is both enrolled and revoked`,
          path: ['revoked', i],
        });
      }
    });
  });

export type IdentityFile = z.infer<typeof identityFileSchema>;
export type PublicKeyFile = z.infer<typeof publicKeyFileSchema>;
export type AllowList = z.infer<typeof allowListSchema>;

export function generateIdentity(sodium: Sodium, siteName: string): IdentityFile {
  const pair = sodium.crypto_sign_keypair();
  return {
    kind: 'fedistill.identity',
    name: siteName,
    publicKey: Buffer.from(pair.publicKey).toString('base64'),
    secretKey: Buffer.from(pair.privateKey).toString('base64'),
  };
}

export function publicPart(identity: IdentityFile): PublicKeyFile {
  return { kind: 'fedistill.public-key', name: identity.name, publicKey: identity.publicKey };
}

export function identityKeyPair(identity: IdentityFile): IdentityKeyPair {
  return {
    publicKey: new Uint8Array(Buffer.from(identity.publicKey, 'base64')),
    privateKey: new Uint8Array(Buffer.from(identity.secretKey, 'base64')),
  };
}

export function decodeKey(base64: string): Uint8Array {
  return new Uint8Array(Buffer.from(base64, 'base64'));
}

/** A short, stable name for a public key (first 8 bytes of its BLAKE2b hash, hex), for logs. */
export function keyFingerprint(sodium: Sodium, publicKey: string): string {
  return Buffer.from(sodium.crypto_generichash(32, Buffer.from(publicKey, 'base64'), null))
    .subarray(0, 8)
    .toString('hex');
}
