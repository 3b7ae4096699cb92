import type Database from 'better-sqlite3';
import type { GroupCommit } from './group-commit.js';
import { toToken, type TokenRow } from '../stored-rows.js';
import type { TokenRecord, TokenStore } from '../token-store.js';
import { isoNow } from './timestamp.js';

/** Tokens in the `tokens` table, by their hash. */
export class SqliteTokenStore implements TokenStore {
  constructor(
    private readonly db: Database.Database,
    private readonly commits: GroupCommit,
  ) {}

  add({
    record,
    tokenHash,
  }: {
    record: Omit<TokenRecord, 'createdAt'>;
    tokenHash: string;
  }): Promise<void> {
    return this.commits.change(() => {
      this.db
        .prepare(
          `INSERT INTO tokens (id, name, role, kind, token_hash, created_at, expires_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          record.id,
          record.name,
          record.role,
          record.kind,
          tokenHash,
          isoNow(),
          record.expiresAt ?? null,
        );
    });
  }

  byHash(tokenHash: string): Promise<TokenRecord | undefined> {
    return this.commits.read(() => {
      const row = this.db
        .prepare(
          `SELECT * FROM tokens WHERE token_hash = ? AND revoked_at IS NULL
           AND (expires_at IS NULL OR expires_at > ?)`,
        )
        .get(tokenHash, isoNow()) as TokenRow | undefined;
      return row && toToken(row);
    });
  }

  list(): Promise<TokenRecord[]> {
    return this.commits.read(() => {
      const rows = this.db.prepare('SELECT * FROM tokens ORDER BY created_at').all() as TokenRow[];
      return rows.map(toToken);
    });
  }

  revoke(id: string): Promise<boolean> {
    return this.commits.change(() => {
      const result = this.db
        .prepare('UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL')
        .run(isoNow(), id);
      return result.changes === 1;
    });
  }
}
