import type { AttemptKey } from '../run-store.js';
import type { StoredUpdate, UpdateStore } from '../update-store.js';
import { NOW_ISO, type PostgresDatabase, type Queryable } from './postgres-database.js';

/** Updates in the `updates` table; `seq` keeps their arrival order. */
export class PostgresUpdateStore implements UpdateStore {
  constructor(private readonly db: PostgresDatabase) {}

  async save({ runId, round, attempt, update }: AttemptKey & { update: StoredUpdate }) {
    // The primary key refuses a second update of the site; the foreign key, an unopened attempt.
    await this.db.fencedQuery(
      `saving the update of ${update.site} to run ${runId} round ${round} attempt ${attempt}`,
      `INSERT INTO updates (run_id, round, attempt, site, num_examples, blob_hash, size, bytes,
         received_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, ${NOW_ISO})`,
      [
        runId,
        round,
        attempt,
        update.site,
        update.numExamples,
        update.blobHash,
        update.bytes.byteLength,
        Buffer.from(update.bytes.buffer, update.bytes.byteOffset, update.bytes.byteLength),
      ],
    );
  }

  async lastRoundBySite({
    runId,
    afterRound = 0,
  }: {
    runId: string;
    afterRound?: number;
  }): Promise<Map<string, number>> {
    const rows = await this.db.query<{ site: string; round: number }>(
      `reading the last rounds of the sites of run ${runId}`,
      `SELECT u.site AS site, MAX(u.round) AS round FROM updates u JOIN rounds r
       ON r.run_id = u.run_id AND r.round = u.round AND r.attempt = u.attempt
       WHERE u.run_id = $1 AND u.round > $2 AND r.state = 'closed' GROUP BY u.site`,
      [runId, afterRound],
    );
    return new Map(rows.map((r) => [r.site, r.round]));
  }

  async stage({ runId, round, site, blobHash, bytes }: Parameters<UpdateStore['stage']>[0]) {
    // Unfenced: the edge that stages holds no lease.
    await this.db.change(
      `staging the update of ${site} to run ${runId} round ${round}`,
      `INSERT INTO staged_updates (run_id, round, site, blob_hash, bytes, staged_at)
       VALUES ($1, $2, $3, $4, $5, ${NOW_ISO}) ON CONFLICT DO NOTHING`,
      [runId, round, site, blobHash, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)],
    );
  }

  async staged({
    runId,
    round,
    site,
    blobHash,
  }: Parameters<UpdateStore['staged']>[0]): Promise<Uint8Array | undefined> {
    const [row] = await this.db.query<{ bytes: Buffer }>(
      `reading the staged update of ${site} to run ${runId} round ${round}`,
      `SELECT bytes FROM staged_updates
       WHERE run_id = $1 AND round = $2 AND site = $3 AND blob_hash = $4`,
      [runId, round, site, blobHash],
    );
    return row && new Uint8Array(row.bytes.buffer, row.bytes.byteOffset, row.bytes.byteLength);
  }

  /**
   * The attempt's updates in arrival order, for the run store's resume record. An update saved
   * with empty bytes (an edge pulled it) has its staged bytes instead.
   */
  async ofAttempt({ runId, round, attempt }: AttemptKey): Promise<StoredUpdate[]> {
    const rows = await this.db.query<{
      site: string;
      num_examples: number;
      blob_hash: string;
      bytes: Buffer;
    }>(
      `reading the updates of run ${runId} round ${round} attempt ${attempt}`,
      `SELECT u.site, u.num_examples, u.blob_hash, COALESCE(s.bytes, u.bytes) AS bytes
       FROM updates u LEFT JOIN staged_updates s
       ON s.run_id = u.run_id AND s.round = u.round AND s.site = u.site
         AND s.blob_hash = u.blob_hash AND COALESCE(octet_length(u.bytes), 0) = 0
       WHERE u.run_id = $1 AND u.round = $2 AND u.attempt = $3 ORDER BY u.seq`,
      [runId, round, attempt],
    );
    return rows.map((u) => ({
      site: u.site,
      numExamples: u.num_examples,
      blobHash: u.blob_hash,
      bytes: new Uint8Array(u.bytes.buffer, u.bytes.byteOffset, u.bytes.byteLength),
    }));
  }

  /** Only inside the run store's transactions: a closed or failed attempt needs no bytes. */
  static async dropBytes(client: Queryable, { runId, round, attempt }: AttemptKey): Promise<void> {
    await client.query(
      'UPDATE updates SET bytes = NULL WHERE run_id = $1 AND round = $2 AND attempt = $3',
      [runId, round, attempt],
    );
  }

  /**
   * Only inside the run store's transactions: a closed round needs no staged bytes, whichever
   * attempt they were staged for. A failed attempt's stay: the next attempt may fold them.
   */
  static async dropStaged(client: Queryable, { runId, round }: AttemptKey): Promise<void> {
    await client.query('DELETE FROM staged_updates WHERE run_id = $1 AND round = $2', [
      runId,
      round,
    ]);
  }
}
