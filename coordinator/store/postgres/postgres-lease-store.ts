import type { Lease, LeaseStore } from '../lease-store.js';
import type { PostgresDatabase } from './postgres-database.js';

interface LeaseRow {
  name: string;
  holder: string;
  epoch: number;
  expires_at: number;
}

/** expires_at in milliseconds since the epoch, as the contract gives it. */
const LEASE_COLUMNS = `name, holder, epoch,
  floor(extract(epoch FROM expires_at) * 1000)::int8 AS expires_at`;

const toLease = (row: LeaseRow): Lease => ({
  name: row.name,
  holder: row.holder,
  epoch: row.epoch,
  expiresAt: row.expires_at,
});

/**
 * Leases in the `leases` table, judged by the server's clock. Taking one is a single
 * statement, so two nodes racing for it are ordered by its row lock; it also waits for every
 * fenced change in flight under the old epoch (they hold the row FOR SHARE) to commit.
 */
export class PostgresLeaseStore implements LeaseStore {
  constructor(private readonly db: PostgresDatabase) {}

  async acquire({ name, holder, ttlMs }: { name: string; holder: string; ttlMs: number }) {
    // clock_timestamp(), not now(): a statement that waited for the row judges expiry after.
    const [row] = await this.db.unordered<LeaseRow>(
      `acquiring lease ${name}`,
      `INSERT INTO leases AS l (name, holder, epoch, expires_at)
       VALUES ($1, $2, 1, clock_timestamp() + $3::float8 * interval '1 millisecond')
       ON CONFLICT (name) DO UPDATE SET
         epoch = CASE WHEN l.holder = excluded.holder AND l.expires_at > clock_timestamp()
                 THEN l.epoch ELSE l.epoch + 1 END,
         holder = excluded.holder,
         expires_at = clock_timestamp() + $3::float8 * interval '1 millisecond'
       WHERE l.holder = excluded.holder OR l.expires_at <= clock_timestamp()
       RETURNING ${LEASE_COLUMNS}`,
      [name, holder, ttlMs],
    );
    return row && toLease(row);
  }

  async release({ name, holder, epoch }: { name: string; holder: string; epoch: number }) {
    await this.db.unordered(
      `releasing lease ${name}`,
      `UPDATE leases SET expires_at = clock_timestamp()
       WHERE name = $1 AND holder = $2 AND epoch = $3 AND expires_at > clock_timestamp()`,
      [name, holder, epoch],
    );
  }

  async current(name: string): Promise<Lease | undefined> {
    const [row] = await this.db.unordered<LeaseRow>(
      `reading lease ${name}`,
      `SELECT ${LEASE_COLUMNS} FROM leases WHERE name = $1`,
      [name],
    );
    return row && toLease(row);
  }
}
