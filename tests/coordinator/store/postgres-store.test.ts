import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { MIGRATIONS } from '../../../coordinator/store/postgres/migrations.js';
import { openPostgresStore } from '../../../coordinator/store/postgres/open-postgres-store.js';
import { BLOB_CHUNK_BYTES } from '../../../coordinator/store/postgres/postgres-model-store.js';
import type { CoordinatorStore } from '../../../coordinator/store/store.js';
import { FedistillError, loadSodium, type Sodium } from '../../../protocol/index.js';
import { startPostgres, type TestPostgres } from '../../../harness/embedded-postgres.js';
import { roundSummary } from '../../support/round-summary.js';
import { storeConformanceSuite, type StoreBackend } from './store-conformance.js';

let server: TestPostgres;
let sodium: Sodium;

before(async () => {
  [server, sodium] = await Promise.all([startPostgres(), loadSodium()]);
});
after(() => server?.stop());

const postgres: StoreBackend = {
  async place() {
    const url = await server.createDatabase();
    return {
      open: () => openPostgresStore({ sodium, url }),
      remove: () => server.dropDatabase(url),
    };
  },
};

storeConformanceSuite('PostgreSQL', postgres);

const isUnavailable = (error: unknown): boolean =>
  error instanceof FedistillError && error.code === 'store.unavailable';

/** Runs `test` with a fresh database's URL, closing what it opened and dropping it after. */
async function withDatabase(
  test: (url: string, open: () => Promise<CoordinatorStore>) => Promise<void>,
): Promise<void> {
  const url = await server.createDatabase();
  const opened: CoordinatorStore[] = [];
  try {
    await test(url, async () => {
      const store = await openPostgresStore({ sodium, url });
      opened.push(store);
      return store;
    });
  } finally {
    await Promise.all(opened.map((store) => store.close()));
    await server.dropDatabase(url);
  }
}

