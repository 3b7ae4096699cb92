import { mkdirSync } from 'node:fs';
import { open, readFile, rename } from 'node:fs/promises';
import path from 'node:path';
import Database from 'better-sqlite3';
import {
  contentHash,
  FedistillError,
  toHex,
  type RunState,
  type SignedTreeHead,
  type Sodium,
} from '../../protocol/index.js';
import type { RoundSummary } from '../runs/run-report.js';
import { MIGRATIONS } from './migrations.js';
import type {
  AttemptOutcome,
  AuditFilter,
  CoordinatorStore,
  OpenRoundRecord,
  RoundAttemptRecord,
  SiteRecord,
  StoredModel,
  StoredRun,
  StoredUpdate,
  TokenRecord,
} from './store.js';

interface RunRow {
  id: string;
  spec_hash: string;
  spec: string;
  state: RunState;
  next_round: number;
  attempt: number;
  last_closed_round: number;
  model_version: number;
  created_at: string;
  updated_at: string;
}

interface TokenRow {
  id: string;
  name: string;
  role: TokenRecord['role'];
  kind: TokenRecord['kind'];
  created_at: string;
  revoked_at: string | null;
  expires_at: string | null;
}

const toToken = (row: TokenRow): TokenRecord => ({
  id: row.id,
  name: row.name,
  role: row.role,
  kind: row.kind,
  createdAt: row.created_at,
  ...(row.revoked_at === null ? {} : { revokedAt: row.revoked_at }),
  ...(row.expires_at === null ? {} : { expiresAt: row.expires_at }),
});

const now = (): string => new Date().toISOString();

