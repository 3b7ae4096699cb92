/**
 * The store's schema on PostgreSQL, as ordered migrations: the SQLite schema's tables (its
 * migrations folded into one), with blobs and leases, which a store shared by several
 * coordinator nodes keeps in the database. `schema_version` has a row per migration applied;
 * a database written by a newer coordinator (a version this one does not know) is refused.
 * Never edit a migration that has shipped: append a new one.
 *
 * Times the coordinator reads back are ISO-8601 UTC text, as in SQLite, so that they compare
 * as text in time order; JSON is `json`, which keeps the text as written (jsonb would reorder
 * keys and renormalise numbers of audit entries whose hashes were taken over that text).
 */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE runs (
    id text PRIMARY KEY,
    -- Breaks ties between runs created within one millisecond: newest first means last created.
    ordinal int8 GENERATED ALWAYS AS IDENTITY,
    spec_hash text NOT NULL,
    spec json NOT NULL,
    state text NOT NULL,
    report json,
    next_round int4 NOT NULL,
    attempt int4 NOT NULL,
    last_closed_round int4 NOT NULL,
    model_version int4 NOT NULL,
    created_at text NOT NULL,
    updated_at text NOT NULL
  );
  CREATE TABLE models (
    run_id text NOT NULL REFERENCES runs(id),
    version int4 NOT NULL,
    model_hash text NOT NULL,
    optimizer_hash text,
    mask_hash text,
    created_at text NOT NULL,
    PRIMARY KEY (run_id, version)
  );
  CREATE TABLE rounds (
    run_id text NOT NULL REFERENCES runs(id),
    round int4 NOT NULL,
    attempt int4 NOT NULL,
    state text NOT NULL,
    participants json NOT NULL,
    summary json,
    opened_at text NOT NULL,
    closed_at text,
    PRIMARY KEY (run_id, round, attempt)
  );
  CREATE TABLE updates (
    run_id text NOT NULL,
    round int4 NOT NULL,
    attempt int4 NOT NULL,
    site text NOT NULL,
    -- Arrival order: drawn from one sequence, so concurrent saves never share a place.
    seq int8 GENERATED ALWAYS AS IDENTITY,
    num_examples int8 NOT NULL,
    blob_hash text NOT NULL,
    size int8 NOT NULL,
    bytes bytea,
    received_at text NOT NULL,
    PRIMARY KEY (run_id, round, attempt, site),
    FOREIGN KEY (run_id, round, attempt) REFERENCES rounds(run_id, round, attempt)
  );
  CREATE TABLE run_traffic (
    run_id text NOT NULL REFERENCES runs(id),
    process text NOT NULL,
    started_at int8 NOT NULL,
    bytes_up int8 NOT NULL,
    bytes_down int8 NOT NULL,
    PRIMARY KEY (run_id, process)
  );
  CREATE TABLE sites (
    name text PRIMARY KEY,
    public_key text NOT NULL,
    state text NOT NULL,
    first_seen_at text NOT NULL,
    updated_at text NOT NULL,
    last_connected_at text
  );
  CREATE TABLE tokens (
    id text PRIMARY KEY,
    ordinal int8 GENERATED ALWAYS AS IDENTITY,
    name text NOT NULL,
    role text NOT NULL,
    kind text NOT NULL,
    token_hash text NOT NULL UNIQUE,
    created_at text NOT NULL,
    revoked_at text,
    expires_at text
  );
  CREATE TABLE audit_log (
    seq int8 PRIMARY KEY,
    event json NOT NULL
  );
  CREATE TABLE tree_heads (
    ordinal int8 GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    size int8 NOT NULL,
    head json NOT NULL
  );
  -- Content-addressed blobs in chunks, so that every node reads every blob and no row is huge.
  -- Every blob has chunk 0, the empty one included: no rows means no blob.
  CREATE TABLE blobs (
    hash text NOT NULL,
    chunk int4 NOT NULL,
    bytes bytea NOT NULL,
    PRIMARY KEY (hash, chunk)
  );
  -- Expiry is judged by the server's clock, the one clock every node shares.
  CREATE TABLE leases (
    name text PRIMARY KEY,
    holder text NOT NULL,
    epoch int8 NOT NULL,
    expires_at timestamptz NOT NULL
  );
  `,
  `
  -- Messages between coordinator nodes (coordinator/nodes/node-bus.ts): a row per message,
  -- taken by its recipient, which a NOTIFY on fedistill_nodes wakes.
  CREATE TABLE node_messages (
    seq bigserial PRIMARY KEY,
    to_node text NOT NULL,
    from_node text NOT NULL,
    body bytea NOT NULL,
    sent_at timestamptz NOT NULL DEFAULT now()
  );
  CREATE INDEX node_messages_to ON node_messages (to_node, seq);
  -- Where each node serves HTTP, for edges that forward operators' requests to the leader.
  CREATE TABLE node_addresses (
    node text PRIMARY KEY,
    url text NOT NULL,
    announced_at timestamptz NOT NULL DEFAULT now()
  );
  `,
  `
  -- Update bytes an edge node pulled, kept before the leader saves the update (with empty
  -- bytes): the leader refolds from them after an edge or the leader itself fails. Not per
  -- attempt: the edge does not know it; the round's commit deletes them.
  CREATE TABLE staged_updates (
    run_id text NOT NULL REFERENCES runs(id),
    round int4 NOT NULL,
    site text NOT NULL,
    blob_hash text NOT NULL,
    bytes bytea NOT NULL,
    staged_at text NOT NULL,
    PRIMARY KEY (run_id, round, site, blob_hash)
  );
  `,
];
