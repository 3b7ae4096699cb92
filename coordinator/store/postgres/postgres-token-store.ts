import { toToken, type TokenRow } from '../stored-rows.js';
import type { TokenRecord, TokenStore } from '../token-store.js';
import { NOW_ISO, type PostgresDatabase } from './postgres-database.js';

const TOKEN_COLUMNS = 'id, name, role, kind, created_at, revoked_at, expires_at';

/** Tokens in the `tokens` table, by their hash. */
export class PostgresTokenStore implements TokenStore {
  constructor(private readonly db: PostgresDatabase) {}

  async add({ record, tokenHash }: { record: Omit<TokenRecord, 'createdAt'>; tokenHash: string }) {
    await this.db.change(
      `adding token ${record.id}`,
      `INSERT INTO tokens (id, name, role, kind, token_hash, created_at, expires_at)
       VALUES ($1, $2, $3, $4, $5, ${NOW_ISO}, $6)`,
      [record.id, record.name, record.role, record.kind, tokenHash, record.expiresAt ?? null],
    );
  }

  async byHash(tokenHash: string): Promise<TokenRecord | undefined> {
    const [row] = await this.db.query<TokenRow>(
      'looking a token up',
      `SELECT ${TOKEN_COLUMNS} FROM tokens WHERE token_hash = $1 AND revoked_at IS NULL
       AND (expires_at IS NULL OR expires_at > ${NOW_ISO})`,
      [tokenHash],
    );
    return row && toToken(row);
  }

  async list(): Promise<TokenRecord[]> {
    const rows = await this.db.query<TokenRow>(
      'listing tokens',
      `SELECT ${TOKEN_COLUMNS} FROM tokens ORDER BY created_at, ordinal`,
    );
    return rows.map(toToken);
  }

  async revoke(id: string): Promise<boolean> {
    const rows = await this.db.change(
      `revoking token ${id}`,
      `UPDATE tokens SET revoked_at = ${NOW_ISO} WHERE id = $1 AND revoked_at IS NULL RETURNING id`,
      [id],
    );
    return rows.length === 1;
  }
}
