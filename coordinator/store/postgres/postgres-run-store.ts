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
import { NOW_ISO, type PostgresDatabase, type Queryable } from './postgres-database.js';
import { PostgresModelStore } from './postgres-model-store.js';
import { PostgresUpdateStore } from './postgres-update-store.js';

/** A run's row as the driver returns it: the json spec parsed. */
type PostgresRunRow = RunRow & { spec: unknown };

const RUN_COLUMNS = `id, spec_hash, spec, state, next_round, attempt, last_closed_round,
  model_version, created_at, updated_at`;

const WRITE_STATE = `UPDATE runs SET state = $1, updated_at = ${NOW_ISO} WHERE id = $2`;

const toStoredRun = (row: PostgresRunRow): StoredRun => toRun(row, row.spec);

/** Runs and rounds in `runs` and `rounds`; models and update bytes through those parts. */
export class PostgresRunStore implements RunStore {
  constructor(
    private readonly db: PostgresDatabase,
    private readonly updates: PostgresUpdateStore,
  ) {}

  async get(id: string): Promise<StoredRun | undefined> {
    const [row] = await this.db.query<PostgresRunRow>(
      `reading run ${id}`,
      `SELECT ${RUN_COLUMNS} FROM runs WHERE id = $1`,
      [id],
    );
    return row && toStoredRun(row);
  }

  async list(): Promise<StoredRun[]> {
    const rows = await this.db.query<PostgresRunRow>(
      'listing runs',
      `SELECT ${RUN_COLUMNS} FROM runs ORDER BY created_at DESC, ordinal DESC`,
    );
    return rows.map(toStoredRun);
  }

  async active(): Promise<StoredRun | undefined> {
    const [row] = await this.db.query<PostgresRunRow>(
      'reading the active run',
      `SELECT ${RUN_COLUMNS} FROM runs
       WHERE state NOT IN ('created', 'complete', 'cancelled', 'stopped-by-budget')
       ORDER BY updated_at DESC, ordinal DESC LIMIT 1`,
    );
    return row && toStoredRun(row);
  }

  async create(run: { id: string; specHash: string; spec: unknown }): Promise<void> {
    await this.db.fencedQuery(
      `creating run ${run.id}`,
      `INSERT INTO runs (id, spec_hash, spec, state, next_round, attempt, last_closed_round,
         model_version, created_at, updated_at)
       VALUES ($1, $2, $3, 'created', 1, 0, 0, 0, ${NOW_ISO}, ${NOW_ISO})`,
      [run.id, run.specHash, JSON.stringify(run.spec)],
    );
  }

  async start({ runId, initial }: { runId: string; initial: StoredModel }): Promise<void> {
    await this.db.transaction(`starting run ${runId}`, { fenced: true }, async (client) => {
      await PostgresModelStore.insert(client, { runId, model: initial });
      await client.query(WRITE_STATE, ['waiting-for-sites', runId]);
    });
  }

  async setState({ runId, state }: { runId: string; state: RunState }): Promise<void> {
    await this.db.fencedQuery(`setting run ${runId} ${state}`, WRITE_STATE, [state, runId]);
  }

  async complete({ runId, report, state }: Parameters<RunStore['complete']>[0]): Promise<void> {
    await this.db.fencedQuery(
      `completing run ${runId}`,
      `UPDATE runs SET state = $1, report = $2, updated_at = ${NOW_ISO} WHERE id = $3`,
      [state, JSON.stringify(report), runId],
    );
  }

  async report(runId: string): Promise<unknown> {
    const [row] = await this.db.query<{ report: unknown }>(
      `reading the report of run ${runId}`,
      'SELECT report FROM runs WHERE id = $1',
      [runId],
    );
    return row?.report ?? undefined;
  }

  async openRound({
    runId,
    round,
    attempt,
    participants,
  }: AttemptKey & { participants: readonly string[] }): Promise<void> {
    await this.db.fencedQuery(
      `opening run ${runId} round ${round} attempt ${attempt}`,
      `INSERT INTO rounds (run_id, round, attempt, state, participants, opened_at)
       VALUES ($1, $2, $3, 'open', $4, ${NOW_ISO})`,
      [runId, round, attempt, JSON.stringify(participants)],
    );
  }

  async openRoundOf(run: StoredRun): Promise<OpenRoundRecord | undefined> {
    const key = { runId: run.id, round: run.nextRound, attempt: run.attempt };
    const [row] = await this.db.query<{ participants: string[] }>(
      `reading the open round of run ${run.id}`,
      `SELECT participants FROM rounds
       WHERE run_id = $1 AND round = $2 AND attempt = $3 AND state = 'open'`,
      [key.runId, key.round, key.attempt],
    );
    if (!row) return undefined;
    return {
      round: key.round,
      attempt: key.attempt,
      participants: row.participants,
      updates: await this.updates.ofAttempt(key),
    };
  }

