/**
 * The store's schema, as ordered migrations. `PRAGMA user_version` records how many have run;
 * a database written by a newer coordinator (more migrations than this one knows) is refused.
 * Never edit a migration that has shipped: append a new one.
 */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE runs (
    id TEXT PRIMARY KEY,
    spec_hash TEXT NOT NULL,
    spec TEXT NOT NULL,
    state TEXT NOT NULL,
    report TEXT,
    next_round INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    last_closed_round INTEGER NOT NULL,
    model_version INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
  );
  CREATE TABLE models (
    run_id TEXT NOT NULL REFERENCES runs(id),
    version INTEGER NOT NULL,
    model_hash TEXT NOT NULL,
    optimizer_hash TEXT,
    created_at TEXT NOT NULL,
    PRIMARY KEY (run_id, version)
  );
  CREATE TABLE rounds (
    run_id TEXT NOT NULL REFERENCES runs(id),
    round INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    state TEXT NOT NULL,
    participants TEXT NOT NULL,
    summary TEXT,
    opened_at TEXT NOT NULL,
    closed_at TEXT,
    PRIMARY KEY (run_id, round, attempt)
  );
  CREATE TABLE updates (
    run_id TEXT NOT NULL,
    round INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    site TEXT NOT NULL,
    seq INTEGER NOT NULL,
    num_examples INTEGER NOT NULL,
    blob_hash TEXT NOT NULL,
    size INTEGER NOT NULL,
    bytes BLOB,
    received_at TEXT NOT NULL,
    PRIMARY KEY (run_id, round, attempt, site),
    FOREIGN KEY (run_id, round, attempt) REFERENCES rounds(run_id, round, attempt)
  );
  CREATE TABLE sites (
    name TEXT PRIMARY KEY,
    public_key TEXT NOT NULL,
    state TEXT NOT NULL,
    first_seen_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    last_connected_at TEXT
  );
  CREATE TABLE tokens (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    revoked_at TEXT
  );
  `,
  // The pruning mask the sites train the model version under (run.compression.pruning).
  `ALTER TABLE models ADD COLUMN mask_hash TEXT;`,
  // The tamper-evident audit log (protocol/PROTOCOL.md section 10): entries and signed heads.
  `
  CREATE TABLE audit_log (
    seq INTEGER PRIMARY KEY,
    event TEXT NOT NULL
  );
  CREATE TABLE tree_heads (
    size INTEGER NOT NULL,
    head TEXT NOT NULL
  );
  `,
  // Dashboard logins: one-time login tokens and the short-lived session tokens they open.
  `
  ALTER TABLE tokens ADD COLUMN kind TEXT NOT NULL DEFAULT 'api';
  ALTER TABLE tokens ADD COLUMN expires_at TEXT;
  `,
  // Runs keep every state of the run's state machine (protocol/run-state.ts); 'running' was
  // the one name for waiting, round open and closing.
  `UPDATE runs SET state = 'waiting-for-sites' WHERE state = 'running';`,
  // Each process's share of a run's traffic, so that a report after a crash counts them all.
  `
  CREATE TABLE run_traffic (
    run_id TEXT NOT NULL REFERENCES runs(id),
    process TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    bytes_up INTEGER NOT NULL,
    bytes_down INTEGER NOT NULL,
    PRIMARY KEY (run_id, process)
  );
  `,
  // Leases: which process conducts runs, and the epoch that fences a former holder's writes.
  `
  CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
  );
  `,
  // Update bytes an edge node pulled, kept before the leader saves the update (with empty
  // bytes): the leader refolds from them after an edge or the leader itself fails. Not per
  // attempt: the edge does not know it; the round's commit deletes them.
  `
  CREATE TABLE staged_updates (
    run_id TEXT NOT NULL REFERENCES runs(id),
    round INTEGER NOT NULL,
    site TEXT NOT NULL,
    blob_hash TEXT NOT NULL,
    bytes BLOB NOT NULL,
    staged_at TEXT NOT NULL,
    PRIMARY KEY (run_id, round, site, blob_hash)
  );
  `,
];