const toRun = (row: RunRow): StoredRun => ({
  id: row.id,
  specHash: row.spec_hash,
  spec: JSON.parse(row.spec) as unknown,
  state: row.state,
  nextRound: row.next_round,
  attempt: row.attempt,
  lastClosedRound: row.last_closed_round,
  modelVersion: row.model_version,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

/** Writes a file so that it is either whole on disk or absent, even across a crash. */
async function writeDurably(file: string, bytes: Uint8Array): Promise<void> {
  const partial = `${file}.partial`;
  const handle = await open(partial, 'w');
  try {
    await handle.writeFile(bytes);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(partial, file);
  const dir = await open(path.dirname(file), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

/**
 * The store on SQLite (better-sqlite3): WAL so readers never block the writer, and
 * synchronous=FULL so a commit is on disk before the call returns. Blobs live under
 * `<db>.blobs/`, named by their BLAKE2b-256 hash.
 */
export class SqliteStore implements CoordinatorStore {
  private readonly db: Database.Database;
  private readonly blobDir: string;

  constructor(
    private readonly sodium: Sodium,
    file: string,
  ) {
    mkdirSync(path.dirname(file), { recursive: true });
    this.blobDir = `${file}.blobs`;
    mkdirSync(this.blobDir, { recursive: true });
    try {
      this.db = new Database(file);
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = FULL');
      this.db.pragma('foreign_keys = ON');
      // The CLI (tokens) may write while the coordinator runs: wait for its lock, briefly.
      this.db.pragma('busy_timeout = 5000');
      this.migrate();
    } catch (error) {
      throw new FedistillError({
        code: 'store.unavailable',
        message: `cannot open the coordinator store ${file}: ${(error as Error).message}`,
      });
    }
  }

  private migrate(): void {
    const version = this.db.pragma('user_version', { simple: true }) as number;
    if (version > MIGRATIONS.length) {
      throw new Error(
        `it is at schema version ${version}, newer than this coordinator's ${MIGRATIONS.length}`,
      );
    }
    for (let v = version; v < MIGRATIONS.length; v++) {
      this.db.transaction(() => {
        this.db.exec(MIGRATIONS[v]!);
        this.db.pragma(`user_version = ${v + 1}`);
      })();
    }
  }

  run(id: string): StoredRun | undefined {
    const row = this.db.prepare('SELECT * FROM runs WHERE id = ?').get(id) as RunRow | undefined;
    return row && toRun(row);
  }

  runs(): StoredRun[] {
    const rows = this.db
      .prepare('SELECT * FROM runs ORDER BY created_at DESC, rowid DESC')
      .all() as RunRow[];
    return rows.map(toRun);
  }

  activeRun(): StoredRun | undefined {
    const row = this.db
      .prepare(
        `SELECT * FROM runs WHERE state NOT IN ('created', 'complete', 'cancelled', 'stopped-by-budget') ORDER BY updated_at DESC LIMIT 1`,
      )
      .get() as RunRow | undefined;
    return row && toRun(row);
  }

  createRun(run: { id: string; specHash: string; spec: unknown }): void {
    const at = now();
    this.db
      .prepare(
        `INSERT INTO runs (id, spec_hash, spec, state, next_round, attempt, last_closed_round,
           model_version, created_at, updated_at) VALUES (?, ?, ?, 'created', 1, 0, 0, 0, ?, ?)`,
      )
      .run(run.id, run.specHash, JSON.stringify(run.spec), at, at);
  }

  startRun(id: string, initial: StoredModel): void {
    const at = now();
    this.db.transaction(() => {
      this.insertModel(id, initial, at);
      this.setRunState(id, 'waiting-for-sites', at);
    })();
  }

  setRunState(id: string, state: RunState, at = now()): void {
    this.db.prepare('UPDATE runs SET state = ?, updated_at = ? WHERE id = ?').run(state, at, id);
  }

  private insertModel(runId: string, model: StoredModel, at: string): void {
    this.db
      .prepare(
        `INSERT INTO models (run_id, version, model_hash, optimizer_hash, mask_hash, created_at)
         VALUES (?, ?, ?, ?, ?, ?)`,
      )
      .run(
        runId,
        model.version,
        model.modelHash,
        model.optimizerHash ?? null,
        model.maskHash ?? null,
        at,
      );
  }

  model(runId: string, version: number): StoredModel {
    const row = this.db
      .prepare(
        'SELECT model_hash, optimizer_hash, mask_hash FROM models WHERE run_id = ? AND version = ?',
      )
      .get(runId, version) as
      { model_hash: string; optimizer_hash: string | null; mask_hash: string | null } | undefined;
    if (!row) {
      throw new FedistillError({
        code: 'store.unavailable',
        message: `the store has no model version ${version} of run ${runId}`,
      });
    }
    return {
      version,
      modelHash: row.model_hash,
      ...(row.optimizer_hash === null ? {} : { optimizerHash: row.optimizer_hash }),
      ...(row.mask_hash === null ? {} : { maskHash: row.mask_hash }),
    };
  }

  openRound(runId: string, round: number, attempt: number, participants: readonly string[]): void {
    this.db
      .prepare(`INSERT INTO rounds VALUES (?, ?, ?, 'open', ?, NULL, ?, NULL)`)
      .run(runId, round, attempt, JSON.stringify(participants), now());
  }

  openRoundOf(run: StoredRun): OpenRoundRecord | undefined {
    const row = this.db
      .prepare(
        `SELECT participants FROM rounds WHERE run_id = ? AND round = ? AND attempt = ? AND state = 'open'`,
      )
      .get(run.id, run.nextRound, run.attempt) as { participants: string } | undefined;
    if (!row) return undefined;
    const updates = this.db
      .prepare(
        `SELECT site, num_examples, blob_hash, bytes FROM updates
         WHERE run_id = ? AND round = ? AND attempt = ? ORDER BY seq`,
      )
      .all(run.id, run.nextRound, run.attempt) as {
      site: string;
      num_examples: number;
      blob_hash: string;
      bytes: Buffer;
    }[];
    return {
      round: run.nextRound,
      attempt: run.attempt,
      participants: JSON.parse(row.participants) as string[],
      updates: updates.map((u) => ({
        site: u.site,
        numExamples: u.num_examples,
        blobHash: u.blob_hash,
        bytes: new Uint8Array(u.bytes.buffer, u.bytes.byteOffset, u.bytes.byteLength),
      })),
    };
  }

  saveUpdate(runId: string, round: number, attempt: number, update: StoredUpdate): void {
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
        now(),
      );
  }

  /** Update bytes are kept only while their round may still need them; the rows stay. */
  private closeAttempt(runId: string, round: number, attempt: number, state: string, at: string) {
    this.db
      .prepare(
        `UPDATE rounds SET state = ?, closed_at = ? WHERE run_id = ? AND round = ? AND attempt = ?`,
      )
      .run(state, at, runId, round, attempt);
    this.db
      .prepare('UPDATE updates SET bytes = NULL WHERE run_id = ? AND round = ? AND attempt = ?')
      .run(runId, round, attempt);
  }

  failRound(runId: string, round: number, attempt: number, outcome: AttemptOutcome): void {
    const at = now();
    this.db.transaction(() => {
      this.closeAttempt(runId, round, attempt, 'failed', at);
      this.db
        .prepare('UPDATE rounds SET summary = ? WHERE run_id = ? AND round = ? AND attempt = ?')
        .run(JSON.stringify(outcome), runId, round, attempt);
      this.db
        .prepare('UPDATE runs SET attempt = ?, updated_at = ? WHERE id = ?')
        .run(attempt + 1, at, runId);
    })();
  }

  commitRound(
    runId: string,
    round: { round: number; attempt: number; summary: RoundSummary },
    model: StoredModel,
  ): void {
    const at = now();
    this.db.transaction(() => {
      this.closeAttempt(runId, round.round, round.attempt, 'closed', at);
      this.db
        .prepare('UPDATE rounds SET summary = ? WHERE run_id = ? AND round = ? AND attempt = ?')
        .run(JSON.stringify(round.summary), runId, round.round, round.attempt);
      this.insertModel(runId, model, at);
      this.db
        .prepare(
          `UPDATE runs SET next_round = ?, attempt = 0, last_closed_round = ?, model_version = ?,
             updated_at = ? WHERE id = ?`,
        )
        .run(round.round + 1, round.round, model.version, at, runId);
    })();
  }

  closedRounds(runId: string): RoundSummary[] {
    const rows = this.db
      .prepare(
        `SELECT summary FROM rounds WHERE run_id = ? AND state = 'closed' ORDER BY round, attempt`,
      )
      .all(runId) as { summary: string }[];
    return rows.map((row) => JSON.parse(row.summary) as RoundSummary);
  }

  roundAttempts(runId: string): RoundAttemptRecord[] {
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
  }

  lastRoundBySite(runId: string, afterRound = 0): Map<string, number> {
    const rows = this.db
      .prepare(
        `SELECT u.site AS site, MAX(u.round) AS round FROM updates u JOIN rounds r
         ON r.run_id = u.run_id AND r.round = u.round AND r.attempt = u.attempt
         WHERE u.run_id = ? AND u.round > ? AND r.state = 'closed' GROUP BY u.site`,
      )
      .all(runId, afterRound) as { site: string; round: number }[];
    return new Map(rows.map((r) => [r.site, r.round]));
  }

  completeRun(runId: string, report: unknown): void {
    this.db
      .prepare(`UPDATE runs SET state = 'complete', report = ?, updated_at = ? WHERE id = ?`)
      .run(JSON.stringify(report), now(), runId);
  }

  report(runId: string): unknown {
    const row = this.db.prepare('SELECT report FROM runs WHERE id = ?').get(runId) as
      { report: string | null } | undefined;
    return row?.report ? (JSON.parse(row.report) as unknown) : undefined;
  }

  async writeBlob(bytes: Uint8Array): Promise<string> {
    const hash = toHex(contentHash(this.sodium, bytes));
    await writeDurably(path.join(this.blobDir, `${hash}.bin`), bytes);
    return hash;
  }

  async readBlob(hash: string): Promise<Uint8Array> {
    if (!/^[0-9a-f]{64}$/.test(hash)) {
      throw new FedistillError({ code: 'store.unavailable', message: `bad blob hash ${hash}` });
    }
    const bytes = await readFile(path.join(this.blobDir, `${hash}.bin`));
    if (toHex(contentHash(this.sodium, bytes)) !== hash) {
      throw new FedistillError({
        code: 'store.unavailable',
        message: `blob ${hash} is corrupt: its content hash differs`,
      });
    }
    return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  syncSites(sites: readonly Omit<SiteRecord, 'lastConnectedAt'>[]): void {
    const at = now();
    const upsert = this.db.prepare(
      `INSERT INTO sites (name, public_key, state, first_seen_at, updated_at)
       VALUES (@name, @publicKey, @state, @at, @at)
       ON CONFLICT (name) DO UPDATE SET public_key = @publicKey, state = @state, updated_at = @at
       WHERE public_key != @publicKey OR state != @state`,
    );
    this.db.transaction(() => {
      for (const site of sites) upsert.run({ ...site, at });
    })();
  }

  siteConnected(name: string): void {
    this.db.prepare('UPDATE sites SET last_connected_at = ? WHERE name = ?').run(now(), name);
  }

  sites(): SiteRecord[] {
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
  }

  addToken(token: Omit<TokenRecord, 'createdAt'>, tokenHash: string): void {
    this.db
      .prepare(
        `INSERT INTO tokens (id, name, role, kind, token_hash, created_at, expires_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(token.id, token.name, token.role, token.kind, tokenHash, now(), token.expiresAt ?? null);
  }

  tokenByHash(tokenHash: string): TokenRecord | undefined {
    // ISO-8601 UTC strings of one format compare as text in time order.
    const row = this.db
      .prepare(
        `SELECT * FROM tokens WHERE token_hash = ? AND revoked_at IS NULL
         AND (expires_at IS NULL OR expires_at > ?)`,
      )
      .get(tokenHash, now()) as TokenRow | undefined;
    return row && toToken(row);
  }

  tokens(): TokenRecord[] {
    const rows = this.db.prepare('SELECT * FROM tokens ORDER BY created_at').all() as TokenRow[];
    return rows.map(toToken);
  }

  revokeToken(id: string): boolean {
    const result = this.db
      .prepare('UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL')
      .run(now(), id);
    return result.changes === 1;
  }

  appendAudit(seq: number, event: Record<string, unknown>): void {
    // The primary key refuses a seq used before: nothing is overwritten.
    this.db
      .prepare('INSERT INTO audit_log (seq, event) VALUES (?, ?)')
      .run(seq, JSON.stringify(event));
  }

  auditEntries(): { seq: number; event: Record<string, unknown> }[] {
    const rows = this.db.prepare('SELECT seq, event FROM audit_log ORDER BY seq').all() as {
      seq: number;
      event: string;
    }[];
    return rows.map((r) => ({ seq: r.seq, event: JSON.parse(r.event) as Record<string, unknown> }));
  }

  auditPage(filter: AuditFilter): {
    entries: { seq: number; event: Record<string, unknown> }[];
    matching: number;
  } {
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (filter.event?.endsWith('.')) {
      // A prefix: LIKE with the prefix's own wildcards escaped.
      where.push(`json_extract(event, '$.event') LIKE ? ESCAPE '\\'`);
      args.push(filter.event.replace(/[\\%_]/g, (c) => '\\' + c) + '%');
    } else if (filter.event !== undefined) {
      where.push(`json_extract(event, '$.event') = ?`);
      args.push(filter.event);
    }
    for (const key of ['site', 'run', 'round'] as const) {
      const value = filter[key];
      if (value === undefined) continue;
      where.push(`json_extract(event, '$.${key}') = ?`);
      args.push(value);
    }
    const matchingWhere = where.length ? `WHERE ${where.join(' AND ')}` : '';
    const { count } = this.db
      .prepare(`SELECT COUNT(*) AS count FROM audit_log ${matchingWhere}`)
      .get(...args) as { count: number };
    if (filter.before !== undefined) {
      where.push('seq < ?');
      args.push(filter.before);
    }
    const rows = this.db
      .prepare(
        `SELECT seq, event FROM audit_log ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
         ORDER BY seq DESC LIMIT ?`,
      )
      .all(...args, filter.limit) as { seq: number; event: string }[];
    return {
      entries: rows.map((r) => ({
        seq: r.seq,
        event: JSON.parse(r.event) as Record<string, unknown>,
      })),
      matching: count,
    };
  }

  auditSize(): number {
    return (this.db.prepare('SELECT COUNT(*) AS count FROM audit_log').get() as { count: number })
      .count;
  }

  addTreeHead(head: SignedTreeHead): void {
    this.db
      .prepare('INSERT INTO tree_heads (size, head) VALUES (?, ?)')
      .run(head.size, JSON.stringify(head));
  }

  treeHeads(): SignedTreeHead[] {
    const rows = this.db.prepare('SELECT head FROM tree_heads ORDER BY rowid').all() as {
      head: string;
    }[];
    return rows.map((r) => JSON.parse(r.head) as SignedTreeHead);
  }

  close(): void {
    this.db.close();
  }
}
