import { createHash, randomBytes } from 'node:crypto';

/** Who holds an API token: operators may change runs and sites; auditors only read. */
export const ROLES = ['operator', 'auditor'] as const;
export type Role = (typeof ROLES)[number];

const PREFIX = 'fdt_';

/** A new token: 32 random bytes, so a plain hash at rest is enough (nothing to guess). */
export function generateToken(): string {
  return PREFIX + randomBytes(32).toString('base64url');
}

/** What the store keeps of a token; the token itself is shown once and never stored. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}
