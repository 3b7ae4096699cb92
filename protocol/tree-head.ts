import { z } from 'zod';
import { PUBLIC_KEY_BYTES, TREE_HEAD_SIGNATURE_LABEL } from './constants.js';
import { fail, ok, type Result } from './errors.js';
import { MERKLE_HASH_BYTES } from './merkle.js';
import { parseWith } from './parse.js';
import type { Sodium } from './sodium.js';

/**
 * A signed tree head: the coordinator's Ed25519 signature over the size and root of the audit
 * log at a time. Holding one, a site or an auditor can later demand proof that any log it is
 * shown extends it. The signed bytes (PROTOCOL.md 10.4) are
 *
 *   label || 0x00 || size (u64 BE) || root (32 bytes) || time (ASCII)
 *
 * with the label TREE_HEAD_SIGNATURE_LABEL, so no other signature of the coordinator's key (the
 * handshake signs other labels) can pass for a tree head. The time is signed exactly as written.
 */
export const signedTreeHeadSchema = z
  .object({
    size: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
    root: z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lower-case hex digits'),
    /** RFC 3339 UTC with milliseconds, as Date.prototype.toISOString writes it. */
    time: z.iso.datetime({ precision: 3 }),
    signature: z.string().regex(/^[0-9a-f]{128}$/, 'must be 128 lower-case hex digits'),
  })
  .strict();

export type SignedTreeHead = z.infer<typeof signedTreeHeadSchema>;

export function treeHeadSigningBytes(head: Omit<SignedTreeHead, 'signature'>): Uint8Array {
  const label = new TextEncoder().encode(TREE_HEAD_SIGNATURE_LABEL);
  const time = new TextEncoder().encode(head.time);
  const bytes = new Uint8Array(label.length + 1 + 8 + MERKLE_HASH_BYTES + time.length);
  const view = new DataView(bytes.buffer);
  bytes.set(label, 0);
  view.setBigUint64(label.length + 1, BigInt(head.size));
  bytes.set(Buffer.from(head.root, 'hex'), label.length + 9);
  bytes.set(time, label.length + 9 + MERKLE_HASH_BYTES);
  return bytes;
}

/** Signs the tree of `size` leaves with `root` at `time` with the coordinator's identity key. */
export function signTreeHead(
  sodium: Sodium,
  secretKey: Uint8Array,
  head: { readonly size: number; readonly root: Uint8Array; readonly time: Date },
): SignedTreeHead {
  if (head.root.length !== MERKLE_HASH_BYTES || !Number.isSafeInteger(head.size) || head.size < 0) {
    throw new RangeError('a tree head needs a 32-byte root and a size that is a safe integer');
  }
  const unsigned = {
    size: head.size,
    root: Buffer.from(head.root).toString('hex'),
    time: head.time.toISOString(),
  };
  const signature = sodium.crypto_sign_detached(treeHeadSigningBytes(unsigned), secretKey);
  return { ...unsigned, signature: Buffer.from(signature).toString('hex') };
}

/** Parses a tree head from outside and checks its signature against the coordinator's key. */
export function verifyTreeHead(
  sodium: Sodium,
  publicKey: Uint8Array,
  raw: unknown,
): Result<SignedTreeHead> {
  const parsed = parseWith(signedTreeHeadSchema, raw, 'audit.malformed', 'tree head');
  if (!parsed.ok) return parsed;
  if (publicKey.length !== PUBLIC_KEY_BYTES) {
    return fail('audit.bad_signature', `a coordinator key is ${PUBLIC_KEY_BYTES} bytes`);
  }
  const head = parsed.value;
  const signed = sodium.crypto_sign_verify_detached(
    Buffer.from(head.signature, 'hex'),
    treeHeadSigningBytes(head),
    publicKey,
  );
  return signed
    ? ok(head)
    : fail(
        'audit.bad_signature',
        `the tree head of size ${head.size} at ${head.time} is not signed by the coordinator`,
      );
}
