import { createHash, randomBytes } from 'node:crypto';
import { OPERATOR_ROLES, type OperatorRole } from '../../protocol/index.js';
import type { TokenRecord, TokenStore } from '../store/store.js';

/** Who holds an API token (the operator feed's roles): operators change runs; auditors read. */
export const ROLES = OPERATOR_ROLES;
export type Role = OperatorRole;

/** A one-time dashboard login link stays usable this long if nobody opens it. */
export const LOGIN_TOKEN_TTL_MS = 24 * 3600_000;
/** A dashboard session lasts a working day; the browser logs in again after. */
export const SESSION_TTL_MS = 12 * 3600_000;

const PREFIX = 'fdt_';

/** A new token: 32 random bytes, so a plain hash at rest is enough (nothing to guess). */
export function generateToken(): string {
  return PREFIX + randomBytes(32).toString('base64url');
}

/** What the store keeps of a token; the token itself is shown once and never stored. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Makes a token and stores its hash; the secret is returned once, for the caller to hand over. */
export async function issueToken(
  tokens: TokenStore,
  token: Pick<TokenRecord, 'name' | 'role' | 'kind'> & { ttlMs?: number },
): Promise<{ record: Omit<TokenRecord, 'createdAt'>; secret: string }> {
  const secret = generateToken();
  const record = {
    id: `tok-${hashToken(secret).slice(0, 12)}`,
    name: token.name,
    role: token.role,
    kind: token.kind,
    ...(token.ttlMs === undefined
      ? {}
      : { expiresAt: new Date(Date.now() + token.ttlMs).toISOString() }),
  };
  await tokens.add({ record, tokenHash: hashToken(secret) });
  return { record, secret };
}

/** The dashboard's address with a one-time operator login token in it (as Jupyter prints). */
export async function dashboardLoginUrl(
  tokens: TokenStore,
  baseUrl: string,
  name: string,
): Promise<string> {
  const { secret } = await issueToken(tokens, {
    name,
    role: 'operator',
    kind: 'login',
    ttlMs: LOGIN_TOKEN_TTL_MS,
  });
  return `${baseUrl}/dashboard/?token=${secret}`;
}