  async failRound({ outcome, ...key }: AttemptKey & { outcome: AttemptOutcome }): Promise<void> {
    await this.db.transaction(
      `failing run ${key.runId} round ${key.round} attempt ${key.attempt}`,
      { fenced: true },
      async (client) => {
        await closeAttempt(client, key, 'failed', outcome);
        await client.query(`UPDATE runs SET attempt = $1, updated_at = ${NOW_ISO} WHERE id = $2`, [
          key.attempt + 1,
          key.runId,
        ]);
      },
    );
  }

  async commitRound({
    summary,
    model,
    ...key
  }: AttemptKey & { summary: RoundSummary; model: StoredModel }): Promise<void> {
    await this.db.transaction(
      `committing run ${key.runId} round ${key.round} attempt ${key.attempt}`,
      { fenced: true },
      async (client) => {
        await closeAttempt(client, key, 'closed', summary);
        await PostgresUpdateStore.dropStaged(client, key);
        await PostgresModelStore.insert(client, { runId: key.runId, model });
        await client.query(
          `UPDATE runs SET next_round = $1, attempt = 0, last_closed_round = $2,
             model_version = $3, updated_at = ${NOW_ISO} WHERE id = $4`,
          [key.round + 1, key.round, model.version, key.runId],
        );
      },
    );
  }

  async closedRounds(runId: string): Promise<RoundSummary[]> {
    const rows = await this.db.query<{ summary: RoundSummary }>(
      `reading the closed rounds of run ${runId}`,
      `SELECT summary FROM rounds WHERE run_id = $1 AND state = 'closed' ORDER BY round, attempt`,
      [runId],
    );
    return rows.map((row) => row.summary);
  }

  async roundAttempts(runId: string): Promise<RoundAttemptRecord[]> {
    const rows = await this.db.query<{
      round: number;
      attempt: number;
      state: RoundAttemptRecord['state'];
      participants: number;
      summary: RoundSummary | AttemptOutcome | null;
      opened_at: string;
      closed_at: string | null;
    }>(
      `reading the rounds of run ${runId}`,
      `SELECT round, attempt, state, json_array_length(participants) AS participants, summary,
         opened_at, closed_at FROM rounds WHERE run_id = $1 ORDER BY round, attempt`,
      [runId],
    );
    return rows.map((r) => ({
      round: r.round,
      attempt: r.attempt,
      state: r.state,
      participants: r.participants,
      ...(r.summary === null ? {} : { summary: r.summary }),
      openedAt: r.opened_at,
      ...(r.closed_at === null ? {} : { closedAt: r.closed_at }),
    }));
  }

  async recordTraffic(t: ProcessTraffic): Promise<void> {
    await this.db.fencedQuery(
      `recording the traffic of run ${t.runId}`,
      `INSERT INTO run_traffic (run_id, process, started_at, bytes_up, bytes_down)
       VALUES ($1, $2, $3, $4, $5) ON CONFLICT (run_id, process)
       DO UPDATE SET bytes_up = excluded.bytes_up, bytes_down = excluded.bytes_down`,
      [t.runId, t.process, t.startedAt, t.bytesUp, t.bytesDown],
    );
  }

  async traffic(runId: string): Promise<RunTraffic | undefined> {
    const [row] = await this.db.query<{
      started_at: number | null;
      bytes_up: number;
      bytes_down: number;
    }>(
      `reading the traffic of run ${runId}`,
      `SELECT MIN(started_at) AS started_at, SUM(bytes_up)::int8 AS bytes_up,
         SUM(bytes_down)::int8 AS bytes_down FROM run_traffic WHERE run_id = $1`,
      [runId],
    );
    return !row || row.started_at === null
      ? undefined
      : { startedAt: row.started_at, bytesUp: row.bytes_up, bytesDown: row.bytes_down };
  }
}

/** Update bytes are kept only while their round may still need them; the rows stay. */
async function closeAttempt(
  client: Queryable,
  key: AttemptKey,
  state: 'closed' | 'failed',
  summary: unknown,
): Promise<void> {
  await client.query(
    `UPDATE rounds SET state = $1, summary = $2, closed_at = ${NOW_ISO}
     WHERE run_id = $3 AND round = $4 AND attempt = $5`,
    [state, JSON.stringify(summary), key.runId, key.round, key.attempt],
  );
  await PostgresUpdateStore.dropBytes(client, key);
}
