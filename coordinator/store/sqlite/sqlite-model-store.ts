import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type Database from 'better-sqlite3';
import { contentHash, toHex, type Sodium } from '../../../protocol/index.js';
import type { ModelStore, StoredModel } from '../model-store.js';
import { checkBlobName, checkedBlob, toStoredModel, type ModelRow } from '../stored-rows.js';
import type { GroupCommit } from './group-commit.js';
import { writeDurably } from './durable-file.js';

/** Model versions in the `models` table; blobs as files `<hash>.bin` in the blob folder. */
export class SqliteModelStore implements ModelStore {
  private readonly db: Database.Database;
  private readonly sodium: Sodium;
  private readonly blobDir: string;
  private readonly commits: GroupCommit;

  constructor(parts: {
    db: Database.Database;
    sodium: Sodium;
    blobDir: string;
    commits: GroupCommit;
  }) {
    this.db = parts.db;
    this.commits = parts.commits;
    this.sodium = parts.sodium;
    this.blobDir = parts.blobDir;
  }

  /** Only inside the run store's transactions, which own when a version appears. */
  insert(row: { runId: string; model: StoredModel; at: string }): void {
    const { runId, model, at } = row;
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

  get({ runId, version }: { runId: string; version: number }): Promise<StoredModel> {
    return this.commits.read(() => {
      const row = this.db
        .prepare(
          'SELECT model_hash, optimizer_hash, mask_hash FROM models WHERE run_id = ? AND version = ?',
        )
        .get(runId, version) as ModelRow | undefined;
      return toStoredModel(row, { runId, version });
    });
  }

  async writeBlob(bytes: Uint8Array): Promise<string> {
    const hash = toHex(contentHash(this.sodium, bytes));
    await writeDurably(path.join(this.blobDir, `${hash}.bin`), bytes);
    return hash;
  }

  async readBlob(hash: string): Promise<Uint8Array> {
    checkBlobName(hash);
    return checkedBlob(this.sodium, hash, await readFile(path.join(this.blobDir, `${hash}.bin`)));
  }
}
