import type Database from 'better-sqlite3';
import type { GroupCommit } from './group-commit.js';
import type { SiteRecord, SiteStore } from '../site-store.js';
import { isoNow } from './timestamp.js';

/** The registry in the `sites` table. */
export class SqliteSiteStore implements SiteStore {
  constructor(
    private readonly db: Database.Database,
    private readonly commits: GroupCommit,
  ) {}

  sync(sites: readonly Omit<SiteRecord, 'lastConnectedAt'>[]): Promise<void> {
    return this.commits.change(() => this.upsert(sites));
  }

  private upsert(sites: readonly Omit<SiteRecord, 'lastConnectedAt'>[]): void {
    const at = isoNow();
    const upsert = this.db.prepare(
      `INSERT INTO sites (name, public_key, state, first_seen_at, updated_at)
       VALUES (@name, @publicKey, @state, @at, @at)
       ON CONFLICT (name) DO UPDATE SET public_key = @publicKey, state = @state, updated_at = @at
       WHERE public_key != @publicKey OR state != @state`,
    );
    for (const site of sites) {
      upsert.run({ name: site.name, publicKey: site.publicKey, state: site.state, at });
    }
  }

  markConnected(name: string): Promise<void> {
    return this.commits.change(() => {
      this.db.prepare('UPDATE sites SET last_connected_at = ? WHERE name = ?').run(isoNow(), name);
    });
  }

  list(): Promise<SiteRecord[]> {
    return this.commits.read(() => {
      const rows = this.db
        .prepare('SELECT name, public_key, state, last_connected_at FROM sites ORDER BY name')
        .all() as {
        name: string;
        public_key: string;
        state: SiteRecord['state'];
        last_connected_at: string | null;
      }[];
      return rows.map((r) => ({
        name: r.name,
        publicKey: r.public_key,
        state: r.state,
        ...(r.last_connected_at === null ? {} : { lastConnectedAt: r.last_connected_at }),
      }));
    });
  }
}
