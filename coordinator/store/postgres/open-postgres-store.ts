import pg from 'pg';
import type { Sodium } from '../../../protocol/index.js';
import type { CoordinatorStore } from '../store.js';
import { MIGRATIONS } from './migrations.js';
import { PostgresAuditStore } from './postgres-audit-store.js';
import { PostgresDatabase, type Queryable } from './postgres-database.js';
import { PostgresLeaseStore } from './postgres-lease-store.js';
import { PostgresModelStore } from './postgres-model-store.js';
import { PostgresRunStore } from './postgres-run-store.js';
import { PostgresSiteStore } from './postgres-site-store.js';
import { PostgresTokenStore } from './postgres-token-store.js';
import { PostgresUpdateStore } from './postgres-update-store.js';

/** Connections per coordinator node: enough for a round's concurrent update saves to overlap. */
const DEFAULT_POOL_SIZE = 10;

/**
 * How long a statement waits for a connection (a new one, or a free one of the pool) before it
 * fails as `store.unavailable`: a server that does not answer must not hang the coordinator.
 */
const CONNECT_TIMEOUT_MS = 30_000;

/** The advisory lock every coordinator takes to migrate: any fixed number, the same in all. */
const MIGRATION_LOCK = 0x66656469_73746f72n;

/**
 * int8 as a number, as the store's contract has it (pg gives text). Counts, seqs and byte
 * figures stay far below 2^53; one that does not is refused, never rounded.
 */
function parseInt8(text: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value)) throw new Error(`${text} is beyond a safe integer`);
  return value;
}

const TYPES: pg.CustomTypesConfig = {
  getTypeParser: (oid: number, format?: 'text' | 'binary') =>
    oid === pg.types.builtins.INT8 && format !== 'binary'
      ? parseInt8
      : pg.types.getTypeParser(oid, format),
};

/**
 * Opens (migrating as needed) the store on PostgreSQL, which several coordinator nodes may
 * share: run state, the audit log and blobs all live in the database, and a lease says which
 * node conducts. A commit is durable when the server's is (synchronous_commit on, its
 * default). Every part shares one pool; transactions take one connection each.
 */
export async function openPostgresStore(options: {
  sodium: Sodium;
  url: string;
  poolSize?: number;
  /**
   * The server ends a session of this store that sits inside a transaction for this long (its
   * `idle_in_transaction_session_timeout`). A process paused mid-transaction (SIGSTOP, a VM
   * frozen) holds the lease row FOR SHARE, and a successor's takeover waits for that lock: the
   * lease time is the bound, so the successor takes over within about two lease times.
   */
  idleInTransactionMs?: number;
}): Promise<CoordinatorStore> {
  const { sodium, url } = options;
  const pool = new pg.Pool({
    connectionString: url,
    max: options.poolSize ?? DEFAULT_POOL_SIZE,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    types: TYPES,
    ...(options.idleInTransactionMs
      ? { idle_in_transaction_session_timeout: options.idleInTransactionMs }
      : {}),
  });
  // An idle connection the server dropped is replaced when next needed; whoever needs it then
  // gets the error. Without a listener it would crash the process.
  pool.on('error', () => undefined);
  const db = new PostgresDatabase(pool);
  try {
    await db.transaction(
      `opening the coordinator store ${describe(url)}`,
      { fenced: false },
      migrate,
    );
  } catch (error) {
    await pool.end();
    throw error;
  }
  const updates = new PostgresUpdateStore(db);
  return {
    runs: new PostgresRunStore(db, updates),
    updates,
    models: new PostgresModelStore({ db, sodium }),
    sites: new PostgresSiteStore(db),
    tokens: new PostgresTokenStore(db),
    audit: new PostgresAuditStore(db),
    leases: new PostgresLeaseStore(db),
    fence: (lease) => db.fence(lease),
    close: () => db.close(),
  };
}

/**
 * Runs the migrations this database has not had yet, in the caller's transaction. The
 * advisory lock makes nodes that open at once take turns: the first migrates, the others
 * then find nothing to do.
 */
async function migrate(client: Queryable): Promise<void> {
  await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK.toString()]);
  await client.query(
    `CREATE TABLE IF NOT EXISTS schema_version (
       version int4 PRIMARY KEY,
       applied_at timestamptz NOT NULL DEFAULT now()
     )`,
  );
  const { rows } = await client.query<{ version: number | null }>(
    'SELECT max(version) AS version FROM schema_version',
  );
  const version = rows[0]?.version ?? 0;
  if (version > MIGRATIONS.length) {
    throw new Error(
      `it is at schema version ${version}, newer than this coordinator's ${MIGRATIONS.length}`,
    );
  }
  for (let v = version; v < MIGRATIONS.length; v++) {
    await client.query(MIGRATIONS[v]!);
    await client.query('INSERT INTO schema_version (version) VALUES ($1)', [v + 1]);
  }
}

/** The server and database, for messages: never the user, password or options. */
function describe(url: string): string {
  try {
    const { hostname, port, pathname } = new URL(url);
    return `postgresql://${hostname}${port ? `:${port}` : ''}${pathname}`;
  } catch {
    return 'on PostgreSQL (its URL does not parse)';
  }
}
