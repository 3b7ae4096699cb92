/** An API or dashboard token as stored: never the token itself, only what it grants. */
export interface TokenRecord {
  readonly id: string;
  readonly name: string;
  readonly role: 'operator' | 'auditor';
  /**
   * api: a long-lived API token; login: opens one dashboard session, once; session: a
   * dashboard's bearer, short-lived.
   */
  readonly kind: 'api' | 'login' | 'session';
  readonly createdAt: string;
  readonly revokedAt?: string;
  readonly expiresAt?: string;
}

/** Bearer tokens, by the hash of their secret: a stolen database grants nothing. */
export interface TokenStore {
  /** Stores the record and only the token's hash; the token itself is shown once, by the caller. */
  add(token: { record: Omit<TokenRecord, 'createdAt'>; tokenHash: string }): Promise<void>;
  /** The token with this hash, if it is neither revoked nor expired (as of now). */
  byHash(tokenHash: string): Promise<TokenRecord | undefined>;
  /** Every token, revoked and expired ones included, oldest first. */
  list(): Promise<TokenRecord[]>;
  /** Revokes the token; false when there is no such token or it was revoked already. */
  revoke(id: string): Promise<boolean>;
}
