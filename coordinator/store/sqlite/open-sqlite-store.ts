import { chmodSync, existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { FedistillError, type Sodium } from '../../../protocol/index.js';
import { ensurePrivateFile, PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from '../private-files.js';
import type { CoordinatorStore } from '../store.js';
import { GroupCommit } from './group-commit.js';
import { MIGRATIONS } from './migrations.js';
import { SqliteAuditStore } from './sqlite-audit-store.js';
import { SqliteLeaseStore } from './sqlite-lease-store.js';
import { SqliteModelStore } from './sqlite-model-store.js';
import { SqliteRunStore } from './sqlite-run-store.js';
import { SqliteSiteStore } from './sqlite-site-store.js';
import { SqliteTokenStore } from './sqlite-token-store.js';
import { SqliteUpdateStore } from './sqlite-update-store.js';

/**
 * Opens (creating and migrating as needed) the store on SQLite (better-sqlite3): WAL so
 * readers never block the writer, synchronous=FULL so a commit is on disk before its changes
 * settle, and group commit (one transaction per tick) so that costs one fsync per tick. Blobs live under `<file>.blobs/`, named by their BLAKE2b-256 hash. Every part
 * shares the one connection, so a transaction may span tables of several parts.
 */
export function openSqliteStore(options: { sodium: Sodium; file: string }): CoordinatorStore {
  const { sodium, file } = options;
  mkdirSync(path.dirname(file), { recursive: true, mode: PRIVATE_DIR_MODE });
  const blobDir = `${file}.blobs`;
  mkdirSync(blobDir, { recursive: true, mode: PRIVATE_DIR_MODE });
  chmodSync(blobDir, PRIVATE_DIR_MODE);
  // SQLite creates its files 0644 less the umask; it gives the WAL and shared-memory files the
  // database file's mode, so an owner-only database keeps all three owner-only.
  ensurePrivateFile(file);
  for (const companion of [`${file}-wal`, `${file}-shm`]) {
    if (existsSync(companion)) chmodSync(companion, PRIVATE_FILE_MODE);
  }
  const db = connect(file);
  const commits = new GroupCommit(db);
  const models = new SqliteModelStore({ db, sodium, blobDir, commits });
  const updates = new SqliteUpdateStore(db, commits);
  return {
    runs: new SqliteRunStore({ db, models, updates, commits }),
    updates,
    models,
    sites: new SqliteSiteStore(db, commits),
    tokens: new SqliteTokenStore(db, commits),
    audit: new SqliteAuditStore(db, commits),
    leases: new SqliteLeaseStore(db, commits),
    fence: (lease) => commits.fence(lease),
    close: async () => {
      // What was asked for before close still commits.
      commits.flush();
      db.close();
    },
  };
}

/** The connection with its durability settings, its schema migrated to this coordinator's. */
function connect(file: string): Database.Database {
  let db: Database.Database | undefined;
  try {
    db = new Database(file);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
    // The CLI (tokens) may write while the coordinator runs: wait for its lock, briefly.
    db.pragma('busy_timeout = 5000');
    migrate(db);
    return db;
  } catch (error) {
    db?.close();
    throw new FedistillError({
      code: 'store.unavailable',
      message: `cannot open the coordinator store ${file}: ${(error as Error).message}`,
    });
  }
}

/** Runs the migrations this database has not had yet, each in its own transaction. */
function migrate(db: Database.Database): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > MIGRATIONS.length) {
    throw new Error(
      `it is at schema version ${version}, newer than this coordinator's ${MIGRATIONS.length}`,
    );
  }
  for (let v = version; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]!);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}
