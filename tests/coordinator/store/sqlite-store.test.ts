import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { MIGRATIONS } from '../../../coordinator/store/sqlite/migrations.js';
import { openSqliteStore } from '../../../coordinator/store/sqlite/open-sqlite-store.js';
import { FedistillError, loadSodium, type Sodium } from '../../../protocol/index.js';
import { storeConformanceSuite, type StoreBackend } from './store-conformance.js';

const sqlite: StoreBackend = {
  async place() {
    const dir = await mkdtemp(path.join(tmpdir(), 'fedistill-store-'));
    const sodium = await loadSodium();
    return {
      open: async () => openSqliteStore({ sodium, file: path.join(dir, 'coordinator.db') }),
      remove: () => rm(dir, { recursive: true, force: true }),
    };
  },
};

storeConformanceSuite('SQLite', sqlite);

const isUnavailable = (error: unknown): boolean =>
  error instanceof FedistillError && error.code === 'store.unavailable';

describe('SQLite: files, schema and migrations', () => {
  let dir: string;
  let sodium: Sodium;

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'fedistill-sqlite-'));
    sodium = await loadSodium();
  });
  after(() => rm(dir, { recursive: true, force: true }));

  /** A database file in a folder of its own, so that each test starts empty. */
  const fileIn = (name: string): string => path.join(dir, name, 'coordinator.db');

  it('a blob whose file changed on disk is refused, never returned', async () => {
    const file = fileIn('corrupt');
    const store = await openSqliteStore({ sodium, file });
    try {
      const hash = await store.models.writeBlob(new Uint8Array([1, 2, 3, 4]));
      await writeFile(path.join(`${file}.blobs`, `${hash}.bin`), new Uint8Array([1, 2, 3, 5]));
      await assert.rejects(store.models.readBlob(hash), isUnavailable);
    } finally {
      await store.close();
    }
  });

  it('a database of a newer coordinator (more migrations) is refused', async () => {
    const file = fileIn('newer');
    await (await openSqliteStore({ sodium, file })).close();
    const db = new Database(file);
    db.pragma(`user_version = ${MIGRATIONS.length + 1}`);
    db.close();
    // Refused whether the opening throws or rejects.
    await assert.rejects(async () => openSqliteStore({ sodium, file }), isUnavailable);
  });

  it("a database written before run states were one schema resumes its 'running' run", async () => {
    // The database as migration 4 left it, with a run in the old 'running' state.
    const file = fileIn('old');
    mkdirSync(path.dirname(file), { recursive: true });
    const db = new Database(file);
    for (const migration of MIGRATIONS.slice(0, 4)) db.exec(migration);
    db.pragma('user_version = 4');
    db.prepare(
      `INSERT INTO runs (id, spec_hash, spec, state, next_round, attempt, last_closed_round,
         model_version, created_at, updated_at) VALUES ('r1', 'h', '{}', 'running', 3, 1, 2, 2, 't', 't')`,
    ).run();
    db.close();
    const store = await openSqliteStore({ sodium, file });
    try {
      const run = await store.runs.active();
      assert.deepEqual(run && [run.id, run.state, run.nextRound, run.attempt], [
        'r1',
        'waiting-for-sites',
        3,
        1,
      ]);
    } finally {
      await store.close();
    }
  });
});
