import type Database from 'better-sqlite3';
import type { RunState } from '../../../protocol/index.js';
import type { RoundSummary } from '../../runs/run-report.js';
import type { StoredModel } from '../model-store.js';
import type {
  AttemptKey,
  AttemptOutcome,
  OpenRoundRecord,
  ProcessTraffic,
  RoundAttemptRecord,
  RunStore,
  RunTraffic,
  StoredRun,
} from '../run-store.js';
import { toRun, type RunRow } from '../stored-rows.js';
import type { GroupCommit } from './group-commit.js';
import type { SqliteModelStore } from './sqlite-model-store.js';
import type { SqliteUpdateStore } from './sqlite-update-store.js';
import { isoNow } from './timestamp.js';

/** A run's row as SQLite returns it: the spec as JSON text. */
type SqliteRunRow = RunRow & { spec: string };

const toStoredRun = (row: SqliteRunRow): StoredRun => toRun(row, JSON.parse(row.spec) as unknown);

/** Runs and rounds in `runs` and `rounds`; models and update bytes through those parts. */
export class SqliteRunStore implements RunStore {
  private readonly db: Database.Database;
  private readonly models: SqliteModelStore;
  private readonly updates: SqliteUpdateStore;
  private readonly commits: GroupCommit;

  constructor(parts: {
    db: Database.Database;
    models: SqliteModelStore;
    updates: SqliteUpdateStore;
    commits: GroupCommit;
  }) {
    this.db = parts.db;
    this.models = parts.models;
    this.updates = parts.updates;
    this.commits = parts.commits;
  }

  /** A fenced change, committed with the others of its tick (each is its own savepoint). */
  private change<T>(apply: () => T): Promise<T> {
    return this.commits.change(apply, { fenced: true });
  }

  get(id: string): Promise<StoredRun | undefined> {
    return this.commits.read(() => {
      const row = this.db.prepare('SELECT * FROM runs WHERE id = ?').get(id) as
        SqliteRunRow | undefined;
      return row && toStoredRun(row);
    });
  }

  list(): Promise<StoredRun[]> {
    return this.commits.read(() => {
      const rows = this.db
        .prepare('SELECT * FROM runs ORDER BY created_at DESC, rowid DESC')
        .all() as SqliteRunRow[];
      return rows.map(toStoredRun);
    });
  }

  active(): Promise<StoredRun | undefined> {
    return this.commits.read(() => {
      const row = this.db
        .prepare(
          `SELECT * FROM runs WHERE state NOT IN ('created', 'complete', 'cancelled', 'stopped-by-budget') ORDER BY updated_at DESC LIMIT 1`,
        )
        .get() as SqliteRunRow | undefined;
      return row && toStoredRun(row);
    });
  }

  create(run: { id: string; specHash: string; spec: unknown }): Promise<void> {
    return this.change(() => {
      const at = isoNow();
      this.db
        .prepare(
          `INSERT INTO runs (id, spec_hash, spec, state, next_round, attempt, last_closed_round,
             model_version, created_at, updated_at) VALUES (?, ?, ?, 'created', 1, 0, 0, 0, ?, ?)`,
        )
        .run(run.id, run.specHash, JSON.stringify(run.spec), at, at);
    });
  }

  start({ runId, initial }: { runId: string; initial: StoredModel }): Promise<void> {
    return this.change(() => {
      const at = isoNow();
      this.models.insert({ runId, model: initial, at });
      this.writeState(runId, 'waiting-for-sites', at);
    });
  }

  setState({ runId, state }: { runId: string; state: RunState }): Promise<void> {
    return this.change(() => this.writeState(runId, state, isoNow()));
  }

  private writeState(runId: string, state: RunState, at: string): void {
    this.db.prepare('UPDATE runs SET state = ?, updated_at = ? WHERE id = ?').run(state, at, runId);
  }

  complete({ runId, report, state }: Parameters<RunStore['complete']>[0]): Promise<void> {
    return this.change(() => {
      this.db
        .prepare(`UPDATE runs SET state = ?, report = ?, updated_at = ? WHERE id = ?`)
        .run(state, JSON.stringify(report), isoNow(), runId);
    });
  }

  report(runId: string): Promise<unknown> {
    return this.commits.read(() => {
      const row = this.db.prepare('SELECT report FROM runs WHERE id = ?').get(runId) as
        { report: string | null } | undefined;
      return row?.report ? (JSON.parse(row.report) as unknown) : undefined;
    });
  }

  openRound({
    runId,
    round,
    attempt,
    participants,
  }: AttemptKey & { participants: readonly string[] }): Promise<void> {
    return this.change(() => {
      this.db
        .prepare(`INSERT INTO rounds VALUES (?, ?, ?, 'open', ?, NULL, ?, NULL)`)
        .run(runId, round, attempt, JSON.stringify(participants), isoNow());
    });
  }

