import type { SiteRecord, SiteStore } from '../site-store.js';
import { NOW_ISO, type PostgresDatabase } from './postgres-database.js';

/** The registry in the `sites` table. */
export class PostgresSiteStore implements SiteStore {
  constructor(private readonly db: PostgresDatabase) {}

  async sync(sites: readonly Omit<SiteRecord, 'lastConnectedAt'>[]): Promise<void> {
    // One statement for the whole registry; a name given twice counts as its last, as it
    // would if each were written in turn (one statement may not change a row twice).
    const byName = new Map(sites.map((site) => [site.name, site]));
    const [names, keys, states] = [[...byName.keys()], [] as string[], [] as string[]];
    for (const site of byName.values()) {
      keys.push(site.publicKey);
      states.push(site.state);
    }
    await this.db.change(
      `syncing ${names.length} sites`,
      `INSERT INTO sites (name, public_key, state, first_seen_at, updated_at)
       SELECT name, public_key, state, ${NOW_ISO}, ${NOW_ISO}
       FROM unnest($1::text[], $2::text[], $3::text[]) AS s (name, public_key, state)
       ON CONFLICT (name) DO UPDATE
       SET public_key = excluded.public_key, state = excluded.state, updated_at = excluded.updated_at
       WHERE sites.public_key <> excluded.public_key OR sites.state <> excluded.state`,
      [names, keys, states],
    );
  }

  async markConnected(name: string): Promise<void> {
    await this.db.change(
      `recording that ${name} connected`,
      `UPDATE sites SET last_connected_at = ${NOW_ISO} WHERE name = $1`,
      [name],
    );
  }

  async list(): Promise<SiteRecord[]> {
    const rows = await this.db.query<{
      name: string;
      public_key: string;
      state: SiteRecord['state'];
      last_connected_at: string | null;
    }>(
      'listing sites',
      'SELECT name, public_key, state, last_connected_at FROM sites ORDER BY name COLLATE "C"',
    );
    return rows.map((r) => ({
      name: r.name,
      publicKey: r.public_key,
      state: r.state,
      ...(r.last_connected_at === null ? {} : { lastConnectedAt: r.last_connected_at }),
    }));
  }
}
