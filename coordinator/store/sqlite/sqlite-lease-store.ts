import type Database from 'better-sqlite3';
import type { Lease, LeaseStore } from '../lease-store.js';
import type { GroupCommit } from './group-commit.js';

interface LeaseRow {
  name: string;
  holder: string;
  epoch: number;
  expires_at: number;
}

const toLease = (row: LeaseRow): Lease => ({
  name: row.name,
  holder: row.holder,
  epoch: row.epoch,
  expiresAt: row.expires_at,
});

/**
 * Leases in the `leases` table, judged by this machine's clock: the processes that share a
 * SQLite file share the machine too.
 */
export class SqliteLeaseStore implements LeaseStore {
  constructor(
    private readonly db: Database.Database,
    private readonly commits: GroupCommit,
  ) {}

  acquire({ name, holder, ttlMs }: { name: string; holder: string; ttlMs: number }) {
    return this.commits.change((): Lease | undefined => {
      const now = Date.now();
      const row = this.row(name);
      if (row && row.holder !== holder && row.expires_at > now) return undefined;
      // A renewal keeps the epoch; a lapsed or released lease taken again, even by its former
      // holder, gets a new one: writes fenced at the old epoch may have been refused meanwhile.
      const renewal = row !== undefined && row.holder === holder && row.expires_at > now;
      const epoch = renewal ? row.epoch : (row?.epoch ?? 0) + 1;
      this.db
        .prepare(
          `INSERT INTO leases (name, holder, epoch, expires_at) VALUES (?, ?, ?, ?)
           ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, epoch = excluded.epoch,
           expires_at = excluded.expires_at`,
        )
        .run(name, holder, epoch, now + ttlMs);
      return toLease(this.row(name)!);
    });
  }

  release({ name, holder, epoch }: { name: string; holder: string; epoch: number }) {
    return this.commits.change(() => {
      this.db
        .prepare('UPDATE leases SET expires_at = ? WHERE name = ? AND holder = ? AND epoch = ?')
        .run(Date.now(), name, holder, epoch);
    });
  }

  current(name: string): Promise<Lease | undefined> {
    return this.commits.read(() => {
      const row = this.row(name);
      return row && toLease(row);
    });
  }

  private row(name: string): LeaseRow | undefined {
    return this.db.prepare('SELECT * FROM leases WHERE name = ?').get(name) as LeaseRow | undefined;
  }
}