  openRoundOf(run: StoredRun): Promise<OpenRoundRecord | undefined> {
    return this.commits.read(() => {
      const key = { runId: run.id, round: run.nextRound, attempt: run.attempt };
      const row = this.db
        .prepare(
          `SELECT participants FROM rounds WHERE run_id = ? AND round = ? AND attempt = ? AND state = 'open'`,
        )
        .get(key.runId, key.round, key.attempt) as { participants: string } | undefined;
      if (!row) return undefined;
      return {
        round: key.round,
        attempt: key.attempt,
        participants: JSON.parse(row.participants) as string[],
        updates: this.updates.ofAttempt(key),
      };
    });
  }

  /** Update bytes are kept only while their round may still need them; the rows stay. */
  private closeAttempt(key: AttemptKey, state: 'closed' | 'failed', summary: unknown, at: string) {
    this.db
      .prepare(
        `UPDATE rounds SET state = ?, summary = ?, closed_at = ?
         WHERE run_id = ? AND round = ? AND attempt = ?`,
      )
      .run(state, JSON.stringify(summary), at, key.runId, key.round, key.attempt);
    this.updates.dropBytes(key);
  }

  failRound({ outcome, ...key }: AttemptKey & { outcome: AttemptOutcome }): Promise<void> {
    return this.change(() => {
      const at = isoNow();
      this.closeAttempt(key, 'failed', outcome, at);
      this.db
        .prepare('UPDATE runs SET attempt = ?, updated_at = ? WHERE id = ?')
        .run(key.attempt + 1, at, key.runId);
    });
  }

  commitRound({
    summary,
    model,
    ...key
  }: AttemptKey & { summary: RoundSummary; model: StoredModel }): Promise<void> {
    return this.change(() => {
      const at = isoNow();
      this.closeAttempt(key, 'closed', summary, at);
      this.updates.dropStaged(key);
      this.models.insert({ runId: key.runId, model, at });
      this.db
        .prepare(
          `UPDATE runs SET next_round = ?, attempt = 0, last_closed_round = ?, model_version = ?,
             updated_at = ? WHERE id = ?`,
        )
        .run(key.round + 1, key.round, model.version, at, key.runId);
    });
  }

  closedRounds(runId: string): Promise<RoundSummary[]> {
    return this.commits.read(() => {
      const rows = this.db
        .prepare(
          `SELECT summary FROM rounds WHERE run_id = ? AND state = 'closed' ORDER BY round, attempt`,
        )
        .all(runId) as { summary: string }[];
      return rows.map((row) => JSON.parse(row.summary) as RoundSummary);
    });
  }

  roundAttempts(runId: string): Promise<RoundAttemptRecord[]> {
    return this.commits.read(() => {
      const rows = this.db
        .prepare(
          `SELECT round, attempt, state, json_array_length(participants) AS participants, summary,
           opened_at, closed_at FROM rounds WHERE run_id = ? ORDER BY round, attempt`,
        )
        .all(runId) as {
        round: number;
        attempt: number;
        state: RoundAttemptRecord['state'];
        participants: number;
        summary: string | null;
        opened_at: string;
        closed_at: string | null;
      }[];
      return rows.map((r) => ({
        round: r.round,
        attempt: r.attempt,
        state: r.state,
        participants: r.participants,
        ...(r.summary === null
          ? {}
          : { summary: JSON.parse(r.summary) as RoundSummary | AttemptOutcome }),
        openedAt: r.opened_at,
        ...(r.closed_at === null ? {} : { closedAt: r.closed_at }),
      }));
    });
  }

  recordTraffic(t: ProcessTraffic): Promise<void> {
    return this.change(() => {
      this.db
        .prepare(
          `INSERT INTO run_traffic VALUES (?, ?, ?, ?, ?) ON CONFLICT (run_id, process)
           DO UPDATE SET bytes_up = excluded.bytes_up, bytes_down = excluded.bytes_down`,
        )
        .run(t.runId, t.process, t.startedAt, t.bytesUp, t.bytesDown);
    });
  }

  traffic(runId: string): Promise<RunTraffic | undefined> {
    return this.commits.read(() => {
      const row = this.db
        .prepare(
          `SELECT MIN(started_at) AS startedAt, SUM(bytes_up) AS bytesUp,
             SUM(bytes_down) AS bytesDown FROM run_traffic WHERE run_id = ?`,
        )
        .get(runId) as { startedAt: number | null; bytesUp: number; bytesDown: number };
      return row.startedAt === null
        ? undefined
        : { startedAt: row.startedAt, bytesUp: row.bytesUp, bytesDown: row.bytesDown };
    });
  }
}