describe('PostgreSQL: schema, blobs and leaders', () => {
  it('coordinators opening one new database at once migrate it once', () =>
    withDatabase(async (url, open) => {
      const stores = await Promise.all([open(), open(), open(), open()]);
      const rows = await server.query<{ version: number }>(
        url,
        'SELECT version FROM schema_version ORDER BY version',
      );
      assert.deepEqual(
        rows.map((r) => r.version),
        MIGRATIONS.map((_, i) => i + 1),
      );
      await stores[0]!.runs.create({ id: 'r1', specHash: 'h1', spec: {} });
      assert.equal((await stores[3]!.runs.get('r1'))?.state, 'created', 'one database for all');
    }));

  it('a database of a newer coordinator (more migrations) is refused', () =>
    withDatabase(async (url, open) => {
      await (await open()).close();
      await server.query(url, 'INSERT INTO schema_version (version) VALUES ($1)', [
        MIGRATIONS.length + 1,
      ]);
      await assert.rejects(openPostgresStore({ sodium, url }), (error: unknown) => {
        assert.ok(isUnavailable(error));
        assert.match((error as Error).message, /schema version \d+, newer than/);
        return true;
      });
    }));

  it("a store that cannot connect says so as store.unavailable, never with the URL's password", async () => {
    const url = new URL(await server.createDatabase());
    try {
      const password = 'not-the-password-9a7f';
      url.password = password;
      await assert.rejects(openPostgresStore({ sodium, url: url.href }), (error: unknown) => {
        assert.ok(isUnavailable(error));
        assert.match((error as Error).message, /opening the coordinator store postgresql:/);
        assert.doesNotMatch((error as Error).message, new RegExp(password));
        return true;
      });
    } finally {
      await server.dropDatabase(url.href);
    }
  });

  it('a store outlives the server dropping its connections: the next statement reconnects', () =>
    withDatabase(async (url, open) => {
      const store = await open();
      await Promise.all([store.audit.append({ seq: 0, event: {} }), store.sites.list()]);
      const [terminated] = await server.query<{ dropped: number }>(
        url,
        `SELECT count(pg_terminate_backend(pid))::int AS dropped FROM pg_stat_activity
         WHERE datname = current_database() AND pid <> pg_backend_pid()`,
      );
      assert.ok(terminated && terminated.dropped >= 1, 'the store had connections to drop');
      await sleep(100);
      await store.audit.append({ seq: 1, event: {} });
      assert.equal(await store.audit.size(), 2);
    }));

  it('a blob spans chunks; a changed or lost chunk is refused, never returned', () =>
    withDatabase(async (url, open) => {
      const store = await open();
      const bytes = new Uint8Array(2 * BLOB_CHUNK_BYTES + 5).map((_, i) => i % 251);
      const hash = await store.models.writeBlob(bytes);
      assert.equal(await store.models.writeBlob(bytes), hash, 'a second write is harmless');
      const chunks = await server.query<{ chunk: number; size: number }>(
        url,
        'SELECT chunk, length(bytes) AS size FROM blobs WHERE hash = $1 ORDER BY chunk',
        [hash],
      );
      assert.deepEqual(
        chunks.map((c) => [c.chunk, c.size]),
        [
          [0, BLOB_CHUNK_BYTES],
          [1, BLOB_CHUNK_BYTES],
          [2, 5],
        ],
      );
      assert.deepEqual(await store.models.readBlob(hash), bytes);
      await server.query(
        url,
        `UPDATE blobs SET bytes = set_byte(bytes, 7, get_byte(bytes, 7) # 1)
         WHERE hash = $1 AND chunk = 1`,
        [hash],
      );
      await assert.rejects(store.models.readBlob(hash), isUnavailable);
      // Written again, the blob keeps its corrupt chunk (a write never overwrites): drop it.
      await server.query(url, 'DELETE FROM blobs WHERE hash = $1 AND chunk = 1', [hash]);
      await assert.rejects(store.models.readBlob(hash), isUnavailable);
      await server.query(url, 'DELETE FROM blobs WHERE hash = $1', [hash]);
      await assert.rejects(store.models.readBlob(hash), isUnavailable);
      assert.equal(await store.models.writeBlob(bytes), hash);
      assert.deepEqual(await store.models.readBlob(hash), bytes, 'whole again once rewritten');
    }));

  it('a takeover waits for a fenced change in flight to commit', () =>
    withDatabase(async (url, open) => {
      const store = await open();
      await store.leases.acquire({ name: 'conductor', holder: 'a', ttlMs: 100 });
      await sleep(200);
      // What a fenced change holds while it runs: the lease row, FOR SHARE, until it commits.
      const inFlight = new pg.Client({ connectionString: url });
      await inFlight.connect();
      try {
        await inFlight.query('BEGIN');
        await inFlight.query("SELECT epoch FROM leases WHERE name = 'conductor' FOR SHARE");
        let taken = false;
        const takeover = store.leases
          .acquire({ name: 'conductor', holder: 'b', ttlMs: 60_000 })
          .finally(() => (taken = true));
        await sleep(300);
        assert.equal(taken, false, 'the lapsed lease is not taken while the change runs');
        await inFlight.query('COMMIT');
        assert.deepEqual((await takeover)?.epoch, 2);
      } finally {
        await inFlight.end();
      }
    }));

  it('a leader that paused past its lease cannot commit its round after a successor took over', () =>
    withDatabase(async (_url, open) => {
      const [a, b] = await Promise.all([open(), open()]);
      const lease = await a.leases.acquire({ name: 'conductor', holder: 'a', ttlMs: 300 });
      assert.ok(lease);
      a.fence({ name: 'conductor', epoch: lease.epoch });
      await a.runs.create({ id: 'r1', specHash: 'h1', spec: {} });
      await a.runs.start({ runId: 'r1', initial: { version: 0, modelHash: '0'.repeat(64) } });
      await a.runs.openRound({ runId: 'r1', round: 1, attempt: 0, participants: ['site-1'] });
      const update = { site: 'site-1', numExamples: 5, blobHash: 'b', bytes: new Uint8Array([1]) };
      await a.updates.save({ runId: 'r1', round: 1, attempt: 0, update });
      // A pauses (a long collection, a stalled VM) past its lease; B takes over.
      await sleep(500);
      const successor = await b.leases.acquire({ name: 'conductor', holder: 'b', ttlMs: 60_000 });
      assert.ok(successor && successor.epoch > lease.epoch);
      b.fence({ name: 'conductor', epoch: successor.epoch });
      const commit = {
        runId: 'r1',
        round: 1,
        attempt: 0,
        summary: roundSummary(1, 1),
        model: { version: 1, modelHash: '1'.repeat(64) },
      };
      await assert.rejects(
        a.runs.commitRound(commit),
        (error: unknown) => error instanceof FedistillError && error.code === 'store.fenced',
      );
      const run = await b.runs.get('r1');
      assert.deepEqual(run && [run.nextRound, run.modelVersion], [1, 0]);
      assert.deepEqual((await b.runs.openRoundOf(run!))?.updates, [update]);
      await b.runs.commitRound(commit);
      assert.equal((await b.runs.get('r1'))?.modelVersion, 1, 'the successor commits it');
    }));
});
