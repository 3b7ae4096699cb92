import type Database from 'better-sqlite3';
import type { GroupCommit } from './group-commit.js';
import type { AttemptKey } from '../run-store.js';
import type { StoredUpdate, UpdateStore } from '../update-store.js';
import { isoNow } from './timestamp.js';

/** Updates in the `updates` table; `seq` keeps their arrival order within an attempt. */
export class SqliteUpdateStore implements UpdateStore {
  constructor(
    private readonly db: Database.Database,
    private readonly commits: GroupCommit,
  ) {}

  save({ runId, round, attempt, update }: AttemptKey & { update: StoredUpdate }): Promise<void> {
    return this.commits.change(() => this.insert({ runId, round, attempt, update }), {
      fenced: true,
    });
  }

  private insert({ runId, round, attempt, update }: AttemptKey & { update: StoredUpdate }): void {
    this.db
      .prepare(
        `INSERT INTO updates VALUES (?, ?, ?, ?,
           (SELECT COUNT(*) FROM updates WHERE run_id = ? AND round = ? AND attempt = ?),
           ?, ?, ?, ?, ?)`,
      )
      .run(
        runId,
        round,
        attempt,
        update.site,
        runId,
        round,
        attempt,
        update.numExamples,
        update.blobHash,
        update.bytes.byteLength,
        update.bytes,
        isoNow(),
      );
  }

  lastRoundBySite({
    runId,
    afterRound = 0,
  }: {
    runId: string;
    afterRound?: number;
  }): Promise<Map<string, number>> {
    return this.commits.read(() => {
      const rows = this.db
        .prepare(
          `SELECT u.site AS site, MAX(u.round) AS round FROM updates u JOIN rounds r
           ON r.run_id = u.run_id AND r.round = u.round AND r.attempt = u.attempt
           WHERE u.run_id = ? AND u.round > ? AND r.state = 'closed' GROUP BY u.site`,
        )
        .all(runId, afterRound) as { site: string; round: number }[];
      return new Map(rows.map((r) => [r.site, r.round]));
    });
  }

  stage({ runId, round, site, blobHash, bytes }: Parameters<UpdateStore['stage']>[0]) {
    // Unfenced: the edge that stages holds no lease.
    return this.commits.change(() => {
      this.db
        .prepare(
          `INSERT INTO staged_updates VALUES (?, ?, ?, ?, ?, ?)
           ON CONFLICT (run_id, round, site, blob_hash) DO NOTHING`,
        )
        .run(runId, round, site, blobHash, bytes, isoNow());
    });
  }

  staged({
    runId,
    round,
    site,
    blobHash,
  }: Parameters<UpdateStore['staged']>[0]): Promise<Uint8Array | undefined> {
    return this.commits.read(() => {
      const row = this.db
        .prepare(
          `SELECT bytes FROM staged_updates
           WHERE run_id = ? AND round = ? AND site = ? AND blob_hash = ?`,
        )
        .get(runId, round, site, blobHash) as { bytes: Buffer } | undefined;
      return row && new Uint8Array(row.bytes.buffer, row.bytes.byteOffset, row.bytes.byteLength);
    });
  }

  /**
   * The attempt's updates in arrival order, for the run store's resume record. An update saved
   * with empty bytes (an edge pulled it) has its staged bytes instead.
   */
  ofAttempt({ runId, round, attempt }: AttemptKey): StoredUpdate[] {
    const rows = this.db
      .prepare(
        `SELECT u.site AS site, u.num_examples AS num_examples, u.blob_hash AS blob_hash,
           COALESCE(s.bytes, u.bytes) AS bytes
         FROM updates u LEFT JOIN staged_updates s
         ON s.run_id = u.run_id AND s.round = u.round AND s.site = u.site
           AND s.blob_hash = u.blob_hash AND COALESCE(length(u.bytes), 0) = 0
         WHERE u.run_id = ? AND u.round = ? AND u.attempt = ? ORDER BY u.seq`,
      )
      .all(runId, round, attempt) as {
      site: string;
      num_examples: number;
      blob_hash: string;
      bytes: Buffer;
    }[];
    return rows.map((u) => ({
      site: u.site,
      numExamples: u.num_examples,
      blobHash: u.blob_hash,
      bytes: new Uint8Array(u.bytes.buffer, u.bytes.byteOffset, u.bytes.byteLength),
    }));
  }

  /** Only inside the run store's transactions: a closed or failed attempt needs no bytes. */
  dropBytes({ runId, round, attempt }: AttemptKey): void {
    this.db
      .prepare('UPDATE updates SET bytes = NULL WHERE run_id = ? AND round = ? AND attempt = ?')
      .run(runId, round, attempt);
  }

  /**
   * Only inside the run store's transactions: a closed round needs no staged bytes, whichever
   * attempt they were staged for. A failed attempt's stay: the next attempt may fold them.
   */
  dropStaged({ runId, round }: AttemptKey): void {
    this.db.prepare('DELETE FROM staged_updates WHERE run_id = ? AND round = ?').run(runId, round);
  }
}
